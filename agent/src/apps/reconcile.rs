//! The reconciler: compares each service's wanted state (store + stored manifest) with what
//! the engine has, and makes idempotent moves. Also the background tasks: the loop (at start,
//! on wake-ups, every minute), the engine event listener, and the resumption of jobs a crash
//! interrupted.

use super::spec::{self, LABEL_APP, LABEL_BOX, LABEL_CONTAINER, LABEL_SPEC};
use super::{AppError, Apps, EngineStatus};
use crate::catalog::AppId;
use crate::catalog::manifest::Manifest;
use crate::engine::ContainerInfo;
use crate::store::{AppRow, Phase};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(60);

/// What one reconciliation pass did, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct PassReport {
    pub services: usize,
    pub moves: usize,
    pub errors: usize,
}

impl Apps {
    /// Creates the service's directories, network and containers as its spec says, starts or
    /// stops them as wanted, and removes its containers that are not in the spec. Returns the
    /// number of moves made.
    pub(super) async fn converge(&self, row: &AppRow, m: &Manifest) -> Result<usize, AppError> {
        let lock = self
            .inner
            .converging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(row.id.clone())
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock().await;
        let engine = &self.inner.engine;
        let app = &row.id;
        let spec = self.app_spec(row, m)?;
        let mut moves = 0;
        for (dir, owner) in &spec.volume_dirs {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|source| AppError::Io {
                    op: "create",
                    path: dir.clone(),
                    source,
                })?;
                if let Some((u, g)) = owner.as_ref().and_then(|o| o.split_once(':')) {
                    let (u, g) = (
                        u.parse().ok().map(nix::unistd::Uid::from_raw),
                        g.parse().ok().map(nix::unistd::Gid::from_raw),
                    );
                    nix::unistd::chown(dir, u, g).map_err(|e| AppError::Io {
                        op: "give an owner to",
                        path: dir.clone(),
                        source: e.into(),
                    })?;
                }
                moves += 1;
            }
        }
        engine
            .ensure_network(&spec.network, &spec.network_labels)
            .await
            .map_err(AppError::engine(app))?;
        let wanted: HashSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        let existing = engine
            .containers(&format!("{LABEL_APP}={app}"))
            .await
            .map_err(AppError::engine(app))?;
        for c in existing
            .iter()
            .filter(|c| self.ours(&c.labels, Some(app)) && !wanted.contains(c.name.as_str()))
        {
            log::info!(app = app.as_str(); "removing {} (not in the service's definition any more)", c.name);
            engine
                .remove(&c.name)
                .await
                .map_err(AppError::engine(app))?;
            moves += 1;
        }
        let mut observed = BTreeMap::new();
        for c in &spec.containers {
            let mut info = engine
                .inspect(&c.name)
                .await
                .map_err(AppError::engine(app))?;
            if let Some(i) = &info
                && !self.ours(&i.labels, Some(app))
            {
                return Err(AppError::Engine {
                    app: app.clone(),
                    error: crate::engine::EngineError::Refused { op: "create", object: c.name.clone(), message: "a container of that name exists that this box did not create; it is left alone".into() },
                });
            }
            if let Some(i) = &info
                && i.labels.get(LABEL_SPEC) != c.labels.get(LABEL_SPEC)
            {
                log::info!(app = app.as_str(); "recreating {} (its definition changed)", c.name);
                engine
                    .remove(&c.name)
                    .await
                    .map_err(AppError::engine(app))?;
                info = None;
                moves += 1;
            }
            let created_now = info.is_none();
            if created_now {
                self.create_container(app, c).await?;
                moves += 1;
            }
            let running = info.as_ref().is_some_and(|i| i.running);
            if row.running
                && !running
                && let Some(i) = &info
            {
                self.note_stopped(app, &c.name, i);
            }
            if row.running && !running {
                log::info!(app = app.as_str(); "starting {}", c.name);
                if let Err(e) = engine.start(&c.name).await {
                    if created_now {
                        return Err(AppError::engine(app)(e));
                    }
                    // An older container may no longer start as it is: its network was lost
                    // (an unclean power-off while the engine created it) or replaced. It holds
                    // no data (volumes are the service's folders): made again from the spec.
                    log::warn!(app = app.as_str(); "{} does not start ({e}); recreating it from its definition", c.name);
                    engine
                        .remove(&c.name)
                        .await
                        .map_err(AppError::engine(app))?;
                    self.create_container(app, c).await?;
                    engine.start(&c.name).await.map_err(AppError::engine(app))?;
                    moves += 1;
                }
                moves += 1;
            }
            if moves > 0 || info.is_none() {
                info = engine
                    .inspect(&c.name)
                    .await
                    .map_err(AppError::engine(app))?;
            }
            if let Some(i) = info {
                observed.insert(
                    i.labels.get(LABEL_CONTAINER).cloned().unwrap_or_default(),
                    i,
                );
            }
        }
        if !row.running {
            moves += self.stop_containers(app, m).await?;
        }
        self.observe(app, observed);
        Ok(moves)
    }

    async fn create_container(
        &self,
        app: &AppId,
        c: &crate::engine::ContainerSpec,
    ) -> Result<(), AppError> {
        let engine = &self.inner.engine;
        let Some(image) = self.resolve_image(app, &c.image).await? else {
            return Err(AppError::Engine {
                app: app.clone(),
                error: crate::engine::EngineError::NotFound {
                    what: format!("the image {}", c.image),
                },
            });
        };
        log::info!(app = app.as_str(); "creating {}", c.name);
        if image == c.image {
            engine.create(c).await.map_err(AppError::engine(app))
        } else {
            // Loaded from a pack: created from the content id checked at load (the spec, and
            // so its hash label, keeps the manifest's reference).
            let spec = crate::engine::ContainerSpec { image, ..c.clone() };
            engine.create(&spec).await.map_err(AppError::engine(app))
        }
    }

    /// A container that should run was found stopped: a kill for memory is recorded, and a
    /// restart when the last look saw it running (it stopped by itself, not by a job).
    fn note_stopped(&self, app: &AppId, name: &str, info: &ContainerInfo) {
        let was_running = self
            .inner
            .observed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app)
            .is_some_and(|m| m.values().any(|o| o.name == name && o.running));
        let now = crate::store::now();
        let mut record = self.incident_record();
        if info.oom_killed {
            log::warn!(app = app.as_str(); "{name} was killed for using more memory than its limit");
            record.oom(app, name, now);
        }
        if was_running {
            log::warn!(app = app.as_str(); "{name} stopped by itself (exit code {:?}); starting it again", info.exit_code);
            record.restart(app, now);
        }
    }

    /// Whether an engine object is this agent's (and, with `app`, that service's).
    fn ours(&self, labels: &BTreeMap<String, String>, app: Option<&AppId>) -> bool {
        labels
            .get(LABEL_BOX)
            .is_some_and(|b| *b == self.inner.instance)
            && labels
                .get(LABEL_APP)
                .is_some_and(|a| app.is_none_or(|app| a == app.as_str()))
    }

    fn observe(&self, app: &AppId, containers: BTreeMap<String, ContainerInfo>) {
        let changed = {
            let mut all = self
                .inner
                .observed
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let addrs = |m: Option<&BTreeMap<String, ContainerInfo>>| {
                m.map(|m| {
                    m.values()
                        .map(|c| (c.name.clone(), c.addresses.clone(), c.running))
                        .collect::<Vec<_>>()
                })
            };
            let before = addrs(all.get(app));
            let after = addrs(Some(&containers));
            all.insert(app.clone(), containers);
            before != after
        };
        if changed {
            self.bump();
        }
    }

    /// Stops the service's containers, last started first. Returns the number stopped.
    pub(super) async fn stop_containers(
        &self,
        app: &AppId,
        m: &Manifest,
    ) -> Result<usize, AppError> {
        let order = crate::catalog::start_order(m).map_err(|c| AppError::BadManifest {
            app: app.clone(),
            message: format!("cycle through {c}"),
        })?;
        let mut n = 0;
        for c in order.iter().rev() {
            let name = spec::container_name(app, &c.name);
            if let Some(info) = self
                .inner
                .engine
                .inspect(&name)
                .await
                .map_err(AppError::engine(app))?
                && info.running
            {
                self.inner
                    .engine
                    .stop(&name, c.stop_grace_s)
                    .await
                    .map_err(AppError::engine(app))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes every container and the network of `app` (found by label, so leftovers of any
    /// version go too). Host directories are not touched here.
    pub(super) async fn remove_objects(&self, app: &AppId) -> Result<(), AppError> {
        let engine = &self.inner.engine;
        let label = format!("{LABEL_APP}={app}");
        for c in engine
            .containers(&label)
            .await
            .map_err(AppError::engine(app))?
        {
            if self.ours(&c.labels, Some(app)) {
                engine
                    .remove(&c.name)
                    .await
                    .map_err(AppError::engine(app))?;
            }
        }
        for n in engine
            .networks(&label)
            .await
            .map_err(AppError::engine(app))?
        {
            if self.ours(&n.labels, Some(app)) {
                engine
                    .remove_network(&n.name)
                    .await
                    .map_err(AppError::engine(app))?;
            }
        }
        self.inner
            .observed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app);
        self.bump();
        Ok(())
    }

    /// One pass over every service. Services with a running job are left to it.
    pub async fn reconcile_all(&self) -> PassReport {
        let mut report = PassReport::default();
        match self.inner.engine.info().await {
            Ok(info) => {
                *self
                    .inner
                    .engine_status
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = EngineStatus::Up { info }
            }
            Err(e) => {
                log::warn!("{e}; will retry");
                *self
                    .inner
                    .engine_status
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = EngineStatus::Down {
                    message: e.to_string(),
                };
                report.errors = 1;
                return report;
            }
        }
        let rows = match self.inner.store.apps() {
            Ok(r) => r,
            Err(e) => {
                log::error!("{e}");
                report.errors = 1;
                return report;
            }
        };
        let known: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for row in rows
            .iter()
            .filter(|r| r.phase == Phase::Installed && !self.inner.jobs.busy(&r.id))
        {
            report.services += 1;
            let result = match self.manifest_of(row) {
                // A service whose address changed is moved by its own job.
                Ok(m) if self.follow_address_if_needed(row, &m).is_some() => Ok(1),
                Ok(m) => self.converge(row, &m).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(n) => report.moves += n,
                Err(e) => {
                    report.errors += 1;
                    log::warn!(app = row.id.as_str(); "reconciling: {e}");
                }
            }
        }
        // Leftovers: our labels, but no such service in the store (removed while the agent
        // was down, or an install that never got recorded).
        if let Ok(containers) = self.inner.engine.containers(LABEL_APP).await {
            for c in containers
                .into_iter()
                .filter(|c| self.ours(&c.labels, None))
            {
                let Some(app) = c.labels.get(LABEL_APP).and_then(|a| AppId::parse(a).ok()) else {
                    continue;
                };
                if !known.contains(app.as_str()) && !self.inner.jobs.busy(&app) {
                    log::info!(app = app.as_str(); "removing leftover container {}", c.name);
                    let _ = self.inner.engine.remove(&c.name).await;
                    report.moves += 1;
                }
            }
        }
        if let Ok(networks) = self.inner.engine.networks(LABEL_APP).await {
            for n in networks.into_iter().filter(|n| self.ours(&n.labels, None)) {
                let Some(app) = n.labels.get(LABEL_APP).and_then(|a| AppId::parse(a).ok()) else {
                    continue;
                };
                if !known.contains(app.as_str()) && !self.inner.jobs.busy(&app) {
                    log::info!(app = app.as_str(); "removing leftover network {}", n.name);
                    let _ = self.inner.engine.remove_network(&n.name).await;
                    report.moves += 1;
                }
            }
        }
        if report.moves > 0 || report.errors > 0 {
            log::info!(
                "reconciled {} services: {} moves, {} errors",
                report.services,
                report.moves,
                report.errors
            );
        }
        report
    }

    /// Starts the reconciler loop and the engine event listener, after resuming what a crash
    /// interrupted (the daemon has closed the interrupted job rows before: `Jobs::recover`).
    /// Call once, inside the runtime.
    pub fn start_background(&self) {
        let apps = self.clone();
        tokio::spawn(async move {
            if let Ok(info) = apps.inner.engine.info().await {
                *apps
                    .inner
                    .engine_status
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = EngineStatus::Up { info };
            }
            apps.resume_interrupted().await;
            let started = std::time::Instant::now();
            let report = apps.reconcile_all().await;
            log::info!(
                "first reconciliation: {} services, {} moves, {} errors in {} ms",
                report.services,
                report.moves,
                report.errors,
                started.elapsed().as_millis()
            );
            loop {
                let _ = tokio::time::timeout(PERIOD, apps.inner.wake.notified()).await;
                // Let a burst of events settle into one pass.
                tokio::time::sleep(Duration::from_millis(200)).await;
                apps.reconcile_all().await;
            }
        });
        let apps = self.clone();
        tokio::spawn(async move {
            loop {
                let mut events = apps.inner.engine.events(LABEL_APP);
                while let Some(event) = events.next().await {
                    match event {
                        Ok(e) if e.action == "oom" => {
                            if apps.ours(&e.labels, None)
                                && let Some(app) =
                                    e.labels.get(LABEL_APP).and_then(|a| AppId::parse(a).ok())
                            {
                                log::warn!(app = app.as_str(); "the engine killed a process of {} for memory", e.container);
                                apps.incident_record()
                                    .oom(&app, &e.container, crate::store::now());
                            }
                            apps.wake();
                        }
                        // podman says "remove" where dockerd says "destroy".
                        Ok(e)
                            if matches!(
                                e.action.as_str(),
                                "die" | "destroy" | "remove" | "stop" | "kill"
                            ) =>
                        {
                            log::debug!("engine event {} on {}", e.action, e.container);
                            apps.wake();
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                apps.wake();
            }
        });
    }
}
