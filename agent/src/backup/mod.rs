//! Backups: encrypted, deduplicated snapshots in restic's repository format, on one or more
//! targets (a folder, a USB disk, SFTP, a restic REST server), nightly and on demand, with an
//! emergency kit, alerts, and restore of one service or of the whole box.
//!
//! Engine: the `restic` program, one child process per operation, driven with `--json`
//! (`restic.rs`; ARCHITECTURE.md says why). The agent never loads repository data itself, so
//! a crash or a memory spike during a backup cannot take it down; each run records restic's
//! peak memory.
//!
//! What a run saves (`run.rs`), as separate snapshots tagged `panier` and `run=<id>`:
//! - `part=state`: a consistent copy of the SQLite database (online backup API), a manifest,
//!   and `<data>/{secrets,certs,settings}` when present;
//! - `part=app`, `app=<id>`: each service's volumes, made consistent by its plan (`hooks.rs`):
//!   cold services are stopped and ALWAYS restarted; hot ones run their pre/post commands.
//!
//! Invariants:
//! - One backup or restore at a time (a second is refused with `backup_busy`, not queued).
//! - The repository password never reaches a log, an error message or a command line.
//! - A missing target is an error and an alert, never a new empty repository elsewhere.
//! - A restore first takes a safety snapshot of what it replaces, and restarts the service;
//!   so do service updates and data deletions (`safety.rs`, called by `apps`).
//!
//! Limits: the REST target is passed to restic as is and is not exercised by a test here (no
//! REST server on the build machine).

mod alerts;
mod confine;
pub mod hooks;
mod kit;
pub mod location;
pub mod restic;
mod restore;
mod retention;
mod run;
mod safety;
pub mod target;

pub use alerts::{Alert, alerts_from};
pub use hooks::{BackupPlan, ExecCmd, Mode, ServiceHooks};
pub use kit::Kit;
pub use restic::{Progress, Snapshot};
pub use run::RunReport;
pub use target::{Location, UsbDisk};

use crate::admins::Actor;
use crate::store::{NewAudit, RunRow, Store, StoreError, TargetRow};
use restic::ResticError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use target::{Places, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no backup target named {0}")]
    NoSuchTarget(String),
    #[error("a backup target named {0} already exists")]
    TargetExists(String),
    #[error("no backup target is set up yet")]
    NoTarget,
    #[error("a backup or restore is already running; wait for it to finish")]
    Busy,
    #[error("invalid target name '{0}': use 1 to 32 lowercase letters, digits or dashes")]
    BadName(String),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("backup target {target}: {source}")]
    Restic { target: String, source: ResticError },
    #[error("service {app}: {op} failed: {detail}")]
    Hook {
        app: String,
        op: &'static str,
        detail: String,
    },
    #[error("there is no snapshot {0} here")]
    NoSuchSnapshot(String),
    #[error("the backup holds no Panier box state (no snapshot tagged part=state)")]
    NoBoxState,
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the restore was refused, nothing was changed: {0}")]
    Confined(String),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// The stable key of the error (API, UI, run history).
    pub fn key(&self) -> &'static str {
        match self {
            BackupError::NoSuchTarget(_) => "backup_target_unknown",
            BackupError::TargetExists(_) => "backup_target_exists",
            BackupError::NoTarget => "backup_no_target",
            BackupError::Busy => "backup_busy",
            BackupError::BadName(_) => "backup_target_name",
            BackupError::Target(TargetError::Missing(_)) => "backup_target_missing",
            BackupError::Target(TargetError::Invalid(_)) => "backup_target_invalid",
            BackupError::Target(TargetError::Field(invalid)) => invalid.key,
            BackupError::Target(TargetError::Command { .. }) => "backup_target_failed",
            BackupError::Restic { source, .. } => source.key(),
            BackupError::Hook { .. } => "backup_service_hook",
            BackupError::NoSuchSnapshot(_) => "backup_snapshot_unknown",
            BackupError::NoBoxState => "backup_no_box_state",
            BackupError::Confined(_) => "backup_restore_confined",
            BackupError::Io { .. } | BackupError::Failed(_) | BackupError::Store(_) => {
                "backup_failed"
            }
        }
    }
}

pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { op, path, source }
}

/// A target as the API, CLI and UI show it (never the password).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetView {
    pub name: String,
    pub location: Location,
    pub description: String,
    pub created_at: i64,
    pub kit_confirmed: bool,
    pub last_ok_at: Option<i64>,
    pub last_status: Option<String>,
}

/// The Backups page's and `panier backup status`'s figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupStatus {
    pub targets: Vec<TargetView>,
    /// Hour of the nightly backup (0–23, box time).
    pub hour: u8,
    pub running: bool,
    pub progress: Option<Progress>,
    pub runs: Vec<RunRow>,
    pub alerts: Vec<Alert>,
}

