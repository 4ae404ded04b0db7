//! The processor's temperature (the hottest CPU sensor of `/sys/class/thermal` and hwmon,
//! `system::read`) and how often it slowed itself down to cool (Intel's `thermal_throttle`
//! counters under `/sys/devices/system/cpu`). A mini-PC in a cupboard with a clogged fan
//! throttles first, then shuts down: the warning comes while there is time to clean it.

use super::{Finding, Inputs, State};
use std::path::Path;

pub const WARN_CELSIUS: f64 = 85.0;
pub const CRITICAL_CELSIUS: f64 = 95.0;

pub fn cpu(i: &Inputs<'_>) -> Finding {
    let Some(c) = i.readings.temperature_celsius else {
        return Finding::new("thermal", State::Unknown, "thermal_unknown");
    };
    let state = if c >= CRITICAL_CELSIUS {
        State::Critical
    } else if c >= WARN_CELSIUS {
        State::Warning
    } else {
        State::Ok
    };
    let key = if state == State::Ok {
        "thermal_ok"
    } else {
        "thermal_hot"
    };
    Finding::new("thermal", state, key)
        .arg("temperature", format!("{c:.0}"))
        .arg("throttles", i.throttles.unwrap_or(0))
}

/// The package throttling events since boot, summed over CPUs (`None` without the counters).
pub fn throttle_count(cpu_root: &Path) -> Option<u64> {
    let mut total = None;
    for cpu in std::fs::read_dir(cpu_root).ok()?.flatten() {
        let file = cpu.path().join("thermal_throttle/package_throttle_count");
        if let Some(n) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            total = Some(total.unwrap_or(0) + n);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn temperature_thresholds_and_throttle_counters() {
        let f = |c| {
            let mut r = readings(50, 50);
            r.temperature_celsius = c;
            cpu(&inputs(&r)).state
        };
        assert_eq!(f(None), State::Unknown);
        assert_eq!(f(Some(55.0)), State::Ok);
        assert_eq!(f(Some(88.0)), State::Warning);
        assert_eq!(f(Some(99.0)), State::Critical);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(throttle_count(dir.path()), None);
        for (cpu, n) in [("cpu0", "3\n"), ("cpu1", "4\n")] {
            let d = dir.path().join(cpu).join("thermal_throttle");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("package_throttle_count"), n).unwrap();
        }
        assert_eq!(throttle_count(dir.path()), Some(7));
    }
}
