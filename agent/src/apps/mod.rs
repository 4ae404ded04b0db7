//! Services on the box: their wanted state, the jobs that change it, and the reconciler that
//! makes the container engine match it.
//!
//! Owns: the `apps`, `app_secrets`, `app_images` tables (through `store`), the host
//! directories `<data_dir>/apps/<app>/`, and every engine object labelled `org.panier.app`
//! and `org.panier.box=<this agent's instance id>`. Other objects are never touched (not even
//! another agent's on a shared engine, as in the tests).
//!
//! Flow: an API handler calls [`Apps::install`] (or start/stop/…): the settings are checked,
//! the wanted state is recorded, and a named job (`jobs`) carries it out, reporting progress.
//! The reconciler (`reconcile`) runs at start, on engine events about our containers, after
//! every job and every minute; it recreates what is missing or changed and removes what is
//! left over. Specs come from a pure function (`spec::app_spec`) of the manifest stored with
//! the service (not the catalog on disk: a service only changes version through an update).
//!
//! Crash safety: an install, update or removal records its phase first. A process killed in
//! the middle leaves that phase; at start, [`Apps::start_background`] resumes it (an install
//! is completed, or rolled back if it fails; an update is completed or reverted; a removal is
//! completed).
//!
//! Addresses (`address`): the containers are made with the address recorded for the service;
//! when the wanted one changes (box name, mDNS rename, a public name from [`PublicNames`]),
//! a `follow_address` job moves it as its manifest's `[address]` says, or it keeps its own
//! (`follow = "fixed"`, [`Apps::address_refusal`] says why).
//!
//! Interfaces for the other domains (all cheap, from the store and the last observation):
//! - reverse proxy: [`Apps::web_routes`], and [`Apps::changes`] to know when to re-read it;
//! - firewall: [`Apps::published_ports`], [`Apps::installed_ids`];
//! - backups: `Apps` implements [`crate::backup::ServiceHooks`] (`backup.rs`: plans from the
//!   stored manifests, stop/start holding a job against the reconciler, exec in a container);
//!   in the other direction, update and data-deletion jobs take a safety snapshot through
//!   [`SafetyBackups`], set by the daemon with [`Apps::set_safety_backups`].
//!
//! Limits: one engine; image pulls cannot be resumed; health checks are not run on podman
//! without systemd (the wait is then for "running" only).

mod address;
mod backup;
pub mod failure;
mod incidents;
mod lifecycle;
mod offline;
mod plan;
mod preload;
mod reconcile;
mod setup;
pub mod spec;
#[cfg(test)]
mod tests;
mod view;

pub use address::PublicNames;
pub use backup::{SafetyBackups, SafetyPoint};
pub use incidents::{AppIncidents, OomKill};
pub use offline::Offer;
pub use setup::StepKind;
pub use view::{AppStatus, CatalogCard, ContainerView};

use crate::catalog::manifest::{Manifest, Text};
use crate::catalog::{AppId, Catalog, Proto};
use crate::engine::{Engine, EngineError, EngineInfo};
use crate::jobs::{Job, JobError, Jobs};
use crate::store::{AppRow, Phase, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Notify, watch};

