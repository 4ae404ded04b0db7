//! Safety snapshots: one service saved as it is, while the caller holds it stopped, before
//! what could lose its data (a restore over it, an update, the deletion of its data), and put
//! back when an update fails. Tagged `reason=safety`; kept by the retention like any other.
//!
//! The first target that works receives it (a USB disk left unplugged does not block an
//! update when another target is there). With no target at all there is nothing to do, and
//! callers go on without one: the UI says a target is what makes updates safe.

use super::hooks::{BackupPlan, HookFuture, Mode};
use super::run::Scope;
use super::{BackupError, Backups};
use crate::apps::{SafetyBackups, SafetyPoint};
use std::path::PathBuf;

impl Backups {
    /// Saves `volumes` of `app` (stopped by the caller) to the first target that takes it.
    pub async fn safety_snapshot(
        &self,
        app: &str,
        volumes: Vec<PathBuf>,
    ) -> Result<Option<SafetyPoint>, BackupError> {
        let targets = self.inner.store.backup_targets()?;
        let volumes: Vec<PathBuf> = volumes.into_iter().filter(|v| v.exists()).collect();
        if targets.is_empty() || volumes.is_empty() {
            return Ok(None);
        }
        let _busy = self.inner.busy.lock().await;
        let mut last_error = None;
        for row in targets {
            let plan = BackupPlan {
                app: app.to_owned(),
                volumes: volumes.clone(),
                mode: Mode::Hot {
                    pre: vec![],
                    post: vec![],
                },
            };
            let report = self.run_one(&row, "safety", Scope::Stopped(plan)).await?;
            match (report.ok, report.snapshots.into_iter().next()) {
                (true, Some(snapshot)) => {
                    return Ok(Some(SafetyPoint {
                        target: row.name,
                        snapshot,
                    }));
                }
                (true, None) => return Ok(None),
                (false, _) => {
                    last_error = Some(BackupError::Failed(format!(
                        "target {}: {}",
                        row.name,
                        report.error.unwrap_or_default()
                    )))
                }
            }
        }
        Err(last_error.expect("at least one target was tried"))
    }

    /// Puts `app`'s volumes back as saved in `snapshot` (the caller holds it stopped). Waits
    /// for a running backup to end rather than failing an update's rollback.
    pub async fn restore_stopped(
        &self,
        target: &str,
        snapshot: &str,
        app: &str,
    ) -> Result<(), BackupError> {
        let row = self.row(target)?;
        let _busy = self.inner.busy.lock().await;
        let opened = self
            .open(&Self::location(&row)?, &row.password, false)
            .await?;
        let repo = opened.repo.clone();
        let snaps = self
            .restic(target, move || super::restic::snapshots(&repo))
            .await?;
        let snap = snaps
            .into_iter()
            .find(|s| s.id.starts_with(snapshot) && s.tag("app") == Some(app))
            .ok_or_else(|| BackupError::NoSuchSnapshot(format!("{snapshot} (service {app})")))?;
        let volumes = self.inner.data_dir.join("apps").join(app).join("volumes");
        self.restore_snapshot(
            target,
            &opened.repo,
            &snap,
            &super::confine::Allowed::ChildrenOf(volumes),
        )
        .await?;
        log::info!(app = app; "the data of {app} was put back as in safety snapshot {}", snap.short_id);
        Ok(())
    }
}

impl SafetyBackups for Backups {
    fn enabled(&self) -> bool {
        self.inner
            .store
            .backup_targets()
            .is_ok_and(|t| !t.is_empty())
    }

    fn snapshot<'a>(
        &'a self,
        app: &'a str,
        volumes: Vec<PathBuf>,
    ) -> HookFuture<'a, Option<SafetyPoint>> {
        Box::pin(async move {
            self.safety_snapshot(app, volumes)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn restore<'a>(&'a self, app: &'a str, point: &'a SafetyPoint) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.restore_stopped(&point.target, &point.snapshot, app)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
