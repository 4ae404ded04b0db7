//! Install mode: a box booted from the workshop's USB stick installs Panier onto its
//! internal disk, as one named job (`install`, on the box itself: [`crate::jobs::BOX`]).
//!
//! Owns: whether install mode is offered ([`machine`]: the system runs from a removable
//! Panier disk), the candidate targets, the job (`job.rs`: hardware verdict — an unfit machine
//! is refused with its blockers —, wipe with a certificate in the hardware directory, copy and
//! verification, provisioning with the new box's name and a fresh setup code, the
//! refurbishment sheet and the inventory line), its live progress lines, its outcome, the
//! sheet, and the restart into the installed system.
//!
//! Invariants: one install at a time (a second is refused with `install_running`, not
//! queued); the target must be one of the candidates and its serial typed; the domain
//! checks these before the job starts, and `panier-hw`'s safety gate checks again when the
//! disk is claimed. Every start, refusal of the setup code, result and restart is audited.
//! Who may act: the local socket, an admin session, or before setup the setup code (the API's
//! `InstallActor`, the setup wizard's page); this module receives the actor's audit name.
//! Durable: the job row is in the store; the sheet, the certificate and `install-*.json` are
//! in the hardware directory, and so is `install-last.json`, the last install's progress lines
//! and outcome, written when it ends and read back at start, so that the page still shows the
//! result and the sheet after an agent restart (when it is the store's last box job).
//! Limits: the tokens that let a browser follow an install live in memory; after a restart an
//! admin session or the setup code shows the result.

mod job;
pub mod machine;
pub mod preload;

use crate::jobs::{JobError, Jobs};
use crate::names::{BoxName, Language, SetupCode};
use crate::store::{JobRow, NewAudit, Store, StoreError};
pub use machine::{HwMachine, Machine, NotOffered, Source};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where certificates, sheets and the inventory go (the stick's data partition on a box).
pub const HW_DIR: &str = panier_hw::cli::DEFAULT_DIR;
const MAX_LINES: usize = 300;
/// The last install's lines and outcome, in the hardware directory.
const LAST: &str = "install-last.json";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("install mode is not offered: {0}")]
    NotOffered(NotOffered),
    #[error(
        "{0} is not a disk Panier can be installed onto (not one of the internal disks listed)"
    )]
    UnknownDisk(String),
    #[error("the confirmation for {device} is not its serial number")]
    WrongConfirmation { device: String },
    #[error("{device} is too small for a box: {size_gb} GB (32 GB at least)")]
    TooSmall { device: String, size_gb: u64 },
    #[error("an install is already running (job #{id}); wait for it to finish")]
    Running { id: i64 },
    #[error("no install has finished since the agent started")]
    NoResult,
    #[error("the restart failed: {0}")]
    Reboot(String),
    #[error(
        "no usable image pack on a plugged stick holds {0}: plug in the stick with the workshop's pack, or choose no services"
    )]
    NoPack(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A candidate target, as the page, the API and the CLI show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetDisk {
    pub path: String,
    pub name: String,
    pub model: Option<String>,
    /// What to type to confirm (the serial, or the kernel name of a disk without one).
    pub serial: String,
    pub size_bytes: u64,
    /// Below the 32 GB a box needs: listed, but refused.
    pub too_small: bool,
}

/// What a finished install produced.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub job: i64,
    pub box_name: String,
    /// The new box's one-time setup code (also on the sheet and in its EFI partition).
    pub setup_code: String,
    #[schema(value_type = String)]
    pub sheet: PathBuf,
    #[schema(value_type = String)]
    pub inventory: PathBuf,
    #[schema(value_type = String)]
    pub certificate: PathBuf,
    #[schema(value_type = String)]
    pub report: PathBuf,
    pub target: String,
    pub copied_bytes: u64,
    /// Seconds from the start of the job to its end, and of the copy and its read-back.
    pub seconds: f64,
    pub copy_seconds: f64,
    pub verify_seconds: f64,
}

/// Install mode as the API and the page show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstallView {
    pub offered: bool,
    /// Why it is not offered (`internal`, `not_panier`, `no_system_disk`).
    pub not_offered: Option<String>,
    /// The disk the system runs from (the USB stick).
    pub source: Option<String>,
    pub targets: Vec<TargetDisk>,
    /// The running or last install job.
    pub job: Option<JobRow>,
    /// Its progress lines, in the language of whoever started it.
    pub lines: Vec<String>,
    pub outcome: Option<Outcome>,
    /// Services that can be pre-installed from packs on plugged sticks.
    pub preinstallable: Vec<Preinstallable>,
}

/// What starting an install needs.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub target: String,
    pub confirm: String,
    pub box_name: BoxName,
    pub language: Language,
    /// Services to pre-install from a plugged stick's pack (ids).
    pub services: Vec<String>,
}

/// A service the install can pre-install: in a usable pack on a plugged stick.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preinstallable {
    pub id: String,
    pub version: String,
    /// The pack's folder.
    pub pack: String,
}

