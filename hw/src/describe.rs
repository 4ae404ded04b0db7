//! A probe in words, for people: the lines `panier hw probe` prints and the rows of the
//! refurbishment sheet, in French or English.
//!
//! Invariant: no Rust `Debug` output and no untranslated word reaches a person; what is
//! unknown reads "inconnu" / "unknown", and what is absent is left out.

use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::probe::{Battery, BootMode, Cpu, Disk, DiskHealth, DiskKind, Nic, Probe};
use crate::verdict::human_gib;

fn t(lang: Lang, msg: Msg) -> String {
    tr(lang, msg, &[])
}

fn or_unknown(value: Option<&str>, lang: Lang) -> String {
    value
        .map(String::from)
        .unwrap_or_else(|| t(lang, Msg::WordUnknown))
}

/// "LENOVO 10T7S0BE00 ThinkCentre M720q".
pub fn machine(probe: &Probe, lang: Lang) -> String {
    let m = &probe.machine;
    let words: Vec<&str> = [&m.vendor, &m.product, &m.version]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .collect();
    if words.is_empty() {
        t(lang, Msg::WordUnknown)
    } else {
        words.join(" ")
    }
}

/// "UEFI, Secure Boot off", or "BIOS (legacy)".
pub fn boot(probe: &Probe, lang: Lang) -> String {
    let mode = match probe.firmware.boot_mode {
        BootMode::Uefi => "UEFI".to_string(),
        BootMode::Bios => t(lang, Msg::WordLegacyBios),
    };
    match probe.firmware.secure_boot {
        Some(true) => format!("{mode}, {}", t(lang, Msg::WordSecureBootOn)),
        Some(false) => format!("{mode}, {}", t(lang, Msg::WordSecureBootOff)),
        None => mode,
    }
}

/// "UEFI, Secure Boot off — LENOVO M1UKT4BA 08/20/2019".
pub fn firmware(probe: &Probe, lang: Lang) -> String {
    let m = &probe.machine;
    let bios: Vec<&str> = [&m.bios_vendor, &m.bios_version, &m.bios_date]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .collect();
    if bios.is_empty() {
        boot(probe, lang)
    } else {
        format!("{} — {}", boot(probe, lang), bios.join(" "))
    }
}

/// "Intel(R) Core(TM) i5-8500T (6 cores, 6 threads, VT, AES)".
pub fn cpu(c: &Cpu, lang: Lang) -> String {
    let mut parts = vec![tr(
        lang,
        Msg::CpuCounts,
        &[("cores", &c.cores), ("threads", &c.threads)],
    )];
    if !c.x86_64 {
        parts.push(t(lang, Msg::WordNot64Bit));
    }
    if c.virtualization.is_some() {
        parts.push("VT".into());
    }
    if c.aes {
        parts.push("AES".into());
    }
    format!(
        "{} ({})",
        or_unknown(c.model.as_deref(), lang),
        parts.join(", ")
    )
}

/// "16 GiB (8 GiB DDR4 2667 MT/s + 8 GiB DDR4 2667 MT/s)".
pub fn memory(probe: &Probe) -> String {
    let installed = probe
        .memory
        .installed_bytes()
        .unwrap_or(probe.memory.total_bytes);
    let modules: Vec<String> = probe
        .memory
        .modules
        .iter()
        .map(|m| {
            let mut words = vec![human_gib(m.size_bytes)];
            words.extend(m.kind.clone().filter(|k| !k.is_empty()));
            words.extend(m.speed_mts.map(|s| format!("{s} MT/s")));
            words.join(" ")
        })
        .collect();
    if modules.is_empty() {
        human_gib(installed)
    } else {
        format!("{} ({})", human_gib(installed), modules.join(" + "))
    }
}

pub fn disk_kind(kind: DiskKind, lang: Lang) -> String {
    t(
        lang,
        match kind {
            DiskKind::Hdd => Msg::DiskHdd,
            DiskKind::SataSsd => Msg::DiskSataSsd,
            DiskKind::Nvme => Msg::DiskNvme,
            DiskKind::Usb => Msg::DiskUsb,
            DiskKind::Emmc => Msg::DiskEmmc,
            DiskKind::Other => Msg::DiskOther,
        },
    )
}

