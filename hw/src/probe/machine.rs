//! Machine identity (DMI), firmware mode (UEFI or legacy BIOS, Secure Boot), CPU and memory.
//!
//! Sources: `/sys/class/dmi/id/*`, `/sys/firmware/efi` and its `SecureBoot` variable,
//! `/proc/cpuinfo`, `/proc/meminfo`, and `dmidecode -t 17` for memory modules.
//! Invariant: every field is optional or has a neutral default; an unreadable source adds a
//! note to the probe instead of failing it. DMI serials need root on most kernels.

use serde::{Deserialize, Serialize};

use crate::host::{CommandError, Host};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// Lenovo puts the marketing name here ("ThinkCentre M720q"), the machine type in `product`.
    pub version: Option<String>,
    pub serial: Option<String>,
    pub board: Option<String>,
    pub chassis_type: Option<u32>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub bios_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    Uefi,
    Bios,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Firmware {
    pub boot_mode: BootMode,
    /// `None` when booted in legacy mode or the variable is unreadable.
    pub secure_boot: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    pub model: Option<String>,
    pub x86_64: bool,
    pub cores: u32,
    pub threads: u32,
    /// `vmx` (Intel VT-x) or `svm` (AMD-V).
    pub virtualization: Option<String>,
    pub aes: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// What the kernel sees (`MemTotal`): a little less than what is installed.
    pub total_bytes: u64,
    pub modules: Vec<MemoryModule>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryModule {
    pub locator: String,
    pub size_bytes: u64,
    pub kind: Option<String>,
    pub speed_mts: Option<u32>,
    pub manufacturer: Option<String>,
    pub part_number: Option<String>,
}

impl Memory {
    /// Installed memory from the modules when dmidecode could list them.
    pub fn installed_bytes(&self) -> Option<u64> {
        let sum: u64 = self.modules.iter().map(|m| m.size_bytes).sum();
        (sum > 0).then_some(sum)
    }
}

const DMI: &str = "/sys/class/dmi/id";
const EFI_GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

pub fn machine(host: &Host, notes: &mut Vec<String>) -> Machine {
    if !host.exists(DMI) {
        notes.push(format!(
            "{DMI} is absent: no DMI data (virtual machine or non-PC firmware)"
        ));
        return Machine::default();
    }
    let dmi = |field: &str| {
        host.attr(&format!("{DMI}/{field}"))
            .filter(|v| !is_placeholder(v))
    };
    let serial = dmi("product_serial");
    // Root only on most kernels; an empty or placeholder serial (QEMU's default) is no news.
    let serial_path = format!("{DMI}/product_serial");
    if serial.is_none() && host.exists(&serial_path) && host.read(&serial_path).is_err() {
        notes.push("the machine's serial number is unreadable (run as root)".into());
    }
    Machine {
        vendor: dmi("sys_vendor"),
        product: dmi("product_name"),
        version: dmi("product_version"),
        serial,
        board: dmi("board_name"),
        chassis_type: dmi("chassis_type").and_then(|v| v.parse().ok()),
        bios_vendor: dmi("bios_vendor"),
        bios_version: dmi("bios_version"),
        bios_date: dmi("bios_date"),
    }
}

/// Vendors fill unused DMI fields with filler text.
fn is_placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    [
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "not specified",
        "none",
        "0",
        "x.x",
    ]
    .contains(&v.as_str())
}

pub fn firmware(host: &Host, notes: &mut Vec<String>) -> Firmware {
    if !host.exists("/sys/firmware/efi") {
        return Firmware {
            boot_mode: BootMode::Bios,
            secure_boot: None,
        };
    }
    let var = format!("/sys/firmware/efi/efivars/SecureBoot-{EFI_GLOBAL}");
    // efivarfs: 4 bytes of attributes, then the value (one byte, 1 = enabled).
    let secure_boot = match host.read_bytes(&var) {
        Ok(bytes) if bytes.len() >= 5 => Some(bytes[4] == 1),
        _ => {
            notes.push("Secure Boot state unreadable (efivarfs not mounted?)".into());
            None
        }
    };
    Firmware {
        boot_mode: BootMode::Uefi,
        secure_boot,
    }
}

pub fn cpu(host: &Host, notes: &mut Vec<String>) -> Cpu {
    let Ok(text) = host.read("/proc/cpuinfo") else {
        notes.push("/proc/cpuinfo unreadable: CPU unknown".into());
        return Cpu::default();
    };
    let mut cpu = Cpu::default();
    let mut cores = std::collections::BTreeSet::new();
    let mut physical = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => cpu.threads += 1,
            "model name" if cpu.model.is_none() => {
                cpu.model = Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            "physical id" => physical = value.to_string(),
            "core id" => {
                cores.insert((physical.clone(), value.to_string()));
            }
            "flags" if cpu.threads == 1 => {
                let flags: Vec<&str> = value.split_whitespace().collect();
                cpu.x86_64 = flags.contains(&"lm");
                cpu.aes = flags.contains(&"aes");
                cpu.virtualization = ["vmx", "svm"]
                    .into_iter()
                    .find(|f| flags.contains(f))
                    .map(String::from);
            }
            _ => {}
        }
    }
    cpu.cores = if cores.is_empty() {
        cpu.threads
    } else {
        cores.len() as u32
    };
    cpu
}

pub fn memory(host: &Host, notes: &mut Vec<String>) -> Memory {
    let total_bytes = host
        .read("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| {
            notes.push("/proc/meminfo unreadable: memory size unknown".into());
            0
        });
    let modules = match host.run("dmidecode", &["-t", "17"]) {
        Ok(out) if out.status == 0 => parse_dmidecode_memory(&out.stdout),
        Ok(out) => {
            notes.push(format!(
                "dmidecode failed (status {}): memory modules unknown; {}",
                out.status,
                out.stderr.trim()
            ));
            Vec::new()
        }
        Err(CommandError::Missing { .. }) => {
            notes.push("dmidecode is not installed: memory modules unknown".into());
            Vec::new()
        }
        Err(e) => {
            notes.push(format!("memory modules unknown: {e}"));
            Vec::new()
        }
    };
    Memory {
        total_bytes,
        modules,
    }
}

/// Parses `dmidecode -t 17` ("Memory Device" records); empty slots are skipped.
pub fn parse_dmidecode_memory(text: &str) -> Vec<MemoryModule> {
    let mut modules = Vec::new();
    for record in text.split("\n\n").filter(|r| r.contains("Memory Device")) {
        let field = |name: &str| {
            record.lines().find_map(|l| {
                let (k, v) = l.trim().split_once(':')?;
                (k == name).then(|| v.trim().to_string())
            })
        };
        let Some(size_bytes) = field("Size").and_then(|s| parse_size(&s)) else {
            continue;
        };
        let known = |v: Option<String>| {
            v.filter(|s| {
                !s.is_empty() && !["Unknown", "Not Specified", "Undefined"].contains(&s.as_str())
            })
        };
        modules.push(MemoryModule {
            locator: field("Locator").unwrap_or_default(),
            size_bytes,
            kind: known(field("Type")),
            speed_mts: field("Configured Memory Speed")
                .or_else(|| field("Speed"))
                .and_then(|s| s.split_whitespace().next()?.parse().ok()),
            manufacturer: known(field("Manufacturer")),
            part_number: known(field("Part Number")),
        });
    }
    modules
}

fn parse_size(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let number: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next()? {
        "kB" | "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    Some(number * unit)
}
