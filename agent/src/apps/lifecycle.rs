//! The jobs that change a service: install, start, stop, restart, update, remove; their
//! rollback; the disk guard; image pruning; and the resumption of jobs after a crash.
//!
//! Each public method checks what can be checked at once (catalog, settings, disk, the
//! per-service job lock), records the wanted state, and returns the job's id while the job
//! runs in a task.
//!
//! An install ends with the service's own first-run setup (`[[setup]]`, `setup.rs`) when its
//! data is new; a failing step rolls the install back like any other failure.
//!
//! An update follows the manifest's `[update]` path: it is refused when the installed
//! version is older than the path allows, and otherwise runs each version it goes through
//! (`through`, images pulled with the new version's before anything stops) until the service
//! is ready, then the new version.
//!
//! An update and a deletion of data first take a safety snapshot of the service's volumes
//! (steps `stop`, `safety_backup`; `backup.rs`) when a backup target exists; a failed update
//! puts that snapshot back (step `restore_data`) before returning to the previous version.

use super::plan::Resume;
use super::spec;
use super::{AppError, Apps, NotReady, failure};
use crate::catalog::AppId;
use crate::catalog::manifest::Manifest;
use crate::engine::{HealthState, PullProgress};
use crate::jobs::Job;
use crate::pack::OpenPack;
use crate::store::{AppRow, Phase};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a service may take to be running (and healthy, where health checks run), at
/// least: a container whose health check declares a longer start period gets that period
/// plus a minute (Nextcloud's first start migrates its database for several minutes).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a service must stay ready before an install, start or update counts as done.
const STEADY: Duration = Duration::from_secs(3);

fn ready_timeout(m: &Manifest) -> Duration {
    let longest = m
        .containers
        .iter()
        .filter_map(|c| c.health.as_ref())
        .map(|h| h.start_period_s + 60)
        .max()
        .unwrap_or(0);
    READY_TIMEOUT.max(Duration::from_secs(longest))
}

impl Apps {
    /// Free and total bytes of the data partition.
    fn disk_space(&self) -> Option<(u64, u64)> {
        let st = nix::sys::statvfs::statvfs(&self.inner.data_dir).ok()?;
        let frag = st.fragment_size() as u64;
        Some((
            st.blocks_available() as u64 * frag,
            st.blocks() as u64 * frag,
        ))
    }

