//! The store: the box's state in one SQLite database (`panier.db` in the data directory).
//!
//! This is the only module with SQL. Each domain has its own file of typed queries
//! (`settings`, `admins`, `sessions`, `audit`); later domains add theirs.
//!
//! Invariants:
//! - Opening runs `PRAGMA integrity_check`, refuses a database written by a newer Panier (its
//!   `user_version` is past our last migration) and applies numbered migrations from
//!   `agent/migrations/` in one transaction each.
//! - A database that cannot be opened, fails the check or is too new is never overwritten and
//!   never reset: the daemon hands the error to [`crate::diagnostic::keep_aside`], which moves
//!   it aside, and starts in diagnostic mode.
//! - WAL mode, foreign keys on. One connection behind a mutex: every query is short, and one
//!   writer is what SQLite wants anyway.

mod addresses;
mod admins;
mod apps;
mod audit;
mod backup;
mod firewall;
mod notify;
mod packs;
mod proxy;
mod reach;
mod sessions;
mod settings;
mod update;

pub use admins::AdminRow;
pub use apps::{AppRow, JobRow, Phase};
pub use audit::{AuditEntry, NewAudit};
pub use backup::{RunEnd, RunRow, TargetRow};
pub use notify::{MailRow, MailSecurity, NotifiedIssue};
pub use proxy::{MdnsRename, PortalTexts};
pub use reach::{AttemptRecord, ReachRow, RelayRow};
pub use sessions::SessionRow;
pub use settings::BoxSettings;
pub use update::{AttemptRow, AttemptState, ChannelRow, NewAttempt, Said, UpdateSource};

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The numbered migrations (`agent/migrations/NNNN_name.sql`), oldest first. Append only:
/// never edit a released one.
use crate::generated::MIGRATIONS;

pub const DB_FILE: &str = "panier.db";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the database {path} was written by a newer version of Panier (schema {found}, this version knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("cannot migrate the database {path}: {detail}")]
    Migration { path: PathBuf, detail: String },
}

impl OpenError {
    /// A stable key for the UI and the API.
    pub fn key(&self) -> &'static str {
        match self {
            OpenError::Unreadable { .. } => "db_unreadable",
            OpenError::Corrupt { .. } => "db_corrupt",
            OpenError::TooNew { .. } => "db_too_new",
            OpenError::Migration { .. } => "db_migration_failed",
        }
    }
}

/// A query failed. Carries the operation so the log says what was being done.
#[derive(Debug, thiserror::Error)]
#[error("database error while {op}: {source}")]
pub struct StoreError {
    pub op: &'static str,
    #[source]
    pub source: rusqlite::Error,
}

pub(crate) trait Context<T> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError { op, source })
    }
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

impl Store {
    /// Opens (creating if absent) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        let unreadable = |source| OpenError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(unreadable)?;
        // A file that is not SQLite at all fails on its first read, here.
        let check: Result<Vec<String>, rusqlite::Error> = conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect());
        match check {
            Ok(lines) if lines.len() == 1 && lines[0] == "ok" => {}
            Ok(lines) => {
                return Err(OpenError::Corrupt {
                    path: path.to_owned(),
                    detail: lines.join("; "),
                });
            }
            Err(e) => {
                return Err(OpenError::Corrupt {
                    path: path.to_owned(),
                    detail: e.to_string(),
                });
            }
        }
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(unreadable)?;
        if found > MIGRATIONS.len() as i64 {
            return Err(OpenError::TooNew {
                path: path.to_owned(),
                found,
                known: MIGRATIONS.len(),
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unreadable)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(unreadable)?;
        // FULL: a commit is on disk when it returns. With NORMAL, a box whose power was cut
        // 16 s after its setup (the QEMU suite) came back not set up. Commits are rare here
        // (admin actions, job steps, a session refreshed once a minute).
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unreadable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unreadable)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| OpenError::Migration {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// An in-memory store, for tests.
    pub fn memory() -> Store {
        let mut conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.pragma_update(None, "foreign_keys", "ON")
            .expect("foreign keys");
        migrations().to_latest(&mut conn).expect("migrations apply");
        Store {
            conn: Arc::new(Mutex::new(conn)),
        }
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> usize {
        MIGRATIONS.len()
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable (SQLite rolls back an
        // unfinished transaction when it is dropped), so a poisoned lock is not fatal.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn reopen_keeps_state_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let store = Store::open(&path).unwrap();
        store.set_setting("box_name", "biblio").unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.setting("box_name").unwrap().as_deref(),
            Some("biblio")
        );
        store
            .conn()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        assert!(matches!(
            Store::open(&path),
            Err(OpenError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(Store::open(&path), Err(OpenError::Corrupt { .. })));
    }
}
