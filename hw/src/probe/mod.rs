//! `panier hw probe`: everything Panier wants to know about a machine, in one serializable
//! [`Probe`].
//!
//! Owns the assembly of the sub-probes (machine and firmware, CPU and memory, disks, NICs,
//! sensors). Invariant: [`probe`] never fails; any source that is missing, unreadable or
//! whose tool is absent leaves its fields empty and adds a plain-English note to
//! [`Probe::notes`] (shown as-is to technicians). All reads go through a [`Host`], so tests
//! run the same code on fixture trees.
//! Limits: one snapshot, no history; smartctl runs once per disk (the slow part, ~50 ms each).

pub mod disks;
pub mod machine;
pub mod sensors;

use serde::{Deserialize, Serialize};

pub use disks::{Disk, DiskHealth, DiskKind};
pub use machine::{BootMode, Cpu, Firmware, Machine, Memory, MemoryModule};
pub use sensors::{Battery, Nic};

use crate::host::Host;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    pub machine: Machine,
    pub firmware: Firmware,
    pub cpu: Cpu,
    pub memory: Memory,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    pub cpu_temperature_c: Option<f32>,
    pub battery: Option<Battery>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

pub fn probe(host: &Host) -> Probe {
    let mut notes = Vec::new();
    let machine = machine::machine(host, &mut notes);
    let firmware = machine::firmware(host, &mut notes);
    let cpu = machine::cpu(host, &mut notes);
    let memory = machine::memory(host, &mut notes);
    let disks = disks::disks(host, &mut notes);
    let nics = sensors::nics(host);
    let cpu_temperature_c = sensors::cpu_temperature(host);
    if cpu_temperature_c.is_none() {
        notes.push("no CPU temperature sensor found".into());
    }
    Probe {
        machine,
        firmware,
        cpu,
        memory,
        disks,
        nics,
        cpu_temperature_c,
        battery: sensors::battery(host),
        notes,
    }
}
