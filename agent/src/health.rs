//! Health checks: small plug-ins, each looking at one thing and raising issues into one list
//! that the dashboard, `panier status` and the API show with a suggested fix.
//!
//! Add a check by writing a function `fn(&Inputs) -> Option<Issue>` and listing it in
//! [`CHECKS`]. Messages are catalog keys (`health.<key>.what` and `health.<key>.fix`) so they
//! appear in the admin's language.

use crate::system::Readings;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Issue {
    /// Stable key, such as `disk_low`.
    pub key: &'static str,
    pub severity: Severity,
    /// Values for the message's placeholders.
    pub args: Vec<(String, String)>,
}

/// What the checks look at.
pub struct Inputs<'a> {
    pub readings: &'a Readings,
    /// The backup alerts (`backup::alerts_from`).
    pub backup_alerts: &'a [crate::backup::Alert],
}

type Check = fn(&Inputs<'_>) -> Option<Issue>;

const CHECKS: &[Check] = &[disk_space, memory, backups];

pub fn run(inputs: &Inputs<'_>) -> Vec<Issue> {
    CHECKS.iter().filter_map(|check| check(inputs)).collect()
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

/// The data disk: below 10 % free is a warning, below 5 % critical (installs are refused
/// there by the services' disk guard).
fn disk_space(i: &Inputs<'_>) -> Option<Issue> {
    let (total, free) = (i.readings.disk_total_bytes?, i.readings.disk_free_bytes?);
    let p = percent(free, total);
    let severity = match p {
        0..5 => Severity::Critical,
        5..10 => Severity::Warning,
        _ => return None,
    };
    Some(Issue {
        key: "disk_low",
        severity,
        args: vec![("percent".into(), p.to_string())],
    })
}

/// Memory: below 5 % available means services are being squeezed.
fn memory(i: &Inputs<'_>) -> Option<Issue> {
    let (total, avail) = (
        i.readings.memory_total_bytes?,
        i.readings.memory_available_bytes?,
    );
    let p = percent(avail, total);
    (p < 5).then(|| Issue {
        key: "memory_low",
        severity: Severity::Warning,
        args: vec![("percent".into(), p.to_string())],
    })
}

/// Backups: the most serious backup alert (stale, failed or missing target are critical; an
/// unconfirmed emergency kit is a warning). The Backups page lists them all.
fn backups(i: &Inputs<'_>) -> Option<Issue> {
    let a = i
        .backup_alerts
        .iter()
        .find(|a| a.key != "backup_kit_unconfirmed")
        .or_else(|| i.backup_alerts.first())?;
    let severity = if a.key == "backup_kit_unconfirmed" {
        Severity::Warning
    } else {
        Severity::Critical
    };
    let mut args = vec![("target".to_owned(), a.target.clone())];
    if let Some(h) = a.hours {
        args.push(("hours".into(), h.to_string()));
    }
    Some(Issue {
        key: a.key,
        severity,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(disk_free: u64, mem_avail: u64) -> Readings {
        Readings {
            uptime_secs: None,
            load: None,
            memory_total_bytes: Some(100),
            memory_available_bytes: Some(mem_avail),
            disk_total_bytes: Some(100),
            disk_free_bytes: Some(disk_free),
            temperature_celsius: None,
            addresses: vec![],
        }
    }

    #[test]
    fn thresholds() {
        assert!(
            run(&Inputs {
                backup_alerts: &[],
                readings: &readings(50, 50)
            })
            .is_empty()
        );
        let issues = run(&Inputs {
            backup_alerts: &[],
            readings: &readings(3, 2),
        });
        assert_eq!(
            issues
                .iter()
                .map(|i| (i.key, i.severity))
                .collect::<Vec<_>>(),
            [
                ("disk_low", Severity::Critical),
                ("memory_low", Severity::Warning)
            ]
        );
        assert_eq!(
            run(&Inputs {
                backup_alerts: &[],
                readings: &readings(7, 50)
            })[0]
                .severity,
            Severity::Warning
        );
    }
}
