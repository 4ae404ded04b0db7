//! The reconciler's executor: observes a service (engine and disk), asks `plan` for the
//! moves, and applies them in order. Also the background tasks: the loop (at start, on
//! wake-ups, every minute), the engine event listener, and the resumption of jobs a crash
//! interrupted. Every decision is in `plan.rs` (pure, unit-tested); what stays here is the
//! engine calls and what a call's failure means (a start that fails on an older container
//! makes it again, once).

use super::plan::{self, Move, Observed, Refusal};
use super::spec::{self, LABEL_APP, LABEL_CONTAINER};
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
    /// Brings the service's directories, network and containers in line with its spec
    /// (`plan::converge`), started or stopped as wanted. Returns the number of moves made.
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
        let mut seen = Observed {
            listed: engine
                .containers(&format!("{LABEL_APP}={app}"))
                .await
                .map_err(AppError::engine(app))?,
            dirs: spec
                .volume_dirs
                .iter()
                .filter(|(d, _)| d.exists())
                .map(|(d, _)| d.clone())
                .collect(),
            ..Observed::default()
        };
        for c in &spec.containers {
            let info = engine
                .inspect(&c.name)
                .await
                .map_err(AppError::engine(app))?;
            seen.inspected.insert(c.name.clone(), info);
        }
        let moves = plan::converge(&self.inner.instance, app, &spec, row.running, &seen).map_err(
            |Refusal::Foreign { name }| AppError::Engine {
                app: app.clone(),
                error: crate::engine::EngineError::Refused {
                    op: "create",
                    object: name,
                    message: "a container of that name exists that this box did not create; it is left alone".into(),
                },
            },
        )?;
        let mut made = 0;
        for mv in &moves {
            made += self
                .apply(app, &spec.network, &spec.network_labels, mv)
                .await?;
        }
        let mut observed = BTreeMap::new();
        for c in &spec.containers {
            let info = match seen.inspected.remove(&c.name).flatten() {
                Some(i) if made == 0 => Some(i),
                _ => engine
                    .inspect(&c.name)
                    .await
                    .map_err(AppError::engine(app))?,
            };
            if let Some(i) = info {
                observed.insert(
                    i.labels.get(LABEL_CONTAINER).cloned().unwrap_or_default(),
                    i,
                );
            }
        }
        self.observe(app, observed);
        Ok(made)
    }

    /// Applies one move; returns how many changes it made on the world (0 for a network
    /// that already existed or a note).
    async fn apply(
        &self,
        app: &AppId,
        network: &str,
        network_labels: &BTreeMap<String, String>,
        mv: &Move,
    ) -> Result<usize, AppError> {
        let engine = &self.inner.engine;
        let fail = AppError::engine(app);
        match mv {
            Move::CreateDir { path, owner } => {
                std::fs::create_dir_all(path).map_err(|source| AppError::Io {
                    op: "create",
                    path: path.clone(),
                    source,
                })?;
                if let Some((u, g)) = owner.as_ref().and_then(|o| o.split_once(':')) {
                    let (u, g) = (
                        u.parse().ok().map(nix::unistd::Uid::from_raw),
                        g.parse().ok().map(nix::unistd::Gid::from_raw),
                    );
                    nix::unistd::chown(path, u, g).map_err(|e| AppError::Io {
                        op: "give an owner to",
                        path: path.clone(),
                        source: e.into(),
                    })?;
                }
                Ok(1)
            }
            Move::EnsureNetwork => {
                engine
                    .ensure_network(network, network_labels)
                    .await
                    .map_err(fail)?;
                Ok(0)
            }
            Move::Remove { name, why } => {
                let said = match why {
                    plan::Why::NotInSpec => "not in the service's definition any more",
                    plan::Why::SpecChanged => "its definition changed; it is made again",
                    plan::Why::Teardown => "the service is removed",
                    plan::Why::Leftover => "a leftover: no such service is installed",
                };
                log::info!(app = app.as_str(); "removing {name} ({said})");
                engine.remove(name).await.map_err(fail)?;
                Ok(1)
            }
            Move::Create(c) => {
                self.create_container(app, c).await?;
                Ok(1)
            }
            Move::NoteStopped(info) => {
                self.note_stopped(app, &info.name, info);
                Ok(0)
            }
            Move::Start { name, recreate } => {
                log::info!(app = app.as_str(); "starting {name}");
                match (engine.start(name).await, recreate) {
                    (Ok(()), _) => Ok(1),
                    (Err(e), None) => Err(fail(e)),
                    (Err(e), Some(c)) => {
                        log::warn!(app = app.as_str(); "{name} does not start ({e}); recreating it from its definition");
                        engine.remove(name).await.map_err(&fail)?;
                        self.create_container(app, c).await?;
                        engine.start(name).await.map_err(fail)?;
                        Ok(2)
                    }
                }
            }
            Move::Stop { name, grace_s } => {
                engine.stop(name, *grace_s).await.map_err(fail)?;
                Ok(1)
            }
            Move::RemoveNetwork { name } => {
                log::info!(app = app.as_str(); "removing the network {name}");
                engine.remove_network(name).await.map_err(fail)?;
                Ok(1)
            }
        }
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
        plan::ours(&self.inner.instance, labels, app)
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
        let order: Vec<(String, u32)> = crate::catalog::start_order(m)
            .map_err(|c| AppError::BadManifest {
                app: app.clone(),
                message: format!("cycle through {c}"),
            })?
            .iter()
            .map(|c| (spec::container_name(app, &c.name), c.stop_grace_s))
            .collect();
        let mut inspected = BTreeMap::new();
        for (name, _) in &order {
            let info = self
                .inner
                .engine
                .inspect(name)
                .await
                .map_err(AppError::engine(app))?;
            inspected.insert(name.clone(), info);
        }
        self.apply_all(app, &plan::stops(&order, &inspected)).await
    }

    /// Applies moves that need no network of the service (stops and removals).
    async fn apply_all(&self, app: &AppId, moves: &[Move]) -> Result<usize, AppError> {
        let mut made = 0;
        for mv in moves {
            made += self.apply(app, "", &BTreeMap::new(), mv).await?;
        }
        Ok(made)
    }

    /// Removes every container and the network of `app` (found by label, so leftovers of any
    /// version go too). Host directories are not touched here.
    pub(super) async fn remove_objects(&self, app: &AppId) -> Result<(), AppError> {
        let engine = &self.inner.engine;
        let label = format!("{LABEL_APP}={app}");
        let fail = AppError::engine(app);
        let containers = engine.containers(&label).await.map_err(&fail)?;
        let networks = engine.networks(&label).await.map_err(&fail)?;
        let moves = plan::teardown(&self.inner.instance, app, &containers, &networks);
        self.apply_all(app, &moves).await?;
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
        // Leftovers: our labels, but no such service in the store. A failed removal is
        // tried again at the next pass.
        let engine = &self.inner.engine;
        if let (Ok(containers), Ok(networks)) = (
            engine.containers(LABEL_APP).await,
            engine.networks(LABEL_APP).await,
        ) {
            let keep = |app: &AppId| known.contains(app.as_str()) || self.inner.jobs.busy(app);
            for mv in plan::leftovers(&self.inner.instance, keep, &containers, &networks) {
                let result = match &mv {
                    Move::Remove { name, .. } => {
                        log::info!("removing leftover container {name}");
                        engine.remove(name).await
                    }
                    Move::RemoveNetwork { name } => {
                        log::info!("removing leftover network {name}");
                        engine.remove_network(name).await
                    }
                    _ => Ok(()),
                };
                match result {
                    Ok(()) => report.moves += 1,
                    Err(e) => log::warn!("{e}"),
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
