//! What went wrong with services while they ran: containers killed for memory (the engine's
//! `oom` event, or `State.OOMKilled` when the reconciler finds one stopped) and containers the
//! reconciler had to start again after they stopped by themselves (a crash).
//!
//! The health centre reads these ([`Apps::incidents`]) for its memory and restart-loop
//! checks, and a service's page shows its own. They are kept in memory for a day: an agent
//! restart forgets them, which only delays a warning until the next kill or crash.

use super::Apps;
use crate::catalog::AppId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// How long incidents are remembered.
pub const KEEP_SECS: i64 = 24 * 3600;
/// An `oom` event and the dead container's `OOMKilled` within this many seconds are one kill.
const SAME_KILL_SECS: i64 = 60;

/// One container killed for memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OomKill {
    pub container: String,
    /// Unix seconds.
    pub at: i64,
}

/// A service's incidents of the last day, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppIncidents {
    pub oom_kills: Vec<OomKill>,
    /// When the reconciler started a container again after it had stopped by itself.
    pub restarts: Vec<i64>,
}

impl AppIncidents {
    /// Restarts since `since` (Unix seconds).
    pub fn restarts_since(&self, since: i64) -> usize {
        self.restarts.iter().filter(|t| **t >= since).count()
    }
}

/// The record, per service.
#[derive(Default)]
pub(super) struct Incidents {
    oom: BTreeMap<AppId, VecDeque<OomKill>>,
    restarts: BTreeMap<AppId, VecDeque<i64>>,
}

impl Incidents {
    fn forget_old(&mut self, now: i64) {
        for q in self.oom.values_mut() {
            while q.front().is_some_and(|k| k.at < now - KEEP_SECS) {
                q.pop_front();
            }
        }
        for q in self.restarts.values_mut() {
            while q.front().is_some_and(|t| *t < now - KEEP_SECS) {
                q.pop_front();
            }
        }
        self.oom.retain(|_, q| !q.is_empty());
        self.restarts.retain(|_, q| !q.is_empty());
    }

    pub(super) fn oom(&mut self, app: &AppId, container: &str, now: i64) {
        self.forget_old(now);
        let q = self.oom.entry(app.clone()).or_default();
        let same = q
            .iter()
            .any(|k| k.container == container && (now - k.at).abs() < SAME_KILL_SECS);
        if !same {
            q.push_back(OomKill {
                container: container.to_owned(),
                at: now,
            });
        }
    }

    pub(super) fn restart(&mut self, app: &AppId, now: i64) {
        self.forget_old(now);
        self.restarts.entry(app.clone()).or_default().push_back(now);
    }

    pub(super) fn of(&self, app: &AppId) -> AppIncidents {
        AppIncidents {
            oom_kills: self
                .oom
                .get(app)
                .map(|q| q.iter().cloned().collect())
                .unwrap_or_default(),
            restarts: self
                .restarts
                .get(app)
                .map(|q| q.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    pub(super) fn forget(&mut self, app: &AppId) {
        self.oom.remove(app);
        self.restarts.remove(app);
    }
}

impl Apps {
    /// Every installed service's incidents of the last day (services without any left out).
    pub fn incidents(&self) -> BTreeMap<AppId, AppIncidents> {
        let record = self.incident_record();
        self.installed_ids()
            .into_iter()
            .map(|id| {
                let i = record.of(&id);
                (id, i)
            })
            .filter(|(_, i)| *i != AppIncidents::default())
            .collect()
    }

    /// Services with a container failing its health check at the last look.
    pub fn unhealthy(&self) -> Vec<AppId> {
        self.inner
            .observed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, m)| {
                m.values()
                    .any(|c| c.health == crate::engine::HealthState::Unhealthy)
            })
            .map(|(app, _)| app.clone())
            .collect()
    }

    /// One service's incidents of the last day.
    pub fn incidents_of(&self, app: &AppId) -> AppIncidents {
        self.incident_record().of(app)
    }

    pub(super) fn incident_record(&self) -> std::sync::MutexGuard<'_, Incidents> {
        self.inner
            .incidents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kill_seen_twice_counts_once_and_old_ones_go() {
        let app = AppId::parse("pad").unwrap();
        let mut i = Incidents::default();
        i.oom(&app, "panier-pad-web", 1000);
        i.oom(&app, "panier-pad-web", 1010);
        i.oom(&app, "panier-pad-db", 1010);
        i.oom(&app, "panier-pad-web", 2000);
        assert_eq!(i.of(&app).oom_kills.len(), 3);
        i.restart(&app, 2000);
        i.restart(&app, 2100);
        assert_eq!(i.of(&app).restarts_since(2050), 1);
        i.restart(&app, 2000 + KEEP_SECS + 1);
        assert_eq!(i.of(&app).oom_kills, vec![]);
        assert_eq!(i.of(&app).restarts.len(), 2);
        i.forget(&app);
        assert_eq!(i.of(&app), AppIncidents::default());
    }
}
