//! `panier hw check`: the verdict — fit, fit with notes, unfit — against Panier's needs.
//!
//! Needs: an x86-64 CPU; 2 GB of memory at least, 4 GB recommended; an internal disk of
//! 32 GB at least (we accept 31 GB of real capacity, what "32 GB" eMMC and SSDs offer);
//! healthy disks; a wired network interface. Plus the known-models advice.
//! Invariants: [`check`] is a pure function of the probe and the models database; any
//! `Blocker` finding makes the machine unfit, any `Note` makes it "fit with notes", `Info`
//! never changes the level. Memory is judged on the installed modules when dmidecode listed
//! them, else on the kernel's `MemTotal` with a 10 % allowance (firmware and kernel
//! reservations). Findings carry a stable `code` for programs and a message in the
//! requested language.

use serde::{Deserialize, Serialize};

use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::models::ModelDb;
use crate::probe::{BootMode, DiskKind, Probe};

pub const MIN_RAM: u64 = 2 << 30;
pub const RECOMMENDED_RAM: u64 = 4 << 30;
pub const MIN_DISK: u64 = 31_000_000_000;
const HDD_OLD_HOURS: u64 = 35_000;
const HOT_AT_REST_C: f32 = 80.0;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Note,
    Blocker,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Fit,
    FitWithNotes,
    Unfit,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnownModel {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub level: Level,
    /// The level in words, in the requested language.
    pub label: String,
    pub model: Option<KnownModel>,
    pub findings: Vec<Finding>,
}

impl Level {
    pub fn label(self, lang: Lang) -> String {
        tr(
            lang,
            match self {
                Level::Fit => Msg::VerdictFit,
                Level::FitWithNotes => Msg::VerdictFitWithNotes,
                Level::Unfit => Msg::VerdictUnfit,
            },
            &[],
        )
    }
}

impl Severity {
    pub fn label(self, lang: Lang) -> String {
        tr(
            lang,
            match self {
                Severity::Info => Msg::SeverityInfo,
                Severity::Note => Msg::SeverityNote,
                Severity::Blocker => Msg::SeverityBlocker,
            },
            &[],
        )
    }
}

struct Findings {
    lang: Lang,
    list: Vec<Finding>,
}

impl Findings {
    fn add(
        &mut self,
        severity: Severity,
        code: &str,
        msg: Msg,
        args: &[(&str, &dyn std::fmt::Display)],
    ) {
        self.list.push(Finding {
            severity,
            code: code.to_string(),
            message: tr(self.lang, msg, args),
        });
    }
}