/// Free space always kept on the data disk beyond what a service declares.
pub const DISK_RESERVE_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("there is no service '{0}' in the catalog")]
    NotInCatalog(String),
    #[error("the service '{0}' is not installed")]
    NotInstalled(AppId),
    #[error("the service '{0}' is already installed")]
    AlreadyInstalled(AppId),
    #[error(transparent)]
    Setting(#[from] spec::SettingError),
    #[error(
        "not enough free disk space for '{app}': {free_mb} MiB free, {needed_mb} MiB needed (its {app_mb} MiB, plus 1 GiB or 5 % of the disk kept free). Free some space or remove a service first."
    )]
    DiskLow {
        app: AppId,
        free_mb: u64,
        needed_mb: u64,
        app_mb: u64,
    },
    #[error(transparent)]
    Busy(#[from] JobError),
    #[error("to delete the data of '{0}', confirm by giving its id")]
    ConfirmDelete(AppId),
    #[error("'{app}' is already at the catalog's version {version}")]
    UpToDate { app: AppId, version: String },
    #[error(
        "the container engine is not reachable: {0}. Check that the container engine service is running (systemctl status docker); services will start by themselves when it is back."
    )]
    EngineDown(String),
    #[error("{app}: {error}")]
    Engine { app: AppId, error: EngineError },
    #[error("'{app}' did not start: {why}")]
    NotReady { app: AppId, why: NotReady },
    #[error("'{app}' has no container named '{container}'")]
    NoSuchContainer { app: AppId, container: String },
    #[error("the stored definition of '{app}' cannot be read: {message}")]
    BadManifest { app: AppId, message: String },
    #[error(
        "'{app}': {kind:?} step {number} failed in its container {container} (exit code {code}): {output}"
    )]
    Step {
        app: AppId,
        kind: setup::StepKind,
        number: usize,
        container: String,
        code: i64,
        output: String,
    },
    #[error("'{app}' cannot be updated from version {from}: {}", reason.en)]
    UpdateRefused {
        app: AppId,
        from: String,
        reason: Text,
    },
    #[error("the safety backup of '{app}' failed, so nothing was changed: {message}")]
    SafetyBackup { app: AppId, message: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{app}: {error}")]
    Pack {
        app: AppId,
        error: Box<crate::pack::PackError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a service did not become ready after an install, start or update.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("its container {container} stopped (exit code {code}); last lines: {logs}")]
    Exited {
        container: String,
        code: i64,
        logs: String,
    },
    #[error("its container {container} fails its health check")]
    Unhealthy { container: String },
    #[error("it is not ready after {secs} s")]
    Timeout { secs: u64 },
}

impl AppError {
    fn engine(app: &AppId) -> impl Fn(EngineError) -> AppError + '_ {
        move |error| {
            if error.is_unreachable() {
                AppError::EngineDown(error.to_string())
            } else {
                AppError::Engine {
                    app: app.clone(),
                    error,
                }
            }
        }
    }
}

/// A web entry point for the reverse proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebRoute {
    pub app: AppId,
    /// Display name and description.
    pub name: Text,
    pub description: Text,
    /// The container's address on its service network, and the port.
    pub upstream: SocketAddr,
    pub max_body_bytes: u64,
    pub websocket: bool,
    /// Why the service does not work on its fixed port, when it does not.
    pub fixed_port_refusal: Option<Text>,
    /// Why it keeps the address it was installed with, when it does
    /// ([`Apps::address_refusals`]).
    pub address_kept: Option<Text>,
}

/// A host port published by a service, for the firewall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub app: AppId,
    pub proto: Proto,
    pub host_port: u16,
}

/// Whether the engine answered at the last look.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum EngineStatus {
    Unknown,
    Up { info: EngineInfo },
    Down { message: String },
}

#[derive(Clone)]
pub struct Apps {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    engine: Arc<dyn Engine>,
    jobs: Jobs,
    catalog: Arc<Catalog>,
    data_dir: PathBuf,
    wake: Notify,
    /// The last observation of each service's containers (by manifest container name).
    observed: RwLock<HashMap<AppId, BTreeMap<String, crate::engine::ContainerInfo>>>,
    engine_status: RwLock<EngineStatus>,
    changes: watch::Sender<u64>,
    /// Jobs held while a service is stopped for its backup or a restore.
    paused: Mutex<HashMap<AppId, Job>>,
    /// Safety snapshots before updates and data deletions (set once backups exist).
    safety: std::sync::OnceLock<Arc<dyn SafetyBackups>>,
    /// Public names of services (set once the reach domain exists).
    public_names: std::sync::OnceLock<Arc<dyn PublicNames>>,
    /// Image packs (set once by the daemon): packed entries, loads, resolution.
    packs: std::sync::OnceLock<crate::pack::Packs>,
    /// This agent's instance id, on every object it creates (`org.panier.box`).
    instance: String,
    /// One converge at a time per service: a job, a restore and the reconciler bringing the
    /// same service up together would each create its network (the engine accepts two of the
    /// same name) and its containers.
    converging: Mutex<HashMap<AppId, Arc<tokio::sync::Mutex<()>>>>,
    incidents: Mutex<incidents::Incidents>,
}

