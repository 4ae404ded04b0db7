//! The internal disks' own health, from SMART (`smartctl --json --all`, parsed by
//! `panier_hw::probe::disks`): the overall assessment, NVMe critical warnings, reallocated or
//! pending sectors and media errors, wear and temperature. The worst disk is reported.
//!
//! Thresholds: a failed assessment, an NVMe critical warning, pending sectors, 50 or more
//! reallocated sectors, or worn out (100 %) are critical: back up and replace the disk. A few
//! reallocated sectors, media errors, 90 % wear or 60 °C and more are warnings.

use super::{Finding, Inputs, State};
use panier_hw::probe::disks::Disk;

pub fn disks(i: &Inputs<'_>) -> Finding {
    let Some(disks) = i.disks else {
        return Finding::new("smart", State::Unknown, "smart_unknown");
    };
    let judged: Vec<Finding> = disks
        .iter()
        .filter(|d| d.is_internal())
        .filter_map(judge)
        .collect();
    if judged.is_empty() {
        return Finding::new("smart", State::Unknown, "smart_unknown");
    }
    let worst = judged
        .iter()
        .max_by_key(|f| f.state)
        .expect("not empty")
        .clone();
    if worst.state == State::Ok {
        let names: Vec<String> = disks
            .iter()
            .filter(|d| d.is_internal() && d.health.is_some())
            .map(|d| d.identity.name.clone())
            .collect();
        return Finding::new("smart", State::Ok, "smart_ok").arg("disks", names.join(", "));
    }
    worst
}

/// One disk's finding, `None` without SMART data.
pub fn judge(d: &Disk) -> Option<Finding> {
    let h = d.health.as_ref()?;
    let name = d.identity.name.as_str();
    let model = d.identity.model.clone().unwrap_or_default();
    let f = |state, key| {
        Finding::new("smart", state, key)
            .arg("disk", name)
            .arg("model", &model)
    };
    let realloc = h.reallocated_sectors.unwrap_or(0);
    let pending = h.pending_sectors.unwrap_or(0);
    let wear = h.wear_used_pct.unwrap_or(0);
    if h.smart_passed == Some(false) || h.critical_warning.is_some_and(|w| w != 0) {
        return Some(f(State::Critical, "smart_failing"));
    }
    if pending > 0 || realloc >= 50 {
        return Some(
            f(State::Critical, "smart_sectors")
                .arg("reallocated", realloc)
                .arg("pending", pending),
        );
    }
    if wear >= 100 {
        return Some(f(State::Critical, "smart_worn").arg("wear", wear));
    }
    if realloc > 0 || h.media_errors.is_some_and(|e| e > 0) {
        return Some(
            f(State::Warning, "smart_sectors")
                .arg("reallocated", realloc)
                .arg("pending", pending),
        );
    }
    if wear >= 90 {
        return Some(f(State::Warning, "smart_worn").arg("wear", wear));
    }
    if let Some(t) = h.temperature_c.filter(|t| *t >= 60) {
        return Some(f(State::Warning, "smart_hot").arg("temperature", t));
    }
    Some(f(State::Ok, "smart_ok"))
}

/// The internal disks of this machine, probed (runs smartctl: call it off the async threads).
pub fn probe() -> Vec<Disk> {
    let host = panier_hw::host::Host::system();
    let mut notes = Vec::new();
    let disks = panier_hw::probe::disks::disks(&host, &mut notes);
    for n in notes {
        log::debug!("SMART: {n}");
    }
    disks.into_iter().filter(Disk::is_internal).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    /// A hardware capture's disks, as the probe reads them (`hw/testdata/machines/`).
    fn captured(machine: &str) -> Vec<Disk> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../hw/testdata/machines")
            .join(machine);
        let host = panier_hw::host::Host::fixture(&dir).unwrap();
        panier_hw::probe::disks::disks(&host, &mut Vec::new())
    }

    fn finding(machine: &str) -> Finding {
        let d = captured(machine);
        let r = readings(50, 50);
        let mut i = inputs(&r);
        i.disks = Some(&d);
        disks(&i)
    }

    #[test]
    fn captured_machines() {
        let f = finding("hp-elitedesk-800-g4-nvme-failing");
        assert_eq!(
            (f.state, f.key),
            (State::Critical, "smart_failing"),
            "{f:?}"
        );
        assert!(f.args.contains(&("disk".into(), "nvme0n1".into())));
        let f = finding("dell-optiplex-3040-hdd");
        assert_eq!((f.state, f.key), (State::Warning, "smart_sectors"), "{f:?}");
        assert!(f.args.contains(&("reallocated".into(), "8".into())));
        let f = finding("intel-nuc7i3bnh-nvme-2gb");
        assert_eq!((f.state, f.key), (State::Ok, "smart_ok"), "{f:?}");
        let f = finding("lenovo-m720q-sata-ssd");
        assert_eq!(f.state, State::Ok, "{f:?}");
        // eMMC without SMART data: nothing to judge.
        let f = finding("acer-aspire-emmc-wifi-only");
        assert_eq!(f.state, State::Unknown, "{f:?}");
    }

    #[test]
    fn wear_and_temperature() {
        let mut d = captured("intel-nuc7i3bnh-nvme-2gb").remove(0);
        let h = d.health.as_mut().unwrap();
        h.wear_used_pct = Some(93);
        assert_eq!(judge(&d).unwrap().key, "smart_worn");
        let h = d.health.as_mut().unwrap();
        h.wear_used_pct = Some(10);
        h.temperature_c = Some(71);
        let f = judge(&d).unwrap();
        assert_eq!((f.state, f.key), (State::Warning, "smart_hot"));
    }
}