pub fn check(probe: &Probe, db: &ModelDb, lang: Lang) -> Verdict {
    let mut f = Findings {
        lang,
        list: Vec::new(),
    };
    use Severity::*;

    if probe.cpu.threads > 0 && !probe.cpu.x86_64 {
        f.add(Blocker, "cpu_not_x86_64", Msg::NotX86_64, &[]);
    }
    if probe.cpu.threads > 0 && !probe.cpu.aes {
        f.add(Info, "cpu_no_aes", Msg::NoAes, &[]);
    }

    let (ram, allowance) = match probe.memory.installed_bytes() {
        Some(installed) => (installed, 1.0),
        None => (probe.memory.total_bytes, 0.9),
    };
    let below = |limit: u64| (ram as f64) < limit as f64 * allowance;
    let ram_text = human_gib(ram);
    if ram == 0 {
        f.add(Note, "ram_unknown", Msg::RamUnknown, &[]);
    } else if below(MIN_RAM) {
        f.add(
            Blocker,
            "ram_too_low",
            Msg::RamTooLow,
            &[("ram", &ram_text)],
        );
    } else if below(RECOMMENDED_RAM) {
        f.add(
            Note,
            "ram_below_recommended",
            Msg::RamBelowRecommended,
            &[("ram", &ram_text)],
        );
    }

    let internal: Vec<_> = probe.disks.iter().filter(|d| d.is_internal()).collect();
    if internal.is_empty() {
        f.add(Blocker, "no_disk", Msg::NoDisk, &[]);
    } else if let Some(largest) = internal.iter().max_by_key(|d| d.identity.size_bytes)
        && largest.identity.size_bytes < MIN_DISK
    {
        f.add(
            Blocker,
            "disk_too_small",
            Msg::DiskTooSmall,
            &[
                ("disk", &largest.identity.name),
                ("size", &human_bytes(largest.identity.size_bytes)),
            ],
        );
    }
    for disk in &internal {
        let name = &disk.identity.name;
        if disk.kind == DiskKind::Hdd {
            f.add(Note, "disk_is_hdd", Msg::DiskIsHdd, &[("disk", name)]);
        }
        let Some(h) = &disk.health else {
            f.add(
                Note,
                "disk_health_unknown",
                Msg::DiskHealthUnknown,
                &[("disk", name)],
            );
            continue;
        };
        if h.smart_passed == Some(false) {
            f.add(Blocker, "disk_failing", Msg::DiskFailing, &[("disk", name)]);
        }
        if let Some(w) = h.critical_warning.filter(|w| *w != 0) {
            f.add(
                Blocker,
                "disk_critical_warning",
                Msg::DiskCriticalWarning,
                &[("disk", name), ("code", &format!("0x{w:02x}"))],
            );
        }
        match h.wear_used_pct {
            Some(p) if p >= 100 => f.add(
                Blocker,
                "disk_worn_out",
                Msg::DiskWornOut,
                &[("disk", name), ("pct", &p)],
            ),
            Some(p) if p >= 80 => f.add(
                Note,
                "disk_wear_high",
                Msg::DiskWearHigh,
                &[("disk", name), ("pct", &p)],
            ),
            _ => {}
        }
        let (re, pe) = (
            h.reallocated_sectors.unwrap_or(0),
            h.pending_sectors.unwrap_or(0),
        );
        if re >= 100 || pe >= 10 {
            f.add(
                Blocker,
                "disk_many_bad_sectors",
                Msg::DiskManyBadSectors,
                &[("disk", name), ("reallocated", &re), ("pending", &pe)],
            );
        } else if re > 0 || pe > 0 {
            f.add(
                Note,
                "disk_bad_sectors",
                Msg::DiskBadSectors,
                &[("disk", name), ("reallocated", &re), ("pending", &pe)],
            );
        }
        if let Some(m) = h.media_errors.filter(|m| *m > 0) {
            f.add(
                Note,
                "disk_media_errors",
                Msg::DiskMediaErrors,
                &[("disk", name), ("count", &m)],
            );
        }
        if disk.kind == DiskKind::Hdd && h.power_on_hours.is_some_and(|h| h > HDD_OLD_HOURS) {
            f.add(
                Note,
                "disk_old_hdd",
                Msg::DiskOldHdd,
                &[("disk", name), ("hours", &h.power_on_hours.unwrap_or(0))],
            );
        }
    }

    let wired: Vec<_> = probe.nics.iter().filter(|n| n.wired).collect();
    if wired.is_empty() {
        f.add(Blocker, "no_wired_nic", Msg::NoWiredNic, &[]);
    }
    for nic in wired.iter().filter(|n| n.carrier != Some(true)) {
        f.add(Info, "nic_no_link", Msg::WiredNoLink, &[("nic", &nic.name)]);
    }

    if probe.firmware.boot_mode == BootMode::Bios {
        f.add(Info, "legacy_bios", Msg::LegacyBios, &[]);
    }
    if let Some(t) = probe.cpu_temperature_c.filter(|t| *t >= HOT_AT_REST_C) {
        f.add(
            Note,
            "cpu_hot",
            Msg::CpuHot,
            &[("temp", &format!("{t:.0}"))],
        );
    }
    if let Some(p) = probe
        .battery
        .as_ref()
        .and_then(|b| b.health_pct)
        .filter(|p| *p < 50)
    {
        f.add(Note, "battery_worn", Msg::BatteryWorn, &[("pct", &p)]);
    }

    let model = db.find(&probe.machine);
    match model {
        Some(m) => {
            f.add(Info, "model_known", Msg::ModelKnown, &[("model", &m.name)]);
            for q in &m.quirks {
                f.list.push(Finding {
                    severity: q.severity,
                    code: q.code.clone(),
                    message: q.text(lang).to_string(),
                });
            }
        }
        None => f.add(Info, "model_unknown", Msg::ModelUnknown, &[]),
    }
    for note in &probe.notes {
        f.add(Info, "probe_partial", Msg::ProbePartial, &[("note", note)]);
    }

    let level = match f.list.iter().map(|x| x.severity).max() {
        Some(Blocker) => Level::Unfit,
        Some(Note) => Level::FitWithNotes,
        _ => Level::Fit,
    };
    let mut findings = f.list;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Verdict {
        level,
        label: level.label(lang),
        model: model.map(|m| KnownModel {
            id: m.id.clone(),
            name: m.name.clone(),
        }),
        findings,
    }
}

/// Memory sizes in binary gigabytes, as sold ("8 Go").
pub fn human_gib(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 10.0 {
        format!("{gib:.0} GiB")
    } else {
        format!("{gib:.1} GiB")
    }
}