    /// Refuses when the data disk would go below the reserve: 1 GiB beyond the service's
    /// needs, and never below the health centre's critical share of the partition.
    fn disk_guard(&self, app: &AppId, m: &Manifest) -> Result<(), AppError> {
        let space = self.disk_space();
        let floor = space.map_or(0, |(_, total)| {
            total / 100 * crate::health::disk::CRITICAL_PERCENT
        });
        let needed = m.requirements.disk_mb * 1024 * 1024 + super::DISK_RESERVE_BYTES.max(floor);
        match space.map(|(free, _)| free) {
            Some(free) if free < needed => Err(AppError::DiskLow {
                app: app.clone(),
                free_mb: free >> 20,
                needed_mb: needed >> 20,
                app_mb: m.requirements.disk_mb,
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn engine_up(&self) -> Result<(), AppError> {
        match self.engine_status() {
            super::EngineStatus::Down { message } => Err(AppError::EngineDown(message)),
            _ => Ok(()),
        }
    }

    /// Installs `id` as offered (the catalog's entry, or a newer one an imported pack
    /// brought) with `settings` (name → text). Returns the job id.
    pub fn install(
        &self,
        id: &str,
        settings: &BTreeMap<String, String>,
        actor: &str,
    ) -> Result<i64, AppError> {
        let app = AppId::parse(id).map_err(|_| AppError::NotInCatalog(id.to_owned()))?;
        let offer = self
            .offer(&app)
            .ok_or_else(|| AppError::NotInCatalog(id.to_owned()))?;
        self.install_entry(&app, offer.entry, settings, actor, None)
    }

    /// Installs `entry`; its images come from `pack` when it has them.
    pub(super) fn install_entry(
        &self,
        app: &AppId,
        entry: crate::catalog::Entry,
        settings: &BTreeMap<String, String>,
        actor: &str,
        pack: Option<Arc<OpenPack>>,
    ) -> Result<i64, AppError> {
        let app = app.clone();
        let m = entry.manifest;
        if self.inner.store.app(&app)?.is_some() {
            return Err(AppError::AlreadyInstalled(app));
        }
        let settings = spec::resolve_settings(&m, settings)?;
        self.disk_guard(&app, &m)?;
        self.engine_up()?;
        let job = self.inner.jobs.begin(&app, "install", actor)?;
        let kept = self.inner.store.app_secrets(&app)?;
        let secrets = spec::new_secrets(&m, &kept);
        let dir = spec::app_dir(&self.inner.data_dir, &app);
        let now = crate::store::now();
        let row = AppRow {
            id: app.clone(),
            version: m.version.clone(),
            phase: Phase::Installing,
            running: true,
            settings,
            manifest: serde_json::to_string(&m).expect("manifests serialize"),
            previous: None,
            fresh_data: !dir.exists(),
            installed_at: now,
            updated_at: now,
        };
        self.inner.store.insert_app(&row, &secrets)?;
        self.record_install_address(&app, &m, row.fresh_data)?;
        let id = job.id;
        let apps = self.clone();
        tokio::spawn(async move { apps.run_install(job, row, m, pack).await });
        Ok(id)
    }

    async fn run_install(&self, job: Job, row: AppRow, m: Manifest, pack: Option<Arc<OpenPack>>) {
        let result = self.bring_up(&job, &row, &m, pack.as_deref()).await;
        match result {
            Ok(()) => {
                self.record_pack_entry(pack.as_deref(), &row.id);
                let r = self
                    .inner
                    .store
                    .set_app_phase(&row.id, Phase::Installed)
                    .map_err(AppError::from);
                job.finish(r.map_err(|e| failure::of(&e)));
            }
            Err(e) => {
                job.step("rollback", 100);
                let undo = self.roll_back_install(&row).await;
                job.finish(Err(failure::install(&e, &undo)));
            }
        }
        self.prune_images().await;
        self.wake();
    }

    async fn roll_back_install(&self, row: &AppRow) -> Result<(), AppError> {
        self.remove_objects(&row.id).await?;
        if row.fresh_data {
            let dir = spec::app_dir(&self.inner.data_dir, &row.id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| AppError::Io {
                    op: "remove",
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        self.inner.store.delete_app(&row.id, row.fresh_data)?;
        Ok(())
    }

    /// Pull (or load from the pack) → create → start → running (and healthy) → the
    /// service's own first-run setup, when its data is new (a reinstall that finds its data
    /// finds its accounts too).
    async fn bring_up(
        &self,
        job: &Job,
        row: &AppRow,
        m: &Manifest,
        pack: Option<&OpenPack>,
    ) -> Result<(), AppError> {
        self.pull_images(job, &row.id, m, pack).await?;
        job.step("create", 70);
        self.converge(row, m).await?;
        job.step("start", 85);
        self.wait_ready(&row.id, m).await?;
        if row.fresh_data && !m.setup.is_empty() {
            self.run_steps(job, row, m, &m.setup, super::setup::StepKind::Setup, 92)
                .await?;
        }
        Ok(())
    }

    /// Makes every image of `m` present: already there (or loaded from a pack before), else
    /// loaded from `pack` (verified), else pulled.
    pub(super) async fn pull_images(
        &self,
        job: &Job,
        app: &AppId,
        m: &Manifest,
        pack: Option<&OpenPack>,
    ) -> Result<(), AppError> {
        let images: Vec<&str> = m
            .containers
            .iter()
            .map(|c| c.image.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let n = images.len().max(1) as i64;
        for (i, image) in images.iter().enumerate() {
            let base = i as i64 * 70 / n;
            job.step("pull", base);
            if self.resolve_image(app, image).await?.is_some() {
                continue;
            }
            if pack.and_then(|p| p.index.image(image)).is_some() {
                job.step("load", base);
                self.load_from_pack(app, pack, image).await?;
                continue;
            }
            let report = |p: PullProgress| {
                let frac = (p.done * 100).checked_div(p.total).unwrap_or(0) as i64;
                job.step("pull", base + frac * 70 / n / 100);
            };
            self.inner
                .engine
                .pull(image, &report)
                .await
                .map_err(AppError::engine(app))?;
            self.inner.store.note_image(image)?;
        }
        Ok(())
    }

    /// Waits until every container runs (and is healthy where health checks run). A container
    /// that exits fails the wait with its last log lines.
    pub(super) async fn wait_ready(&self, app: &AppId, m: &Manifest) -> Result<(), AppError> {
        let start = Instant::now();
        let timeout = ready_timeout(m);
        let mut steady_since: Option<Instant> = None;
        loop {
            let mut ready = true;
            for c in &m.containers {
                let name = spec::container_name(app, &c.name);
                let info = self
                    .inner
                    .engine
                    .inspect(&name)
                    .await
                    .map_err(AppError::engine(app))?;
                let Some(info) = info else {
                    ready = false;
                    continue;
                };
                if !info.running && info.status != "created" && info.status != "restarting" {
                    let logs = self.inner.engine.logs(&name, 5).await.unwrap_or_default();
                    let why = NotReady::Exited {
                        container: c.name.clone(),
                        code: info.exit_code.unwrap_or(-1),
                        logs: logs.join(" / "),
                    };
                    return Err(AppError::NotReady {
                        app: app.clone(),
                        why,
                    });
                }
                if info.health == HealthState::Unhealthy {
                    return Err(AppError::NotReady {
                        app: app.clone(),
                        why: NotReady::Unhealthy {
                            container: c.name.clone(),
                        },
                    });
                }
                ready &=
                    info.running && matches!(info.health, HealthState::None | HealthState::Healthy);
            }
            // Ready for a few seconds in a row: a container without a health check that stops
            // just after starting (a missing setting, say) must not count as installed.
            match (ready, steady_since) {
                (true, Some(since)) if since.elapsed() >= STEADY => return Ok(()),
                (true, None) => steady_since = Some(Instant::now()),
                (true, Some(_)) => {}
                (false, _) => steady_since = None,
            }
            if start.elapsed() > timeout {
                return Err(AppError::NotReady {
                    app: app.clone(),
                    why: NotReady::Timeout {
                        secs: timeout.as_secs(),
                    },
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Start, stop or restart: records the wanted state and converges in a job.
    pub fn set_running(
        &self,
        app: &AppId,
        action: &'static str,
        actor: &str,
    ) -> Result<i64, AppError> {
        let (row, m) = self.row_and_manifest(app)?;
        if row.phase != Phase::Installed {
            // Being installed, updated or removed: say that, not "not installed".
            return Err(self
                .inner
                .jobs
                .refusal(app)
                .map(AppError::Busy)
                .unwrap_or_else(|| AppError::NotInstalled(app.clone())));
        }
        self.engine_up()?;
        let job = self.inner.jobs.begin(app, action, actor)?;
        let running = action != "stop";
        self.inner.store.set_app_running(app, running)?;
        let row = AppRow { running, ..row };
        let id = job.id;
        let apps = self.clone();
        tokio::spawn(async move {
            let result = async {
                if action == "restart" {
                    job.step("stop", 20);
                    apps.stop_containers(&row.id, &m).await?;
                }
                job.step(if running { "start" } else { "stop" }, 50);
                apps.converge(&row, &m).await?;
                if running {
                    apps.wait_ready(&row.id, &m).await
                } else {
                    Ok(())
                }
            }
            .await;
            job.finish(result.map_err(|e| failure::of(&e)));
            apps.wake();
        });
        Ok(id)
    }

    /// Moves an installed service to the catalog's version. The new images are pulled while
    /// the old version runs; then it stops and a safety snapshot of its data is taken (when a
    /// backup target exists). On failure, the data goes back to that snapshot and the previous
    /// version's containers come back; a failed safety snapshot stops the update before
    /// anything changed.
    pub fn update(&self, app: &AppId, actor: &str) -> Result<i64, AppError> {
        self.row_and_manifest(app)?;
        let offer = self
            .offer(app)
            .ok_or_else(|| AppError::NotInCatalog(app.to_string()))?;
        self.update_to(app, offer.entry.manifest, actor, None)
    }

    /// Updates to `new`; its images come from `pack` when it has them.
    pub(super) fn update_to(
        &self,
        app: &AppId,
        new: Manifest,
        actor: &str,
        pack: Option<Arc<OpenPack>>,
    ) -> Result<i64, AppError> {
        let (row, old) = self.row_and_manifest(app)?;
        if new.version == row.version {
            return Err(AppError::UpToDate {
                app: app.clone(),
                version: row.version,
            });
        }
        if let Some(reason) = crate::catalog::steps::refusal(&new, &row.version) {
            return Err(AppError::UpdateRefused {
                app: app.clone(),
                from: row.version,
                reason,
            });
        }
        // Settings added by the new version take their defaults; removed ones are dropped.
        let kept: BTreeMap<String, String> = row
            .settings
            .iter()
            .filter(|(k, _)| new.settings.iter().any(|s| &s.name == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings = spec::resolve_settings(&new, &kept)?;
        self.disk_guard(app, &new)?;
        self.engine_up()?;
        let job = self.inner.jobs.begin(app, "update", actor)?;
        let secrets = spec::new_secrets(&new, &self.inner.store.app_secrets(app)?);
        let new_json = serde_json::to_string(&new).expect("manifests serialize");
        self.inner.store.set_app_version(
            app,
            &new.version,
            &new_json,
            Some(&row.manifest),
            Phase::Updating,
        )?;
        self.inner
            .store
            .set_app_settings(app, &settings, &secrets)?;
        let id = job.id;
        let apps = self.clone();
        let row = AppRow {
            version: new.version.clone(),
            manifest: new_json,
            settings,
            phase: Phase::Updating,
            ..row
        };
        tokio::spawn(async move { apps.run_update(job, row, new, old, pack).await });
        Ok(id)
    }

    /// Pull (the old version still runs) → stop → safety snapshot, recorded → the new
    /// version. Resumed after a crash, an update whose snapshot was recorded goes on from it
    /// (the data may be half-migrated); one that had not got that far takes it now (its data
    /// is still the old version's: the new containers come only after the record).
    async fn run_update(
        &self,
        job: Job,
        row: AppRow,
        new: Manifest,
        old: Manifest,
        pack: Option<Arc<OpenPack>>,
    ) {
        let app = &row.id;
        let stops: Vec<Manifest> = crate::catalog::steps::stops_from(&new, &old.version)
            .into_iter()
            .map(|s| crate::catalog::steps::at_stop(&new, s))
            .collect();
        let mut pulled = Ok(());
        for m in stops.iter().chain(std::iter::once(&new)) {
            pulled = self.pull_images(&job, app, m, pack.as_deref()).await;
            if pulled.is_err() {
                break;
            }
        }
        if let Err(e) = pulled {
            job.step("rollback", 100);
            let back = self.back_to(app, &old).await;
            job.finish(Err(failure::update(&e, &old.version, &back, None)));
            self.wake();
            return;
        }
        let point = match self.recorded_safety(app) {
            Some(point) => point,
            None => {
                job.step("stop", 71);
                let saved = async {
                    self.stop_containers(app, &old).await?;
                    let point = self.safety_snapshot(&job, app, 72).await?;
                    self.inner
                        .store
                        .set_update_safety(app, &serde_json::to_string(&point).expect("JSON"))?;
                    Ok::<_, AppError>(point)
                }
                .await;
                match saved {
                    Ok(point) => point,
                    Err(e) => {
                        job.step("rollback", 100);
                        let back = self.back_to(app, &old).await;
                        job.finish(Err(failure::update(&e, &old.version, &back, None)));
                        self.wake();
                        return;
                    }
                }
            }
        };
        // Each version the update goes through runs until the service is ready (it has
        // migrated its data), then the next.
        let mut result = Ok(());
        for m in stops.iter().chain(std::iter::once(&new)) {
            job.step(
                if m.version == new.version {
                    "create"
                } else {
                    "through"
                },
                80,
            );
            log::info!(app = app.as_str(); "running version {} during the update", m.version);
            result = match self.converge(&row, m).await {
                Ok(_) => {
                    job.step("start", 88);
                    self.wait_ready(app, m).await
                }
                Err(e) => Err(e),
            };
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(()) => {
                self.record_pack_entry(pack.as_deref(), app);
                let r = self.inner.store.set_app_version(
                    app,
                    &new.version,
                    &row.manifest,
                    None,
                    Phase::Installed,
                );
                job.finish(r.map_err(|e| failure::of(&e.into())));
            }
            Err(e) => {
                job.step("rollback", 90);
                let restored = match &point {
                    Some(point) => {
                        // The new version's containers stop before their data is replaced.
                        let stopped = self
                            .stop_containers(app, &new)
                            .await
                            .map_err(|e| e.to_string());
                        let r = match stopped {
                            Ok(_) => self.restore_safety(&job, app, point, 95).await,
                            Err(s) => Err(s),
                        };
                        Some((point, r))
                    }
                    None => None,
                };
                job.step("rollback", 100);
                let back = self.back_to(app, &old).await;
                job.finish(Err(failure::update(
                    &e,
                    &old.version,
                    &back,
                    restored.as_ref().map(|(p, r)| (*p, r)),
                )));
            }
        }
        self.prune_images().await;
        self.wake();
    }

    /// The safety snapshot the update under way recorded: `Some(None)` when it recorded that
    /// there was no backup target, `None` when it recorded nothing yet.
    fn recorded_safety(&self, app: &AppId) -> Option<Option<super::SafetyPoint>> {
        serde_json::from_str(&self.inner.store.update_safety(app).ok()??).ok()
    }

    /// Records `old` as the service's version again and converges to it.
    async fn back_to(&self, app: &AppId, old: &Manifest) -> Result<(), AppError> {
        let old_json = serde_json::to_string(old).expect("manifests serialize");
        self.inner
            .store
            .set_app_version(app, &old.version, &old_json, None, Phase::Installed)?;
        let (row, m) = self.row_and_manifest(app)?;
        self.converge(&row, &m).await.map(|_| ())
    }

    /// Uninstalls. Keeps `<data_dir>/apps/<app>` and the secrets unless `delete_data`, which
    /// must be confirmed by repeating the service's id.
    pub fn remove(
        &self,
        app: &AppId,
        delete_data: bool,
        confirm: Option<&str>,
        actor: &str,
    ) -> Result<i64, AppError> {
        if delete_data && confirm != Some(app.as_str()) {
            return Err(AppError::ConfirmDelete(app.clone()));
        }
        let exists = self.inner.store.app(app)?.is_some();
        let dir = spec::app_dir(&self.inner.data_dir, app);
        // Deleting the data of a service already uninstalled (data kept) is allowed too.
        if !(exists || delete_data && dir.exists()) {
            return Err(AppError::NotInstalled(app.clone()));
        }
        self.engine_up()?;
        let job = self.inner.jobs.begin(
            app,
            if delete_data {
                "remove_with_data"
            } else {
                "remove"
            },
            actor,
        )?;
        if exists {
            self.inner.store.set_app_phase(app, Phase::Removing)?;
        }
        let id = job.id;
        let apps = self.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let result = apps.run_remove(&job, &app, delete_data).await;
            job.finish(result.map_err(|e| failure::of(&e)));
            apps.prune_images().await;
            apps.wake();
        });
        Ok(id)
    }

    async fn run_remove(&self, job: &Job, app: &AppId, delete_data: bool) -> Result<(), AppError> {
        job.step("stop", 20);
        if let Ok((_, m)) = self.row_and_manifest(app) {
            self.stop_containers(app, &m).await?;
        }
        if delete_data && let Err(e) = self.safety_snapshot(job, app, 35).await {
            // Nothing is deleted without its safety snapshot: the service stays as it was.
            if self.inner.store.app(app)?.is_some() {
                self.inner.store.set_app_phase(app, Phase::Installed)?;
                if let Ok((row, m)) = self.row_and_manifest(app) {
                    let _ = self.converge(&row, &m).await;
                }
            }
            return Err(e);
        }
        job.step("remove", 50);
        self.remove_objects(app).await?;
        if delete_data {
            job.step("delete_data", 80);
            let dir = spec::app_dir(&self.inner.data_dir, app);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| AppError::Io {
                    op: "delete",
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        self.inner.store.delete_app(app, delete_data)?;
        self.incident_record().forget(app);
        Ok(())
    }

    /// Removes images the agent pulled that no installed service uses any more. An image
    /// still used by a container is refused by the engine and kept for the next time.
    pub async fn prune_images(&self) {
        let used: HashSet<String> = self
            .installed()
            .into_iter()
            .flat_map(|(_, m)| m.containers.into_iter().map(|c| c.image))
            .collect();
        self.prune_pack_images(&used).await;
        let Ok(pulled) = self.inner.store.images() else {
            return;
        };
        for image in pulled.into_iter().filter(|i| !used.contains(i)) {
            match self.inner.engine.remove_image(&image).await {
                Ok(()) => {
                    log::info!("pruned the unused image {image}");
                    let _ = self.inner.store.forget_image(&image);
                }
                Err(e) => log::debug!("keeping {image}: {e}"),
            }
        }
    }

    /// Completes or rolls back what a crash interrupted, according to each service's phase.
    pub(super) async fn resume_interrupted(&self) {
        let Ok(rows) = self.inner.store.apps() else {
            return;
        };
        for row in rows.into_iter().filter(|r| r.phase != Phase::Installed) {
            let Ok(job) = self.inner.jobs.begin(
                &row.id,
                &format!("resume_{}", phase_word(row.phase)),
                "agent (after a restart)",
            ) else {
                continue;
            };
            log::warn!(app = row.id.as_str(); "resuming an interrupted {}", phase_word(row.phase));
            let manifest = self.manifest_of(&row);
            let old = row
                .previous
                .as_deref()
                .and_then(|p| serde_json::from_str::<Manifest>(p).ok());
            match (
                super::plan::resume(row.phase, manifest.is_ok(), old.is_some()),
                manifest,
                old,
            ) {
                (Resume::CompleteInstall, Ok(m), _) => self.run_install(job, row, m, None).await,
                (Resume::RollBackInstall, m, _) => {
                    let _ = self.roll_back_install(&row).await;
                    let e = m.err().unwrap_or(AppError::NotInstalled(row.id.clone()));
                    job.finish(Err(failure::of(&e)));
                }
                (Resume::ContinueUpdate, Ok(new), Some(old)) => {
                    self.run_update(job, row, new, old, None).await
                }
                (Resume::AbandonUpdate, ..) => {
                    let _ = self.inner.store.set_app_phase(&row.id, Phase::Installed);
                    job.finish(Err(failure::key("apps.failure.previous_version_unknown")));
                }
                (Resume::CompleteRemoval, ..) => {
                    let result = self.run_remove(&job, &row.id, false).await;
                    job.finish(result.map_err(|e| failure::of(&e)));
                }
                // `resume` says so only with the manifests it needs, read above.
                _ => job.finish(Ok(())),
            }
        }
    }
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Installing => "install",
        Phase::Updating => "update",
        Phase::Removing => "removal",
        Phase::Installed => "nothing",
    }
}