impl Apps {
    pub fn new(
        store: Store,
        engine: Arc<dyn Engine>,
        jobs: Jobs,
        catalog: Arc<Catalog>,
        data_dir: PathBuf,
    ) -> Result<Apps, StoreError> {
        let instance =
            store.setting_or_insert("apps_instance", &hex::encode(rand::random::<[u8; 6]>()))?;
        Ok(Apps {
            inner: Arc::new(Inner {
                store,
                engine,
                jobs,
                catalog,
                data_dir,
                wake: Notify::new(),
                observed: RwLock::default(),
                engine_status: RwLock::new(EngineStatus::Unknown),
                changes: watch::channel(0).0,
                paused: Mutex::default(),
                safety: std::sync::OnceLock::new(),
                public_names: std::sync::OnceLock::new(),
                packs: std::sync::OnceLock::new(),
                instance,
                converging: Mutex::default(),
                incidents: Mutex::default(),
            }),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    pub fn engine_status(&self) -> EngineStatus {
        self.inner
            .engine_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks the reconciler for a pass soon.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Bumped whenever routes, addresses or published ports may have changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    fn bump(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
    }

    fn manifest_of(&self, row: &AppRow) -> Result<Manifest, AppError> {
        serde_json::from_str(&row.manifest).map_err(|e| AppError::BadManifest {
            app: row.id.clone(),
            message: e.to_string(),
        })
    }

    fn installed(&self) -> Vec<(AppRow, Manifest)> {
        let rows = self.inner.store.apps().unwrap_or_else(|e| {
            log::error!("{e}");
            Vec::new()
        });
        rows.into_iter()
            .filter(|r| r.phase != Phase::Removing)
            .filter_map(|r| self.manifest_of(&r).ok().map(|m| (r, m)))
            .collect()
    }

    /// Ids of the services installed (or being installed).
    pub fn installed_ids(&self) -> Vec<AppId> {
        self.installed().into_iter().map(|(r, _)| r.id).collect()
    }

    /// Web entry points of running services, from the last observation.
    pub fn web_routes(&self) -> Vec<WebRoute> {
        let kept: std::collections::BTreeMap<AppId, Text> =
            self.address_refusals().into_iter().collect();
        let observed = self
            .inner
            .observed
            .read()
            .unwrap_or_else(|p| p.into_inner());
        self.installed()
            .into_iter()
            .filter_map(|(row, m)| {
                let web = m.web.as_ref()?;
                let info = observed.get(&row.id)?.get(&web.container)?;
                let ip = info.addresses.get(&spec::network_name(&row.id))?;
                Some(WebRoute {
                    app: row.id.clone(),
                    name: m.name.clone(),
                    description: m.description.clone(),
                    upstream: SocketAddr::new(*ip, web.port),
                    max_body_bytes: web.max_body_mb * 1024 * 1024,
                    websocket: web.websocket,
                    fixed_port_refusal: m
                        .address
                        .as_ref()
                        .filter(|a| !a.fixed_port)
                        .and_then(|a| a.fixed_port_reason.clone()),
                    address_kept: kept.get(&row.id).cloned(),
                })
            })
            .collect()
    }

    /// Host ports published by installed services.
    pub fn published_ports(&self) -> Vec<PublishedPort> {
        self.installed()
            .into_iter()
            .flat_map(|(row, m)| {
                m.publish.into_iter().map(move |p| PublishedPort {
                    app: row.id.clone(),
                    proto: p.proto,
                    host_port: p.host_port,
                })
            })
            .collect()
    }

    fn row_and_manifest(&self, app: &AppId) -> Result<(AppRow, Manifest), AppError> {
        let row = self
            .inner
            .store
            .app(app)?
            .ok_or_else(|| AppError::NotInstalled(app.clone()))?;
        let m = self.manifest_of(&row)?;
        Ok((row, m))
    }

    fn health_checks(&self) -> bool {
        match &*self
            .inner
            .engine_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
        {
            EngineStatus::Up { info } => info.runs_health_checks,
            _ => true,
        }
    }

    /// Calls `f` with what a service's templates are filled from (its settings, secrets and
    /// recorded address).
    pub(super) fn with_inputs<T>(
        &self,
        row: &AppRow,
        f: impl FnOnce(&spec::SpecInputs<'_>) -> Result<T, spec::SpecError>,
    ) -> Result<T, AppError> {
        let secrets = self.inner.store.app_secrets(&row.id)?;
        let domain = self.domain(&row.id);
        let inputs = spec::SpecInputs {
            data_dir: &self.inner.data_dir,
            domain: &domain,
            settings: &row.settings,
            secrets: &secrets,
            health_checks: self.health_checks(),
            instance: &self.inner.instance,
        };
        f(&inputs).map_err(|e| AppError::BadManifest {
            app: row.id.clone(),
            message: e.to_string(),
        })
    }

    fn app_spec(&self, row: &AppRow, m: &Manifest) -> Result<spec::AppSpec, AppError> {
        self.with_inputs(row, |inputs| spec::app_spec(m, inputs))
    }
}

impl Apps {
    /// Start, stop, restart or update, by name, audited: what the API's and the pages'
    /// action buttons call. `None` for an unknown action.
    pub fn action(&self, app: &AppId, action: &str, actor: &str) -> Option<Result<i64, AppError>> {
        let (result, audit) = match action {
            "start" => (self.set_running(app, "start", actor), "app_start"),
            "stop" => (self.set_running(app, "stop", actor), "app_stop"),
            "restart" => (self.set_running(app, "restart", actor), "app_restart"),
            "update" => (self.update(app, actor), "app_update"),
            _ => return None,
        };
        self.audit(actor, audit, app.as_str(), &result);
        Some(result)
    }

    /// Uninstalls, audited (see [`Apps::remove`]).
    pub fn remove_audited(
        &self,
        app: &AppId,
        delete_data: bool,
        confirm: Option<&str>,
        actor: &str,
    ) -> Result<i64, AppError> {
        let result = self.remove(app, delete_data, confirm, actor);
        self.audit(
            actor,
            if delete_data {
                "app_remove_with_data"
            } else {
                "app_remove"
            },
            app.as_str(),
            &result,
        );
        result
    }

    /// Installs, audited (see [`Apps::install`]).
    pub fn install_audited(
        &self,
        id: &str,
        settings: &BTreeMap<String, String>,
        actor: &str,
    ) -> Result<i64, AppError> {
        let result = self.install(id, settings, actor);
        self.audit(actor, "app_install", id, &result);
        result
    }

    /// Whether the data of a service that is not installed was kept (`<data_dir>/apps/<id>`),
    /// so that the UI can offer to delete it.
    pub fn has_kept_data(&self, app: &AppId) -> bool {
        spec::app_dir(&self.inner.data_dir, app).exists()
    }

    /// Records an admin action on a service in the audit log, with its result.
    pub fn audit<T>(
        &self,
        actor: &str,
        action: &'static str,
        target: &str,
        result: &Result<T, AppError>,
    ) {
        let (res, detail) = match result {
            Ok(_) => ("ok", String::new()),
            Err(
                AppError::Busy(_)
                | AppError::DiskLow { .. }
                | AppError::ConfirmDelete(_)
                | AppError::Setting(_)
                | AppError::AlreadyInstalled(_)
                | AppError::UpToDate { .. }
                | AppError::UpdateRefused { .. },
            ) => (
                "refused",
                result
                    .as_ref()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            ),
            Err(e) => ("failed", e.to_string()),
        };
        let entry = crate::store::NewAudit {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            result: res,
            detail,
        };
        if let Err(e) = self.inner.store.record(&entry) {
            log::error!("{e}");
        }
    }
}
