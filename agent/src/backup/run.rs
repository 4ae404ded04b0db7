//! One backup run on one target, the schedule, safety backups and the weekly data check.
//!
//! A run: open the target (mount a USB disk) → remove stale locks (`restic unlock` only
//! removes locks whose process is gone or that are old: a run killed with -9 leaves one) →
//! the box state snapshot → one snapshot per service, cold services stopped and always
//! restarted, hot ones with their pre/post commands → `forget --prune` with the retention
//! policy (`retention`: nightly snapshots by the calendar, the admin's own by their rule) →
//! close the target. Every step's failure is recorded with its key; services are restarted
//! whatever happens.

use super::hooks::{BackupPlan, Mode};
use super::restic::{self, Progress, Repo, Summary};
use super::{BackupError, Backups, io};
use crate::store::{RunEnd, TargetRow};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Directories of the data dir saved with the box state when present.
pub const STATE_DIRS: &[&str] = &["secrets", "certs", "settings"];
pub const MANIFEST: &str = "panier-backup.json";
/// Whether a run of `reason` ends with `forget --prune`: nightly runs always; "Back up now"
/// when the target had a snapshot before (`last_ok` is the previous run's outcome) and was last
/// pruned (or added) a day ago or more: retention is by day, and the nightly run drops the
/// day's extras. Safety snapshots and checks never.
fn should_prune(reason: &str, last_ok: Option<bool>, pruned_or_added: i64, now: i64) -> bool {
    match reason {
        "scheduled" => true,
        "manual" => last_ok.is_some() && now - pruned_or_added >= 24 * 3600,
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    pub run_id: i64,
    pub target: String,
    pub ok: bool,
    pub error_key: Option<String>,
    pub error: Option<String>,
    pub snapshots: Vec<String>,
    pub files: u64,
    pub bytes_added: u64,
    pub peak_rss_kib: i64,
}

/// What a run saves.
pub(super) enum Scope {
    /// The box state and every service, each made consistent by its plan.
    Box,
    /// One service that the caller holds stopped, saved as it is (`reason=safety`).
    Stopped(BackupPlan),
}

/// Totals over the snapshots of a run.
#[derive(Default)]
struct Totals {
    snapshots: Vec<String>,
    files: u64,
    added: u64,
    total: u64,
    peak: i64,
}

impl Totals {
    fn add(&mut self, s: &Summary, peak: i64) {
        if !s.snapshot_id.is_empty() {
            self.snapshots.push(s.snapshot_id.clone());
        }
        self.files += s.files_new + s.files_changed + s.files_unmodified;
        self.added += s.data_added;
        self.total += s.total_bytes_processed;
        self.peak = self.peak.max(peak);
    }
}

impl Backups {
    /// Backs up to every target (or the named one), one after the other. Refused while
    /// another backup or restore runs.
    pub async fn run_now(
        &self,
        actor: Option<&crate::admins::Actor>,
        target: Option<&str>,
        reason: &'static str,
    ) -> Result<Vec<RunReport>, BackupError> {
        let rows = match target {
            Some(name) => vec![self.row(name)?],
            None => self.inner.store.backup_targets()?,
        };
        if rows.is_empty() {
            return Err(BackupError::NoTarget);
        }
        let _busy = self.inner.busy.try_lock().map_err(|_| BackupError::Busy)?;
        let mut reports = Vec::new();
        for row in rows {
            let report = self.run_one(&row, reason, Scope::Box).await?;
            if let Some(actor) = actor {
                let r: Result<(), BackupError> = if report.ok {
                    Ok(())
                } else {
                    Err(BackupError::Failed(
                        report.error.clone().unwrap_or_default(),
                    ))
                };
                self.inner.store.record(&super::audit(
                    &actor.audit_name(),
                    "backup_run",
                    &row.name,
                    &r,
                ))?;
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Starts `run_now` in the background; the UI follows it through `status()`.
    pub fn spawn_run(
        &self,
        actor: crate::admins::Actor,
        target: Option<String>,
    ) -> Result<(), BackupError> {
        if self.inner.busy.try_lock().is_err() {
            return Err(BackupError::Busy);
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this
                .run_now(Some(&actor), target.as_deref(), "manual")
                .await
            {
                log::error!("backup failed: {e}");
            }
        });
        Ok(())
    }

    /// One run on one target; the outcome is recorded, errors are in the report.
    pub(super) async fn run_one(
        &self,
        row: &TargetRow,
        reason: &'static str,
        scope: Scope,
    ) -> Result<RunReport, BackupError> {
        let only_app = match &scope {
            Scope::Box => None,
            Scope::Stopped(plan) => Some(plan.app.as_str()),
        };
        let run_id = self
            .inner
            .store
            .start_backup_run(row.id, reason, only_app)?;
        let progress = self.inner.progress.clone();
        self.set_part("");
        let mut totals = Totals::default();
        let result = self
            .run_steps(row, run_id, reason, scope, &progress, &mut totals)
            .await;
        *self
            .inner
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        let end = RunEnd {
            ok: result.is_ok(),
            error_key: result.as_ref().err().map(|e| e.key().to_owned()),
            error: result.as_ref().err().map(ToString::to_string),
            files: Some(totals.files as i64),
            bytes_added: Some(totals.added as i64),
            bytes_total: Some(totals.total as i64),
            peak_rss_kib: Some(totals.peak),
            snapshots: totals.snapshots.clone(),
        };
        self.inner.store.finish_backup_run(run_id, &end)?;
        match &result {
            Ok(()) => {
                log::info!(target_name = row.name.as_str(); "backup {run_id} to {} done: {} files, {} bytes added, restic peak {} KiB", row.name, totals.files, totals.added, totals.peak)
            }
            Err(e) => {
                log::error!(target_name = row.name.as_str(), key = e.key(); "backup {run_id} to {} FAILED: {e}", row.name)
            }
        }
        Ok(RunReport {
            run_id,
            target: row.name.clone(),
            ok: end.ok,
            error_key: end.error_key,
            error: end.error,
            snapshots: totals.snapshots,
            files: totals.files,
            bytes_added: totals.added,
            peak_rss_kib: totals.peak,
        })
    }

    async fn run_steps(
        &self,
        row: &TargetRow,
        run_id: i64,
        reason: &str,
        scope: Scope,
        progress: &Arc<Mutex<Option<Progress>>>,
        totals: &mut Totals,
    ) -> Result<(), BackupError> {
        let location = Self::location(row)?;
        let opened = self.open(&location, &row.password, false).await?;
        let repo = opened.repo.clone();
        // A run that failed may have been killed and left its lock: take stale locks away
        // first (an exclusive one would stop the prune and the checks). After a good run there
        // is none, and each restic call costs its key derivation (about half a second here).
        let (last_ok, pruned_at) = self.inner.store.backup_target_history(row.id, run_id)?;
        if last_ok == Some(false) {
            let r = repo.clone();
            self.restic(&row.name, move || {
                restic::run(&r, &["unlock"], |_, _| {}).map(|_| ())
            })
            .await?;
        }
        let host = self
            .inner
            .store
            .box_settings()?
            .name
            .map(|n| n.to_string())
            .unwrap_or_else(|| "panier".into());
        let data_dir = self.inner.data_dir.display().to_string();
        if data_dir.contains(',') {
            return Err(BackupError::Failed(
                "the data directory's path holds a comma, which restic tags cannot carry".into(),
            ));
        }
        let base_tags = vec![
            "panier".to_owned(),
            format!("run={run_id}"),
            format!("datadir={data_dir}"),
            format!("reason={reason}"),
        ];
        let mut first_error = None;
        if let Scope::Box = scope {
            let paths = self.stage_state(&host)?;
            let mut tags = base_tags.clone();
            tags.push("part=state".into());
            self.set_part("state");
            let (r, p) = (repo.clone(), progress.clone());
            let h = host.clone();
            match self
                .restic(&row.name, move || restic::backup(&r, &paths, &tags, &h, &p))
                .await
            {
                Ok((s, peak)) => totals.add(&s, peak),
                Err(e) => first_error = Some(e),
            }
            let _ = std::fs::remove_dir_all(self.staging());
        }
        if first_error.is_none() {
            let plans = match scope {
                Scope::Box => {
                    self.inner
                        .hooks
                        .plans()
                        .await
                        .map_err(|detail| BackupError::Hook {
                            app: "*".into(),
                            op: "listing backup plans",
                            detail,
                        })?
                }
                Scope::Stopped(plan) => vec![plan],
            };
            for plan in plans {
                self.set_part(&plan.app);
                match self
                    .backup_app(&row.name, &repo, &plan, &base_tags, &host, progress)
                    .await
                {
                    Ok((s, peak)) => totals.add(&s, peak),
                    Err(e) => {
                        log::error!(app = plan.app.as_str(); "backup of service {} failed: {e}", plan.app);
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if should_prune(
            reason,
            last_ok,
            pruned_at.unwrap_or(row.created_at),
            crate::store::now(),
        ) {
            let r = repo.clone();
            self.restic(&row.name, move || super::retention::forget_and_prune(&r))
                .await?;
            self.inner.store.set_backup_pruned(row.id)?;
        }
        drop(opened);
        Ok(())
    }

    fn set_part(&self, part: &str) {
        *self
            .inner
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Progress {
            part: part.to_owned(),
            ..Default::default()
        });
    }

    pub(super) fn staging(&self) -> PathBuf {
        self.inner.data_dir.join("backup/staging")
    }

    /// Writes the database copy and the manifest into the staging folder; returns the paths
    /// of the state snapshot.
    fn stage_state(&self, host: &str) -> Result<Vec<PathBuf>, BackupError> {
        let staging = self.staging();
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        self.inner
            .store
            .copy_database_to(&staging.join(crate::store::DB_FILE))?;
        let manifest = serde_json::json!({
            "box_name": host,
            "data_dir": self.inner.data_dir,
            "panier_version": crate::status::VERSION,
            "schema": crate::store::Store::schema_version(),
            "made_at": crate::store::now(),
        });
        crate::fsutil::write_atomic(
            &staging.join(MANIFEST),
            serde_json::to_string_pretty(&manifest)
                .expect("JSON")
                .as_bytes(),
        )
        .map_err(io("writing", &staging.join(MANIFEST)))?;
        let mut paths = vec![staging];
        paths.extend(
            STATE_DIRS
                .iter()
                .map(|d| self.inner.data_dir.join(d))
                .filter(|p| p.exists()),
        );
        Ok(paths)
    }

    async fn backup_app(
        &self,
        target: &str,
        repo: &Repo,
        plan: &BackupPlan,
        base: &[String],
        host: &str,
        progress: &Arc<Mutex<Option<Progress>>>,
    ) -> Result<(Summary, i64), BackupError> {
        let hooks = &self.inner.hooks;
        let app = plan.app.as_str();
        let hook = |op: &'static str| {
            move |detail: String| BackupError::Hook {
                app: app.to_owned(),
                op,
                detail,
            }
        };
        let mut tags = base.to_vec();
        tags.extend(["part=app".to_owned(), format!("app={app}")]);
        let paths: Vec<PathBuf> = plan
            .volumes
            .iter()
            .filter(|v| v.exists())
            .cloned()
            .collect();
        if paths.is_empty() {
            return Ok((Summary::default(), 0));
        }
        let snapshot = {
            let (r, p, h) = (repo.clone(), progress.clone(), host.to_owned());
            move || restic::backup(&r, &paths, &tags, &h, &p)
        };
        match &plan.mode {
            Mode::Cold => {
                hooks.stop(app, "backup").await.map_err(hook("stopping"))?;
                let result = self.restic(target, snapshot).await;
                // Always restarted, whatever happened to the snapshot.
                let started = hooks.start(app).await.map_err(hook("restarting"));
                let out = result?;
                started?;
                Ok(out)
            }
            Mode::Hot { pre, post } => {
                let mut pre_result = Ok(());
                for c in pre {
                    pre_result = hooks
                        .exec(app, &c.container, &c.argv)
                        .await
                        .map_err(hook("preparing (pre command)"));
                    if pre_result.is_err() {
                        break;
                    }
                }
                let result = match pre_result {
                    Ok(()) => self.restic(target, snapshot).await,
                    Err(e) => Err(e),
                };
                for c in post {
                    if let Err(e) = hooks.exec(app, &c.container, &c.argv).await {
                        log::warn!(app = app; "post-backup command of {app} failed: {e}");
                    }
                }
                result
            }
        }
    }

    /// The weekly data check: `restic check --read-data-subset k/7`, a different seventh of
    /// the data each week, so all of it is read back over seven weeks.
    pub async fn check(&self, name: &str) -> Result<(), BackupError> {
        let row = self.row(name)?;
        let _busy = self.inner.busy.lock().await;
        let run_id = self.inner.store.start_backup_run(row.id, "check", None)?;
        let result = async {
            let opened = self
                .open(&Self::location(&row)?, &row.password, false)
                .await?;
            let repo = opened.repo.clone();
            let subset = format!("{}/7", (crate::store::now() / 86400 / 7) % 7 + 1);
            self.restic(name, move || {
                restic::run(&repo, &["check", "--read-data-subset", &subset], |_, _| {}).map(|_| ())
            })
            .await
        }
        .await;
        let end = RunEnd {
            ok: result.is_ok(),
            error_key: result.as_ref().err().map(|e| e.key().into()),
            error: result.as_ref().err().map(ToString::to_string),
            ..Default::default()
        };
        self.inner.store.finish_backup_run(run_id, &end)?;
        if let Err(e) = &result {
            log::error!(target_name = name; "data check of backup target {name} FAILED: {e}");
        }
        result
    }

    /// The scheduler: each minute, runs the nightly backup once the configured hour is
    /// reached (once per day), the weekly check on Sundays, and logs alerts when they change.
    pub fn spawn_scheduler(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_alerts = Vec::new();
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = this.tick().await {
                    log::error!("backup scheduler: {e}");
                }
                if let Ok(alerts) = this.alerts() {
                    for a in alerts.iter().filter(|a| !last_alerts.contains(*a)) {
                        log::error!(key = a.key, target_name = a.target.as_str(); "backup alert: {} on target {}", a.key, a.target);
                    }
                    last_alerts = alerts;
                }
            }
        });
    }

    async fn tick(&self) -> Result<(), BackupError> {
        let now = jiff::Zoned::now();
        let today = now.date().to_string();
        if now.hour() as u8 >= self.hour()?
            && self.inner.store.setting("backup_last_day")?.as_deref() != Some(today.as_str())
            && !self.inner.store.backup_targets()?.is_empty()
        {
            self.inner.store.set_setting("backup_last_day", &today)?;
            match self.run_now(None, None, "scheduled").await {
                Err(BackupError::Busy) => self.inner.store.set_setting("backup_last_day", "")?,
                Err(e) => return Err(e),
                Ok(_) => {
                    if now.weekday() == jiff::civil::Weekday::Sunday {
                        for t in self.inner.store.backup_targets()? {
                            let _ = self.check(&t.name).await;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::should_prune;

    #[test]
    fn nightly_runs_prune_and_back_up_now_at_most_daily() {
        let now = 1_800_000_000;
        let day = 24 * 3600;
        assert!(should_prune("scheduled", None, now - 60, now));
        assert!(
            !should_prune("manual", None, now - 2 * day, now),
            "the first snapshot has nothing to forget"
        );
        assert!(
            !should_prune("manual", Some(true), now - 3600, now),
            "pruned or added within the day"
        );
        assert!(should_prune("manual", Some(false), now - day - 3600, now));
        assert!(!should_prune("safety", Some(true), now - 2 * day, now));
    }
}
