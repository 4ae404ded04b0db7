//! The health centre: small checks, each looking at one thing and saying its state (ok,
//! unknown, warning, critical), what it means and what to do, in the admin's language. The
//! Health page, `panier health`, `GET /api/v1/health/checks`, the dashboard and
//! `panier status` show them; mail notifications (`notify`) send the critical ones.
//!
//! Add a check by writing a function `fn(&Inputs) -> Finding` in its own file and listing it
//! in [`CHECKS`]. A check is a pure function of [`Inputs`], so it is tested against fixtures;
//! gathering the inputs (the machine, SMART, the engine's incidents, the certificate, the
//! update state, the clock) is the [`Health`] handle's job (`handle`). Messages are catalog
//! keys (`health.<key>.what` and `health.<key>.fix`), and each check has a title
//! (`health.check.<check>`).
//!
//! The disk guard lives here too (`disk::guard`): when the data partition runs low, unused
//! images are pruned; installs and updates of services are refused by `apps`' own guard.

mod backups;
mod certs;
mod clock;
pub mod disk;
mod handle;
mod memory;
mod services;
pub mod smart;
mod thermal;
mod update;

pub use clock::ClockState;
pub use handle::{Health, HealthReport};

use crate::apps::AppIncidents;
use crate::catalog::AppId;
use crate::i18n::Messages;
use crate::system::Readings;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// A check's state, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    /// The check could not look (no sensor, no SMART data, not a Panier system).
    Unknown,
    Warning,
    Critical,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Unknown => "unknown",
            State::Warning => "warning",
            State::Critical => "critical",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// The check's name, such as `disk_space`.
    pub check: &'static str,
    pub state: State,
    /// The message's key, such as `disk_low`.
    pub key: &'static str,
    /// Values for the message's placeholders.
    pub args: Vec<(String, String)>,
}

impl Finding {
    pub fn new(check: &'static str, state: State, key: &'static str) -> Finding {
        Finding {
            check,
            state,
            key,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &str, value: impl ToString) -> Finding {
        self.args.push((name.to_owned(), value.to_string()));
        self
    }

    /// A warning or a critical finding, as an issue (the dashboard's list).
    pub fn issue(&self) -> Option<Issue> {
        let severity = match self.state {
            State::Warning => Severity::Warning,
            State::Critical => Severity::Critical,
            State::Ok | State::Unknown => return None,
        };
        Some(Issue {
            key: self.key,
            severity,
            args: self.args.clone(),
        })
    }

    fn args_ref(&self) -> Vec<(&str, &str)> {
        self.args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The check's title in `t`'s language.
    pub fn title(&self, t: &Messages) -> String {
        t.get(&format!("health.check.{}", self.check)).to_owned()
    }

    /// What it means, in `t`'s language.
    pub fn what(&self, t: &Messages) -> String {
        t.fmt(&format!("health.{}.what", self.key), &self.args_ref())
    }

    /// What to do, in `t`'s language.
    pub fn fix(&self, t: &Messages) -> String {
        t.fmt(&format!("health.{}.fix", self.key), &self.args_ref())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Issue {
    /// Stable key, such as `disk_low`.
    pub key: &'static str,
    pub severity: Severity,
    /// Values for the message's placeholders.
    pub args: Vec<(String, String)>,
}

/// What the checks look at. `None` means the reading is not available (yet).
pub struct Inputs<'a> {
    pub now: i64,
    pub readings: &'a Readings,
    /// Free space change of the data partition, in bytes per day (negative: it fills).
    pub disk_trend: Option<f64>,
    /// The backup alerts (`backup::alerts_from`), and whether any target exists.
    pub backup_alerts: &'a [crate::backup::Alert],
    pub backup_targets: usize,
    /// The internal disks with their SMART data, once probed.
    pub disks: Option<&'a [panier_hw::probe::disks::Disk]>,
    /// CPU throttling events since boot (Intel's `thermal_throttle` counters).
    pub throttles: Option<u64>,
    /// Services' kills for memory and crash restarts.
    pub incidents: &'a BTreeMap<AppId, AppIncidents>,
    /// Services whose containers fail their health check.
    pub unhealthy: &'a [AppId],
    /// When the box's TLS certificate expires (Unix seconds).
    pub certificate_expires: Option<i64>,
    pub update: Option<&'a crate::update::UpdateStatus>,
    pub clock: Option<ClockState>,
}

type Check = fn(&Inputs<'_>) -> Finding;

const CHECKS: &[Check] = &[
    disk::space,
    smart::disks,
    thermal::cpu,
    memory::memory,
    services::restarts,
    backups::backups,
    certs::certificate,
    update::update,
    clock::clock,
];

/// Every check's finding, in the order of [`CHECKS`].
pub fn run(inputs: &Inputs<'_>) -> Vec<Finding> {
    CHECKS.iter().map(|check| check(inputs)).collect()
}

pub(crate) fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn readings(disk_free: u64, mem_avail: u64) -> Readings {
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

    pub static EMPTY: BTreeMap<AppId, AppIncidents> = BTreeMap::new();

    pub fn inputs(readings: &Readings) -> Inputs<'_> {
        Inputs {
            now: 1_800_000_000,
            readings,
            disk_trend: None,
            backup_alerts: &[],
            backup_targets: 1,
            disks: None,
            throttles: None,
            incidents: &EMPTY,
            unhealthy: &[],
            certificate_expires: None,
            update: None,
            clock: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn every_check_has_words_in_both_languages() {
        let r = readings(50, 50);
        for f in run(&inputs(&r)) {
            for lang in [crate::names::Language::Fr, crate::names::Language::En] {
                let t = crate::i18n::messages(lang);
                assert_ne!(f.title(t), format!("health.check.{}", f.check));
                assert_ne!(f.what(t), format!("health.{}.what", f.key));
                assert_ne!(f.fix(t), format!("health.{}.fix", f.key));
            }
        }
    }

    #[test]
    fn issues_are_the_warnings_and_critical_findings() {
        let r = readings(3, 2);
        let issues: Vec<_> = run(&inputs(&r))
            .iter()
            .filter_map(Finding::issue)
            .map(|i| (i.key, i.severity))
            .collect();
        assert_eq!(
            issues,
            [
                ("disk_low", Severity::Critical),
                ("memory_low", Severity::Warning)
            ]
        );
    }
}