/// The install-mode handle. Cheap to clone.
#[derive(Clone)]
pub struct Install {
    inner: Arc<Inner>,
}

struct Inner {
    machine: Arc<dyn Machine>,
    jobs: Jobs,
    store: Store,
    hw_dir: PathBuf,
    source: Result<Source, NotOffered>,
    live: Mutex<Live>,
    /// Packs on plugged sticks, for pre-installed services (set once by the daemon).
    packs: std::sync::OnceLock<crate::pack::Packs>,
}

/// The running or last install: its job, progress lines and outcome (what
/// `install-last.json` holds).
#[derive(Default, Clone, Serialize, Deserialize)]
struct Last {
    job: Option<i64>,
    lines: Vec<String>,
    outcome: Option<Outcome>,
}

impl Last {
    /// The last install from `install-last.json`, when its job is the store's last box job
    /// (a file left from another box's store is not shown).
    fn restored(store: &Store, hw_dir: &std::path::Path) -> Last {
        let path = hw_dir.join(LAST);
        let Ok(bytes) = std::fs::read(&path) else {
            return Last::default();
        };
        let saved: Last = match serde_json::from_slice(&bytes) {
            Ok(saved) => saved,
            Err(e) => {
                log::warn!(
                    "{} is not an install result ({e}); left aside",
                    path.display()
                );
                return Last::default();
            }
        };
        let last_job = store
            .jobs_of(crate::jobs::BOX, 1)
            .ok()
            .and_then(|mut jobs| jobs.pop());
        if saved.job.is_none() || last_job.map(|j| j.id) != saved.job {
            return Last::default();
        }
        saved
    }
}

#[derive(Default)]
struct Live {
    last: Last,
    /// Hashes of the tokens that let a browser follow the install (cookie of the page).
    tokens: Vec<String>,
}

pub(crate) fn audit(
    actor: &str,
    action: &'static str,
    target: &str,
    result: Result<(), String>,
) -> NewAudit {
    let (result, detail) = match result {
        Ok(()) => ("ok", String::new()),
        Err(e) => ("failed", e),
    };
    NewAudit {
        actor: actor.to_owned(),
        action,
        target: target.to_owned(),
        result,
        detail,
    }
}

