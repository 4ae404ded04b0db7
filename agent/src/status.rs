//! The box's status as the dashboard, `panier status` and `GET /api/v1/status` show it:
//! mode (normal or diagnostic), name, version, readings and health issues.

use crate::diagnostic::Diagnosis;
use crate::health::{self, Issue};
use crate::names::{BoxName, Language};
use crate::store::{Store, StoreError};
use crate::system::{self, Readings};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Normal,
    Diagnostic,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusReport {
    pub mode: Mode,
    pub version: String,
    pub box_name: Option<String>,
    pub setup_done: bool,
    /// The box's default language.
    pub language: String,
    /// What went wrong, in diagnostic mode.
    pub diagnosis: Option<Diagnosis>,
    pub readings: Readings,
    pub issues: Vec<Issue>,
    /// Seconds since the agent started.
    pub agent_uptime_secs: u64,
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
}

/// Whether the agent is up, for `GET /api/v1/health` (also in diagnostic mode).
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `diagnostic` when the agent could not use its database.
    pub status: String,
    pub version: String,
    pub setup_done: bool,
    /// The box runs from a removable Panier disk (the workshop's USB stick) and offers to
    /// install itself onto an internal disk (`/admin/setup/install`).
    pub install_mode: bool,
}

/// The handle that builds status reports.
#[derive(Clone)]
pub struct Status {
    store: Option<Store>,
    diagnosis: Option<Diagnosis>,
    data_dir: PathBuf,
    started: Instant,
    provisioned_name: Option<BoxName>,
    /// Setup never becomes undone, so once seen it is remembered (the health endpoint is hot).
    setup_seen: Arc<AtomicBool>,
    /// The health centre, once the daemon has built it (its checks give the issues).
    health: Arc<std::sync::OnceLock<crate::health::Health>>,
}

impl Status {
    pub fn normal(store: Store, data_dir: PathBuf, provisioned_name: Option<BoxName>) -> Status {
        Status {
            store: Some(store),
            diagnosis: None,
            data_dir,
            started: Instant::now(),
            provisioned_name,
            setup_seen: Default::default(),
            health: Default::default(),
        }
    }

    pub fn diagnostic(diagnosis: Diagnosis, data_dir: PathBuf) -> Status {
        Status {
            store: None,
            diagnosis: Some(diagnosis),
            data_dir,
            started: Instant::now(),
            provisioned_name: None,
            setup_seen: Default::default(),
            health: Default::default(),
        }
    }

    /// Gives the status its health centre (the daemon, once built).
    pub fn set_health(&self, health: crate::health::Health) {
        let _ = self.health.set(health);
    }

    /// The box's default language (French when unknown).
    pub fn box_language(&self) -> Language {
        self.store
            .as_ref()
            .and_then(|s| s.box_settings().ok())
            .map(|s| s.language)
            .unwrap_or_default()
    }

    pub fn box_name(&self) -> Option<String> {
        self.store
            .as_ref()
            .and_then(|s| s.box_settings().ok())
            .and_then(|s| s.name)
            .map(|n| n.to_string())
    }

    /// The name given by headless provisioning, offered in the setup wizard.
    pub fn provisioned_name(&self) -> Option<String> {
        self.provisioned_name.as_ref().map(|n| n.to_string())
    }

    pub fn mode(&self) -> Mode {
        if self.diagnosis.is_some() {
            Mode::Diagnostic
        } else {
            Mode::Normal
        }
    }

    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        self.diagnosis.as_ref()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Whether setup is done, without reading the machine (for the health endpoint).
    /// The health answer; `install_mode` comes from the install domain.
    pub fn health_answer(&self, install_mode: bool) -> Result<Health, StoreError> {
        let (status, setup_done) = match self.mode() {
            Mode::Normal => ("ok", self.report_setup_done()?),
            Mode::Diagnostic => ("diagnostic", false),
        };
        Ok(Health {
            status: status.into(),
            version: VERSION.into(),
            setup_done,
            install_mode,
        })
    }

    pub fn report_setup_done(&self) -> Result<bool, StoreError> {
        if self.setup_seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = match &self.store {
            Some(store) => store.box_settings()?.setup_done,
            None => false,
        };
        self.setup_seen.store(done, Ordering::Relaxed);
        Ok(done)
    }

    pub fn report(&self) -> Result<StatusReport, StoreError> {
        let settings = match &self.store {
            Some(store) => store.box_settings()?,
            None => Default::default(),
        };
        let readings = system::read(&self.data_dir);
        let issues = match self.health.get() {
            Some(h) => h
                .findings()
                .iter()
                .filter_map(health::Finding::issue)
                .collect(),
            None => vec![],
        };
        Ok(StatusReport {
            mode: self.mode(),
            version: VERSION.to_owned(),
            box_name: settings.name.map(|n| n.to_string()),
            setup_done: settings.setup_done,
            language: settings.language.code().to_owned(),
            diagnosis: self.diagnosis.clone(),
            readings,
            issues,
            agent_uptime_secs: self.started.elapsed().as_secs(),
            data_dir: self.data_dir.clone(),
        })
    }
}
