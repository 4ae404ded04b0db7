//! Diagnostic mode: what the agent does when it cannot trust its state.
//!
//! When the database cannot be opened, fails its integrity check or was written by a newer
//! version, the file (with its `-wal` and `-shm` companions) is moved into
//! `<data-dir>/kept-aside/` under a timestamped name, and a record of what happened is written
//! to `<data-dir>/diagnostic.json`. While that record exists the agent starts in diagnostic
//! mode: it creates no new database, serves the admin UI's diagnostic page and the health and
//! status endpoints, and `panier status` explains. Nothing is ever deleted or reset here.
//!
//! Recovery (written on the diagnostic page): put a good `panier.db` back (from a backup or a
//! repaired copy) and run `panier diagnostic clear`, or run `panier diagnostic clear` alone to
//! start afresh (the kept-aside file stays where it is).

use crate::fsutil::write_atomic;
use crate::store::{DB_FILE, OpenError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const RECORD_FILE: &str = "diagnostic.json";

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Diagnosis {
    /// A stable key: `db_unreadable`, `db_corrupt`, `db_too_new`, `db_migration_failed`.
    pub reason: String,
    /// What went wrong, in detail.
    pub detail: String,
    /// Where the database was moved.
    #[schema(value_type = Vec<String>)]
    pub kept_aside: Vec<PathBuf>,
    /// Unix time in seconds.
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnosticError {
    #[error("cannot move {path} aside: {source}")]
    Move {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// The diagnosis recorded by an earlier start, if any.
pub fn recorded(data_dir: &Path) -> Result<Option<Diagnosis>, DiagnosticError> {
    let path = data_dir.join(RECORD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DiagnosticError::Read {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DiagnosticError::Read {
            path,
            message: e.to_string(),
        }),
    }
}

/// Moves the database aside and records why. Returns the record.
pub fn keep_aside(data_dir: &Path, error: &OpenError) -> Result<Diagnosis, DiagnosticError> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let aside_dir = data_dir.join("kept-aside");
    std::fs::create_dir_all(&aside_dir).map_err(|source| DiagnosticError::Move {
        path: aside_dir.clone(),
        source,
    })?;
    let mut kept = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let from = data_dir.join(format!("{DB_FILE}{suffix}"));
        if !from.exists() {
            continue;
        }
        let to = aside_dir.join(format!("{DB_FILE}.{stamp}{suffix}"));
        std::fs::rename(&from, &to).map_err(|source| DiagnosticError::Move {
            path: from.clone(),
            source,
        })?;
        kept.push(to);
    }
    let diagnosis = Diagnosis {
        reason: error.key().to_owned(),
        detail: error.to_string(),
        kept_aside: kept,
        at: crate::store::now(),
    };
    let path = data_dir.join(RECORD_FILE);
    let json = serde_json::to_vec_pretty(&diagnosis).expect("a diagnosis serializes");
    write_atomic(&path, &json).map_err(|source| DiagnosticError::Write { path, source })?;
    Ok(diagnosis)
}

/// Ends diagnostic mode: removes the record (the kept-aside files stay). The next start opens
/// whatever `panier.db` is in the data directory, or creates a new one.
pub fn clear(data_dir: &Path) -> Result<bool, DiagnosticError> {
    let path = data_dir.join(RECORD_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(DiagnosticError::Write { path, source }),
    }
}
