//! Disks: identity from sysfs (shared with the wipe's safety gate) and health from
//! `smartctl --json --all`.
//!
//! Invariants: a disk is listed even when smartctl is missing or fails (health `None` and a
//! note). smartctl's exit status is a bit mask: bits 0-1 mean no usable data, bit 3 means
//! the disk reports itself failing; JSON is parsed whatever the status.
//! Limits: only the attributes Panier's verdict uses are extracted (health, hours,
//! reallocated and pending sectors, wear, media errors, temperature). Wear comes from the
//! NVMe "percentage used" or, for SATA SSDs, from the usual vendor attributes
//! (177, 202, 231, 233), normalised as "percent of life used".

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blockdev::{self, DiskIdentity, Transport};
use crate::host::{CommandError, Host};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DiskKind {
    Hdd,
    SataSsd,
    Nvme,
    Usb,
    Emmc,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Disk {
    #[serde(flatten)]
    pub identity: DiskIdentity,
    pub kind: DiskKind,
    /// Holds the running system (`/`, `/boot`…).
    pub system: bool,
    pub health: Option<DiskHealth>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DiskHealth {
    /// smartctl's overall assessment; `None` when the disk gave none.
    pub smart_passed: Option<bool>,
    pub power_on_hours: Option<u64>,
    pub reallocated_sectors: Option<u64>,
    pub pending_sectors: Option<u64>,
    /// Percent of rated life used (0 = new, 100 = end of rated life).
    pub wear_used_pct: Option<u8>,
    pub media_errors: Option<u64>,
    /// NVMe critical warning bit field (0 = none).
    pub critical_warning: Option<u8>,
    pub temperature_c: Option<i64>,
    pub self_test_supported: bool,
}

impl Disk {
    pub fn is_internal(&self) -> bool {
        !self.identity.removable && !matches!(self.kind, DiskKind::Usb)
    }
}

pub fn disks(host: &Host, notes: &mut Vec<String>) -> Vec<Disk> {
    let system: Vec<String> = blockdev::system_disks(host)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    let mut smart_missing = false;
    blockdev::list_disks(host, false)
        .into_iter()
        // Optical and floppy drives (`fd0`: the floppy controller of many BIOS machines, and of
        // QEMU's pc), compressed RAM, eMMC boot and RPMB areas are not disks one can install on.
        .filter(|name| {
            !["zram", "sr", "fd"].iter().any(|p| name.starts_with(p))
                && !name.contains("boot")
                && !name.contains("rpmb")
        })
        .map(|name| {
            let identity = blockdev::identity(host, &name);
            let kind = kind(&identity);
            let health = match host.run("smartctl", &["--json=c", "--all", &identity.path]) {
                Ok(out) => match parse_smartctl(&out.stdout, out.status) {
                    Ok(health) => Some(health),
                    Err(why) => {
                        notes.push(format!("{name}: no SMART data ({why})"));
                        None
                    }
                },
                Err(CommandError::Missing { .. }) => {
                    if !smart_missing {
                        notes.push("smartctl is not installed: disk health unknown".into());
                        smart_missing = true;
                    }
                    None
                }
                Err(e) => {
                    notes.push(format!("{name}: no SMART data ({e})"));
                    None
                }
            };
            Disk {
                system: system.contains(&name),
                identity,
                kind,
                health,
            }
        })
        .collect()
}

fn kind(identity: &DiskIdentity) -> DiskKind {
    match identity.transport {
        Transport::Usb => DiskKind::Usb,
        Transport::Nvme => DiskKind::Nvme,
        Transport::Mmc => DiskKind::Emmc,
        Transport::Ata | Transport::Scsi if identity.rotational => DiskKind::Hdd,
        Transport::Ata => DiskKind::SataSsd,
        _ => DiskKind::Other,
    }
}

/// Extracts health from `smartctl --json` output. `status` is smartctl's exit status.
pub fn parse_smartctl(stdout: &str, status: i32) -> Result<DiskHealth, String> {
    let json: Value =
        serde_json::from_str(stdout).map_err(|e| format!("unreadable smartctl output: {e}"))?;
    if status & 0b11 != 0 {
        let message = json["smartctl"]["messages"][0]["string"]
            .as_str()
            .unwrap_or("device open failed");
        return Err(message.to_string());
    }
    let mut health = DiskHealth {
        smart_passed: json["smart_status"]["passed"].as_bool(),
        power_on_hours: json["power_on_time"]["hours"].as_u64(),
        temperature_c: json["temperature"]["current"].as_i64(),
        ..DiskHealth::default()
    };
    if status & 0b1000 != 0 {
        health.smart_passed = Some(false);
    }
    let nvme = &json["nvme_smart_health_information_log"];
    if nvme.is_object() {
        health.wear_used_pct = nvme["percentage_used"].as_u64().map(|p| p.min(255) as u8);
        health.media_errors = nvme["media_errors"].as_u64();
        health.critical_warning = nvme["critical_warning"].as_u64().map(|w| w as u8);
        health.power_on_hours = health.power_on_hours.or(nvme["power_on_hours"].as_u64());
        health.self_test_supported = json["nvme_self_test_log"].is_object()
            || json["nvme_optional_admin_commands"]["self_test"].as_bool() == Some(true);
    }
    if let Some(table) = json["ata_smart_attributes"]["table"].as_array() {
        let attr = |id: u64| table.iter().find(|a| a["id"].as_u64() == Some(id));
        let raw = |id: u64| attr(id).and_then(|a| a["raw"]["value"].as_u64());
        health.reallocated_sectors = raw(5);
        health.pending_sectors = raw(197);
        // SSD life attributes report the *remaining* life as the normalised value (100 → 0).
        health.wear_used_pct = [177, 202, 231, 233]
            .into_iter()
            .filter_map(attr)
            .find_map(|a| a["value"].as_u64())
            .map(|remaining| 100u64.saturating_sub(remaining.min(100)) as u8);
        health.self_test_supported = json["ata_smart_data"]["capabilities"]["self_tests_supported"]
            .as_bool()
            .unwrap_or(false);
    }
    Ok(health)
}