impl Install {
    pub fn new(store: Store, jobs: Jobs, machine: Arc<dyn Machine>, hw_dir: PathBuf) -> Install {
        let source = machine.source();
        match &source {
            Ok(s) => log::warn!(
                "install mode: the system runs from the removable Panier disk {} (slot {:?})",
                s.disk.path,
                s.slot
            ),
            Err(why) => log::info!("install mode not offered: {why}"),
        }
        let live = Mutex::new(Live {
            last: Last::restored(&store, &hw_dir),
            tokens: Vec::new(),
        });
        Install {
            inner: Arc::new(Inner {
                machine,
                jobs,
                store,
                hw_dir,
                source,
                live,
                packs: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Gives install mode the packs handle, for pre-installed services.
    pub fn set_packs(&self, packs: crate::pack::Packs) {
        let _ = self.inner.packs.set(packs);
    }

    /// The usable packs on plugged sticks (blocking: scans the USB disks).
    fn stick_packs(&self) -> Vec<crate::pack::OpenPack> {
        match self.inner.packs.get() {
            Some(p) if self.offered() => p
                .scan_usb()
                .into_iter()
                .filter_map(|f| f.pack.ok())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The services the install can pre-install (blocking).
    pub fn preinstallable(&self) -> Vec<Preinstallable> {
        self.stick_packs()
            .into_iter()
            .flat_map(|p| {
                let dir = p.dir.display().to_string();
                p.index.services.into_iter().map(move |s| Preinstallable {
                    id: s.id.to_string(),
                    version: s.version,
                    pack: dir.clone(),
                })
            })
            .collect()
    }

    /// Writes the ended job's lines and outcome to `install-last.json`.
    fn save(&self) {
        let saved = self.live().last.clone();
        if saved.job.is_none() {
            return;
        }
        let path = self.inner.hw_dir.join(LAST);
        let json = serde_json::to_vec_pretty(&saved).expect("the install's result serializes");
        if let Err(e) = panier_hw::certificate::write_atomic(&path, &json) {
            log::error!("the install's result could not be kept: {e}");
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the box runs from a removable Panier disk (cheap: known at start).
    pub fn offered(&self) -> bool {
        self.inner.source.is_ok()
    }

    pub fn hw_dir(&self) -> &std::path::Path {
        &self.inner.hw_dir
    }

    /// The candidate targets (reads sysfs: call from a blocking-friendly place).
    pub fn targets(&self) -> Vec<TargetDisk> {
        if !self.offered() {
            return Vec::new();
        }
        self.inner
            .machine
            .targets()
            .into_iter()
            .map(|d| TargetDisk {
                serial: d.confirmation_token().to_owned(),
                too_small: d.size_bytes < panier_hw::verdict::MIN_DISK,
                path: d.path,
                name: d.name,
                model: d.model,
                size_bytes: d.size_bytes,
            })
            .collect()
    }

    pub fn view(&self) -> Result<InstallView, InstallError> {
        let targets = self.targets();
        let Last {
            job,
            lines,
            outcome,
        } = self.live().last.clone();
        let job = match job {
            Some(id) => self.inner.jobs.get(id)?,
            None => self.inner.store.jobs_of(crate::jobs::BOX, 1)?.pop(),
        };
        Ok(InstallView {
            offered: self.offered(),
            not_offered: self.inner.source.as_ref().err().map(|e| e.key().to_owned()),
            source: self.inner.source.as_ref().ok().map(|s| s.disk.path.clone()),
            targets,
            job,
            lines,
            outcome,
            preinstallable: self.preinstallable(),
        })
    }

    /// Starts the install job; returns its id.
    pub fn start(&self, actor: &str, req: StartRequest) -> Result<i64, InstallError> {
        let result = self.start_inner(actor, &req);
        let detail = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
        self.inner
            .store
            .record(&audit(actor, "install_start", &req.target, detail))?;
        result
    }

    fn start_inner(&self, actor: &str, req: &StartRequest) -> Result<i64, InstallError> {
        let source = self
            .inner
            .source
            .clone()
            .map_err(InstallError::NotOffered)?;
        let target = self
            .targets()
            .into_iter()
            .find(|t| t.path == req.target || t.name == req.target)
            .ok_or_else(|| InstallError::UnknownDisk(req.target.clone()))?;
        if req.confirm.trim() != target.serial {
            return Err(InstallError::WrongConfirmation {
                device: target.name,
            });
        }
        if target.too_small {
            return Err(InstallError::TooSmall {
                device: target.name,
                size_gb: target.size_bytes / 1_000_000_000,
            });
        }
        let preload = if req.services.is_empty() {
            None
        } else {
            let pack = self
                .stick_packs()
                .into_iter()
                .find(|p| {
                    req.services
                        .iter()
                        .all(|id| p.index.services.iter().any(|s| s.id.as_str() == id))
                })
                .ok_or_else(|| InstallError::NoPack(req.services.join(", ")))?;
            Some((pack, req.services.clone()))
        };
        let job = self
            .inner
            .jobs
            .begin_box("install", actor)
            .map_err(|e| match e {
                JobError::Busy { id, .. } => InstallError::Running { id },
                JobError::Store(s) => InstallError::Store(s),
            })?;
        let id = job.id;
        self.live().last = Last {
            job: Some(id),
            ..Last::default()
        };
        let work = job::Work {
            install: self.clone(),
            source,
            target,
            box_name: req.box_name.clone(),
            setup_code: SetupCode::generate(),
            language: req.language,
            actor: actor.to_owned(),
            preload,
        };
        std::thread::Builder::new()
            .name("install".into())
            .spawn(move || work.run(job))
            .map_err(|e| InstallError::Reboot(format!("cannot start the install thread: {e}")))?;
        Ok(id)
    }

    fn say(&self, line: &str) {
        if line.is_empty() {
            return;
        }
        let lines = &mut self.live().last.lines;
        if lines.len() >= MAX_LINES {
            lines.remove(0);
        }
        lines.push(line.to_owned());
    }

    /// The last install's sheet (HTML).
    pub fn sheet(&self) -> Result<String, InstallError> {
        let outcome = self
            .live()
            .last
            .outcome
            .clone()
            .ok_or(InstallError::NoResult)?;
        std::fs::read_to_string(&outcome.sheet).map_err(|_| InstallError::NoResult)
    }

    /// Restarts the box, a second from now (so that the answer reaches the browser).
    pub fn restart(&self, actor: &str) -> Result<(), InstallError> {
        // Only what it is for: the end of install mode. An installed box restarts through its
        // own pages (updates), never through this route.
        let result = match (&self.inner.source, self.inner.jobs.box_job()) {
            (Err(why), _) => Err(InstallError::NotOffered(why.clone())),
            (Ok(_), Some(id)) => Err(InstallError::Running { id }),
            (Ok(_), None) => Ok(()),
        };
        self.inner.store.record(&audit(
            actor,
            "install_restart",
            "",
            result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        ))?;
        result?;
        let machine = self.inner.machine.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(1));
            if let Err(e) = machine.reboot() {
                log::error!("restart after the install failed: {e}");
            }
        });
        Ok(())
    }

    /// A token that lets the browser which started (or proved the setup code) follow the
    /// install and see its result: the page's cookie.
    pub fn grant(&self) -> String {
        let token = crate::auth::random_token();
        let mut live = self.live();
        if live.tokens.len() > 32 {
            live.tokens.remove(0);
        }
        live.tokens.push(crate::auth::token_hash(&token));
        token
    }

    pub fn granted(&self, token: &str) -> bool {
        let hash = crate::auth::token_hash(token);
        self.live()
            .tokens
            .iter()
            .any(|t| crate::auth::same_token(t, &hash))
    }
}
