//! The [`Health`] handle: gathers the checks' inputs, runs them, and runs the background
//! loop (every minute; `PANIER_HEALTH_PERIOD_SECS` for tests): free-space samples for the
//! trend, SMART every 30 minutes (smartctl on a blocking thread), the disk guard, and the
//! mail notifications (`notify::Notifier::tick`).
//!
//! SMART is probed in the background only, so a report is cheap and never waits for a slow
//! disk; until the first probe the SMART check says "unknown".

use super::{ClockState, Finding, Inputs, State, disk, smart, thermal};
use crate::apps::Apps;
use crate::i18n::messages;
use crate::names::Language;
use crate::store::Store;
use crate::update::Updates;
use panier_hw::probe::disks::Disk;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_secs(60);
const SMART_EVERY: Duration = Duration::from_secs(30 * 60);
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// One free-space sample every 10 minutes, a day of them.
const SAMPLE_EVERY_SECS: i64 = 600;
const SAMPLES_KEPT: usize = 144;

/// A text in both languages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Words {
    pub fr: String,
    pub en: String,
}

impl Words {
    fn of(f: impl Fn(&crate::i18n::Messages) -> String) -> Words {
        Words {
            fr: f(messages(Language::Fr)),
            en: f(messages(Language::En)),
        }
    }

    pub fn get(&self, lang: Language) -> &str {
        match lang {
            Language::Fr => &self.fr,
            Language::En => &self.en,
        }
    }
}

/// A finding with its words.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    #[serde(flatten)]
    pub finding: Finding,
    pub title: Words,
    pub what: Words,
    pub fix: Words,
}

/// Every check, for the Health page, `panier health` and the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    pub checked_at: i64,
    /// The worst state among the checks.
    pub worst: State,
    pub checks: Vec<CheckView>,
}

#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    apps: Apps,
    updates: Updates,
    tls: Option<crate::tls::Tls>,
    /// The last SMART probe's disks.
    disks: Mutex<Option<Vec<Disk>>>,
    samples: Mutex<VecDeque<(i64, u64)>>,
    probe_smart: bool,
    notifier: crate::notify::Notifier,
    period: Duration,
}

impl Health {
    /// `probe_smart`: run smartctl in the background (off where the machine's disks are not
    /// the box's, as in development).
    pub fn new(
        store: Store,
        data_dir: PathBuf,
        apps: Apps,
        updates: Updates,
        tls: Option<crate::tls::Tls>,
        notifier: crate::notify::Notifier,
        probe_smart: bool,
    ) -> Health {
        // Tests shorten the loop's period (`PANIER_HEALTH_PERIOD_SECS`).
        let period = std::env::var("PANIER_HEALTH_PERIOD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(PERIOD, Duration::from_secs);
        Health {
            inner: Arc::new(Inner {
                store,
                data_dir,
                apps,
                updates,
                tls,
                disks: Mutex::new(None),
                samples: Mutex::new(VecDeque::new()),
                probe_smart,
                notifier,
                period,
            }),
        }
    }

    /// Every check's finding, now.
    pub fn findings(&self) -> Vec<Finding> {
        let inner = &self.inner;
        let now = crate::store::now();
        let readings = crate::system::read(&inner.data_dir);
        let (targets, alerts) = match (inner.store.backup_targets(), inner.store.backup_runs(200)) {
            (Ok(t), Ok(r)) => {
                let alerts = crate::backup::alerts_from(&t, &r, now);
                (t.len(), alerts)
            }
            (Err(e), _) | (_, Err(e)) => {
                log::warn!("health: {e}");
                (0, vec![])
            }
        };
        let disks = inner
            .disks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let trend = disk::trend(
            &inner
                .samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect::<Vec<_>>(),
        );
        let incidents = inner.apps.incidents();
        let unhealthy = inner.apps.unhealthy();
        let update = inner
            .updates
            .status()
            .map_err(|e| log::warn!("health: {e}"))
            .ok();
        let clock: Option<ClockState> = super::clock::read();
        let inputs = Inputs {
            now,
            readings: &readings,
            disk_trend: trend,
            backup_alerts: &alerts,
            backup_targets: targets,
            disks: disks.as_deref(),
            throttles: thermal::throttle_count(std::path::Path::new("/sys/devices/system/cpu")),
            incidents: &incidents,
            unhealthy: &unhealthy,
            certificate_expires: inner.tls.as_ref().and_then(|t| t.leaf_expires_at()),
            update: update.as_ref(),
            clock,
        };
        super::run(&inputs)
    }

    pub fn report(&self) -> HealthReport {
        let findings = self.findings();
        let worst = findings.iter().map(|f| f.state).max().unwrap_or(State::Ok);
        HealthReport {
            checked_at: crate::store::now(),
            worst,
            checks: findings
                .into_iter()
                .map(|f| CheckView {
                    title: Words::of(|t| f.title(t)),
                    what: Words::of(|t| f.what(t)),
                    fix: Words::of(|t| f.fix(t)),
                    finding: f,
                })
                .collect(),
        }
    }

    /// The background loop (inside a Tokio runtime).
    pub fn start_background(&self) {
        let health = self.clone();
        tokio::spawn(async move {
            let mut last_smart: Option<Instant> = None;
            let mut last_prune: Option<Instant> = None;
            loop {
                if health.inner.probe_smart && last_smart.is_none_or(|t| t.elapsed() >= SMART_EVERY)
                {
                    last_smart = Some(Instant::now());
                    if let Ok(d) = tokio::task::spawn_blocking(smart::probe).await {
                        *health.inner.disks.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
                    }
                }
                health.sample();
                if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) && health.guard().await {
                    last_prune = Some(Instant::now());
                }
                let findings = health.findings();
                health.inner.notifier.tick(&findings).await;
                tokio::time::sleep(health.inner.period).await;
            }
        });
    }

    fn sample(&self) {
        let r = crate::system::read(&self.inner.data_dir);
        let Some(free) = r.disk_free_bytes else {
            return;
        };
        let now = crate::store::now();
        let mut s = self.inner.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.back().is_none_or(|(t, _)| now - t >= SAMPLE_EVERY_SECS) {
            s.push_back((now, free));
            while s.len() > SAMPLES_KEPT {
                s.pop_front();
            }
        }
    }

    /// The disk guard: prunes unused images when the data partition runs low. Returns
    /// whether it pruned.
    pub async fn guard(&self) -> bool {
        let r = crate::system::read(&self.inner.data_dir);
        let (Some(total), Some(free)) = (r.disk_total_bytes, r.disk_free_bytes) else {
            return false;
        };
        if !disk::should_prune(total, free) {
            return false;
        }
        log::warn!(
            "the data partition is {} % free: pruning the images no service uses",
            super::percent(free, total)
        );
        self.inner.apps.prune_images().await;
        true
    }
}