/// The backups handle. Cheap to clone.
#[derive(Clone)]
pub struct Backups {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    places: Places,
    hooks: Arc<dyn ServiceHooks>,
    /// Held for the whole of a backup or restore.
    busy: tokio::sync::Mutex<()>,
    progress: Arc<Mutex<Option<Progress>>>,
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

pub(crate) fn audit(
    actor: &str,
    action: &'static str,
    target: &str,
    result: &Result<impl Sized, BackupError>,
) -> NewAudit {
    let (result, detail) = match result {
        Ok(_) => ("ok", String::new()),
        Err(e) => ("failed", e.to_string()),
    };
    NewAudit {
        actor: actor.to_owned(),
        action,
        target: target.to_owned(),
        result,
        detail,
    }
}

impl Backups {
    pub fn new(store: Store, data_dir: PathBuf, hooks: Arc<dyn ServiceHooks>) -> Backups {
        let places = Places::new(&data_dir);
        match store.fail_interrupted_backup_runs() {
            Ok(0) => {}
            Ok(n) => log::error!(
                "{n} backup run(s) were interrupted by a stop of the agent; they are marked failed"
            ),
            Err(e) => log::error!("{e}"),
        }
        Backups {
            inner: Arc::new(Inner {
                store,
                data_dir,
                places,
                hooks,
                busy: Default::default(),
                progress: Default::default(),
            }),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    fn row(&self, name: &str) -> Result<TargetRow, BackupError> {
        self.inner
            .store
            .backup_target(name)?
            .ok_or_else(|| BackupError::NoSuchTarget(name.to_owned()))
    }

    fn location(row: &TargetRow) -> Result<Location, BackupError> {
        serde_json::from_str(&row.location).map_err(|e| {
            BackupError::Failed(format!(
                "target {} has an unreadable location: {e}",
                row.name
            ))
        })
    }

    /// Opens a target for use (mounting a USB disk until the result is dropped).
    async fn open(
        &self,
        location: &Location,
        password: &str,
        create: bool,
    ) -> Result<target::Opened, BackupError> {
        let (l, p, places) = (
            location.clone(),
            password.to_owned(),
            self.inner.places.clone(),
        );
        Ok(
            tokio::task::spawn_blocking(move || target::open(&l, &p, &places, create))
                .await
                .expect("open task")?,
        )
    }

    /// Runs a blocking restic call on a worker thread, tagging errors with the target.
    async fn restic<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> Result<T, ResticError> + Send + 'static,
    ) -> Result<T, BackupError> {
        tokio::task::spawn_blocking(f)
            .await
            .expect("restic task")
            .map_err(|source| BackupError::Restic {
                target: name.to_owned(),
                source,
            })
    }

    /// Adds a target: initialises a repository there with a generated password, or opens an
    /// existing one with `password` (a repository made elsewhere by restic). Returns the kit,
    /// which the admin must then confirm as printed or saved.
    pub async fn add_target(
        &self,
        actor: &Actor,
        name: &str,
        location: Location,
        password: Option<String>,
    ) -> Result<Kit, BackupError> {
        let result = self.add_target_inner(name, location, password).await;
        self.inner.store.record(&audit(
            &actor.audit_name(),
            "backup_target_add",
            name,
            &result,
        ))?;
        result
    }

    async fn add_target_inner(
        &self,
        name: &str,
        location: Location,
        password: Option<String>,
    ) -> Result<Kit, BackupError> {
        if !valid_name(name) {
            return Err(BackupError::BadName(name.to_owned()));
        }
        location.validate().map_err(TargetError::from)?;
        if self.inner.store.backup_target(name)?.is_some() {
            return Err(BackupError::TargetExists(name.to_owned()));
        }
        let password = password
            .filter(|p| !p.is_empty())
            .unwrap_or_else(kit::generate_password);
        let opened = self.open(&location, &password, true).await?;
        let repo = opened.repo.clone();
        let created = self
            .restic(name, move || restic::init_or_open(&repo))
            .await?;
        drop(opened);
        let json = serde_json::to_string(&location).expect("JSON");
        self.inner
            .store
            .add_backup_target(name, location.kind(), &json, &password)?
            .ok_or_else(|| BackupError::TargetExists(name.to_owned()))?;
        log::info!(target_name = name; "backup target {name} added at {} ({})", location.describe(), if created { "new repository" } else { "existing repository" });
        self.kit(name)
    }

    /// Formats a plugged USB disk (after the admin typed its device path again) and makes it
    /// a target. Only disks `lsblk` reports on the USB bus are accepted (loop devices too when
    /// `PANIER_BACKUP_ALLOW_LOOP=1`, for the tests).
    pub async fn add_usb_target(
        &self,
        actor: &Actor,
        device: &str,
        confirm: &str,
        name: &str,
    ) -> Result<Kit, BackupError> {
        let result = async {
            if device != confirm {
                return Err(BackupError::Target(TargetError::Invalid(
                    "the confirmation does not repeat the disk's name: nothing was erased".into(),
                )));
            }
            let allowed = target::usb_disks().iter().any(|d| d.device == device)
                || (std::env::var_os("PANIER_BACKUP_ALLOW_LOOP").is_some_and(|v| v == "1")
                    && device.starts_with("/dev/loop")
                    && device[9..].chars().all(|c| c.is_ascii_digit()));
            if !allowed {
                return Err(BackupError::Target(TargetError::Invalid(format!(
                    "{device} is not a plugged USB disk"
                ))));
            }
            if !valid_name(name) {
                return Err(BackupError::BadName(name.to_owned()));
            }
            let label = format!("panier-{name}");
            let dev = PathBuf::from(device);
            let l = label.clone();
            let uuid = tokio::task::spawn_blocking(move || target::format_disk(&dev, &l))
                .await
                .expect("format task")?;
            log::info!("formatted {device} for backups (UUID {uuid})");
            self.add_target_inner(name, Location::Usb { uuid, label }, None)
                .await
        }
        .await;
        self.inner.store.record(&audit(
            &actor.audit_name(),
            "backup_usb_format",
            device,
            &result,
        ))?;
        result
    }

    /// The box's public SSH key for SFTP targets (created on first use).
    pub fn ssh_public_key(&self) -> Result<String, BackupError> {
        Ok(self.inner.places.ssh_public_key()?)
    }

    pub fn remove_target(&self, actor: &Actor, name: &str) -> Result<(), BackupError> {
        let result = match self.inner.store.remove_backup_target(name) {
            Ok(true) => Ok(()),
            Ok(false) => Err(BackupError::NoSuchTarget(name.to_owned())),
            Err(e) => Err(e.into()),
        };
        self.inner.store.record(&audit(
            &actor.audit_name(),
            "backup_target_remove",
            name,
            &result,
        ))?;
        result
    }

    pub fn kit(&self, name: &str) -> Result<Kit, BackupError> {
        let row = self.row(name)?;
        let box_name = self
            .inner
            .store
            .box_settings()?
            .name
            .map(|n| n.to_string())
            .unwrap_or_else(|| "panier".into());
        Ok(Kit::new(&box_name, &row, Self::location(&row)?))
    }

    pub fn confirm_kit(&self, actor: &Actor, name: &str) -> Result<(), BackupError> {
        let result = match self.inner.store.confirm_backup_kit(name) {
            Ok(true) => Ok(()),
            Ok(false) => Err(BackupError::NoSuchTarget(name.to_owned())),
            Err(e) => Err(e.into()),
        };
        self.inner.store.record(&audit(
            &actor.audit_name(),
            "backup_kit_confirm",
            name,
            &result,
        ))?;
        result
    }

    pub fn targets(&self) -> Result<Vec<TargetView>, BackupError> {
        let runs = self.inner.store.backup_runs(500)?;
        self.inner
            .store
            .backup_targets()?
            .into_iter()
            .map(|row| {
                let mine: Vec<&RunRow> = runs
                    .iter()
                    .filter(|r| r.target_id == row.id && r.reason != "check")
                    .collect();
                let location = Self::location(&row)?;
                Ok(TargetView {
                    name: row.name.clone(),
                    description: location.describe(),
                    location: location.redacted(),
                    created_at: row.created_at,
                    kit_confirmed: row.kit_confirmed_at.is_some(),
                    last_ok_at: mine
                        .iter()
                        .find(|r| r.status == "ok")
                        .and_then(|r| r.finished_at),
                    last_status: mine.first().map(|r| r.status.clone()),
                })
            })
            .collect()
    }

    pub fn hour(&self) -> Result<u8, BackupError> {
        Ok(self
            .inner
            .store
            .setting("backup_hour")?
            .and_then(|h| h.parse().ok())
            .filter(|h| *h < 24)
            .unwrap_or(3))
    }

    pub fn set_hour(&self, actor: &Actor, hour: u8) -> Result<(), BackupError> {
        let result = if hour < 24 {
            self.inner
                .store
                .set_setting("backup_hour", &hour.to_string())
                .map_err(Into::into)
        } else {
            Err(BackupError::Failed(format!("{hour} is not an hour (0–23)")))
        };
        self.inner.store.record(&audit(
            &actor.audit_name(),
            "backup_schedule",
            &hour.to_string(),
            &result,
        ))?;
        result
    }

    pub fn status(&self) -> Result<BackupStatus, BackupError> {
        let progress = self
            .inner
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(BackupStatus {
            targets: self.targets()?,
            hour: self.hour()?,
            running: progress.is_some(),
            progress,
            runs: self.inner.store.backup_runs(30)?,
            alerts: self.alerts()?,
        })
    }

    /// The active alerts, from the store only (cheap: every admin page asks).
    pub fn alerts(&self) -> Result<Vec<Alert>, BackupError> {
        Ok(alerts_from(
            &self.inner.store.backup_targets()?,
            &self.inner.store.backup_runs(200)?,
            crate::store::now(),
        ))
    }

    /// The snapshots of a target, newest first.
    pub async fn snapshots(&self, name: &str) -> Result<Vec<Snapshot>, BackupError> {
        let row = self.row(name)?;
        let opened = self
            .open(&Self::location(&row)?, &row.password, false)
            .await?;
        let repo = opened.repo.clone();
        let mut list = self.restic(name, move || restic::snapshots(&repo)).await?;
        list.sort_by(|a, b| b.time.cmp(&a.time));
        Ok(list)
    }
}