/// "NVMe SSD — SAMSUNG MZVLB256HAHQ-000H1 — 256 GB — serial number S41GNX0M412345 — system disk".
pub fn disk(d: &Disk, lang: Lang) -> String {
    let mut parts = vec![
        disk_kind(d.kind, lang),
        or_unknown(d.identity.model.as_deref(), lang),
        human_bytes(d.identity.size_bytes),
        format!(
            "{} {}",
            t(lang, Msg::WordSerial),
            or_unknown(d.identity.serial.as_deref(), lang)
        ),
    ];
    if d.system {
        parts.push(t(lang, Msg::WordSystemDisk));
    }
    parts.join(" — ")
}

/// "SMART OK, 41000 power-on hours, 8 reallocated sectors, 0 pending, 3 % worn".
pub fn health(h: Option<&DiskHealth>, lang: Lang) -> String {
    let Some(h) = h else {
        return t(lang, Msg::SmartUnknown);
    };
    let status = match h.smart_passed {
        Some(true) => "OK".to_string(),
        Some(false) => t(lang, Msg::SmartFailed),
        None => t(lang, Msg::WordUnknown),
    };
    let mut parts = vec![format!("SMART {status}")];
    if let Some(hours) = h.power_on_hours {
        parts.push(tr(lang, Msg::SmartHours, &[("hours", &hours)]));
    }
    if let Some(n) = h.reallocated_sectors {
        parts.push(tr(lang, Msg::SmartReallocated, &[("n", &n)]));
    }
    if let Some(n) = h.pending_sectors {
        parts.push(tr(lang, Msg::SmartPending, &[("n", &n)]));
    }
    if let Some(pct) = h.wear_used_pct {
        parts.push(tr(lang, Msg::SmartWear, &[("pct", &pct)]));
    }
    parts.join(", ")
}

/// "wired, e1000e, 8c:16:45:12:34:56, cable connected, 1000 Mb/s" ("connected" for Wi-Fi).
pub fn nic(n: &Nic, lang: Lang) -> String {
    let mut parts = vec![t(
        lang,
        if n.wired {
            Msg::WordWired
        } else {
            Msg::WordWireless
        },
    )];
    parts.extend(n.driver.clone());
    parts.extend(n.mac.clone());
    let link = match (n.wired, n.carrier) {
        (true, Some(true)) => Some(Msg::WordCableConnected),
        (true, Some(false)) => Some(Msg::WordCableUnplugged),
        (false, Some(true)) => Some(Msg::WordConnected),
        (false, Some(false)) => Some(Msg::WordNotConnected),
        (_, None) => None,
    };
    parts.extend(link.map(|m| t(lang, m)));
    parts.extend(n.speed_mbps.map(|s| format!("{s} Mb/s")));
    parts.join(", ")
}

/// "80 % charged, health 64 %".
pub fn battery(b: &Battery, lang: Lang) -> String {
    let unknown = t(lang, Msg::WordUnknown);
    let pct = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_else(|| unknown.clone());
    tr(
        lang,
        Msg::BatteryLine,
        &[
            ("charge", &pct(b.capacity_pct)),
            ("health", &pct(b.health_pct)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockdev::{DiskIdentity, Transport};

    fn nvme(health: Option<DiskHealth>) -> Disk {
        Disk {
            identity: DiskIdentity {
                name: "nvme0n1".into(),
                path: "/dev/nvme0n1".into(),
                model: Some("SAMSUNG MZVLB256HAHQ".into()),
                serial: None,
                size_bytes: 256_060_514_304,
                transport: Transport::Nvme,
                rotational: false,
                removable: false,
            },
            kind: DiskKind::Nvme,
            system: true,
            health,
        }
    }

    #[test]
    fn a_disk_reads_as_words_in_both_languages() {
        let h = DiskHealth {
            smart_passed: Some(false),
            power_on_hours: Some(41000),
            reallocated_sectors: Some(8),
            wear_used_pct: Some(100),
            ..Default::default()
        };
        assert_eq!(
            disk(&nvme(None), Lang::Fr),
            "SSD NVMe — SAMSUNG MZVLB256HAHQ — 256.1 GB — n° de série inconnu — disque système"
        );
        assert_eq!(
            disk(&nvme(None), Lang::En),
            "NVMe SSD — SAMSUNG MZVLB256HAHQ — 256.1 GB — serial number unknown — system disk"
        );
        assert_eq!(
            health(Some(&h), Lang::Fr),
            "SMART EN ÉCHEC, 41000 h de fonctionnement, 8 secteurs réalloués, usure 100 %"
        );
        assert_eq!(
            health(Some(&h), Lang::En),
            "SMART FAILED, 41000 power-on hours, 8 reallocated sectors, 100% worn"
        );
        assert_eq!(health(None, Lang::En), "SMART unknown");
    }
}
