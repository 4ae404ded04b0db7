//! Backup targets and runs (migration 0004), plus the two store-level operations the backup
//! engine needs: a consistent copy of the live database (SQLite's online backup API) and the
//! replacement of the live database by a restored copy (the same API in reverse).

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::path::Path;

/// A target as stored. `location` is the kind's fields as JSON (see `backup::target`).
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub location: String,
    pub password: String,
    pub created_at: i64,
    pub kit_confirmed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunRow {
    pub id: i64,
    pub target_id: i64,
    pub target: String,
    /// `scheduled`, `manual`, `safety` or `check`.
    pub reason: String,
    pub app: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    pub error_key: Option<String>,
    pub error: Option<String>,
    pub files: Option<i64>,
    pub bytes_added: Option<i64>,
    pub bytes_total: Option<i64>,
    /// Peak resident memory of the backup process (restic), KiB.
    pub peak_rss_kib: Option<i64>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub ok: bool,
    pub error_key: Option<String>,
    pub error: Option<String>,
    pub files: Option<i64>,
    pub bytes_added: Option<i64>,
    pub bytes_total: Option<i64>,
    pub peak_rss_kib: Option<i64>,
    pub snapshots: Vec<String>,
}

fn target_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TargetRow> {
    Ok(TargetRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        location: r.get(3)?,
        password: r.get(4)?,
        created_at: r.get(5)?,
        kit_confirmed_at: r.get(6)?,
    })
}

const TARGET_COLUMNS: &str = "id, name, kind, location, password, created_at, kit_confirmed_at";
const RUN_COLUMNS: &str = "r.id, r.target_id, t.name, r.reason, r.app, r.started_at, r.finished_at, r.status, r.error_key, r.error, r.files, r.bytes_added, r.bytes_total, r.peak_rss_kib";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        target_id: r.get(1)?,
        target: r.get(2)?,
        reason: r.get(3)?,
        app: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        status: r.get(7)?,
        error_key: r.get(8)?,
        error: r.get(9)?,
        files: r.get(10)?,
        bytes_added: r.get(11)?,
        bytes_total: r.get(12)?,
        peak_rss_kib: r.get(13)?,
    })
}

impl Store {
    /// Adds a target; `Ok(None)` if the name is taken.
    pub fn add_backup_target(
        &self,
        name: &str,
        kind: &str,
        location: &str,
        password: &str,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO backup_targets(name, kind, location, password, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, kind, location, password, super::now()],
            )
            .ctx("adding a backup target")?;
        Ok((n == 1).then(|| conn.last_insert_rowid()))
    }

    pub fn backup_targets(&self) -> Result<Vec<TargetRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "SELECT {TARGET_COLUMNS} FROM backup_targets ORDER BY id"
            ))
            .ctx("listing backup targets")?;
        st.query_map([], target_row)
            .ctx("listing backup targets")?
            .collect::<Result<_, _>>()
            .ctx("listing backup targets")
    }

    pub fn backup_target(&self, name: &str) -> Result<Option<TargetRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {TARGET_COLUMNS} FROM backup_targets WHERE name = ?1"),
                [name],
                target_row,
            )
            .optional()
            .ctx("reading a backup target")
    }

    pub fn remove_backup_target(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM backup_targets WHERE name = ?1", [name])
            .ctx("removing a backup target")?
            == 1)
    }

    pub fn confirm_backup_kit(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE backup_targets SET kit_confirmed_at = ?2 WHERE name = ?1",
                params![name, super::now()],
            )
            .ctx("confirming a backup kit")?;
        Ok(n == 1)
    }

    pub fn start_backup_run(
        &self,
        target_id: i64,
        reason: &str,
        app: Option<&str>,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO backup_runs(target_id, reason, app, started_at, status) VALUES (?1, ?2, ?3, ?4, 'running')",
            params![target_id, reason, app, super::now()],
        )
        .ctx("recording a backup run")?;
        Ok(conn.last_insert_rowid())
    }

    pub fn finish_backup_run(&self, id: i64, end: &RunEnd) -> Result<(), StoreError> {
        let snapshots = serde_json::to_string(&end.snapshots).expect("JSON");
        self.conn()
            .execute(
                "UPDATE backup_runs SET finished_at = ?2, status = ?3, error_key = ?4, error = ?5, files = ?6, bytes_added = ?7,
                   bytes_total = ?8, peak_rss_kib = ?9, snapshots = ?10 WHERE id = ?1",
                params![
                    id,
                    super::now(),
                    if end.ok { "ok" } else { "failed" },
                    end.error_key,
                    end.error,
                    end.files,
                    end.bytes_added,
                    end.bytes_total,
                    end.peak_rss_kib,
                    snapshots
                ],
            )
            .ctx("finishing a backup run")?;
        Ok(())
    }

    /// How the previous run to a target ended (`None`: there was none) and when it was last
    /// pruned, for the run about to start as `current`.
    pub fn backup_target_history(
        &self,
        target_id: i64,
        current: i64,
    ) -> Result<(Option<bool>, Option<i64>), StoreError> {
        let conn = self.conn();
        let last_ok = conn
            .query_row(
                "SELECT status = 'ok' FROM backup_runs WHERE target_id = ?1 AND id <> ?2 AND reason <> 'check' ORDER BY id DESC LIMIT 1",
                params![target_id, current],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .ctx("reading the last backup run")?;
        let pruned = conn
            .query_row(
                "SELECT pruned_at FROM backup_targets WHERE id = ?1",
                [target_id],
                |r| r.get(0),
            )
            .ctx("reading a backup target")?;
        Ok((last_ok, pruned))
    }

    pub fn set_backup_pruned(&self, target_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE backup_targets SET pruned_at = ?2 WHERE id = ?1",
                params![target_id, super::now()],
            )
            .ctx("recording a prune")?;
        Ok(())
    }

    /// Runs left `running` by a crash of the agent are marked failed at start-up.
    pub fn fail_interrupted_backup_runs(&self) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE backup_runs SET status = 'failed', finished_at = ?1, error_key = 'backup_interrupted',
                   error = 'the agent stopped during this run' WHERE status = 'running'",
                [super::now()],
            )
            .ctx("closing interrupted backup runs")
    }

    /// The latest runs, newest first.
    pub fn backup_runs(&self, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM backup_runs r JOIN backup_targets t ON t.id = r.target_id ORDER BY r.id DESC LIMIT ?1"))
            .ctx("listing backup runs")?;
        st.query_map([limit], run_row)
            .ctx("listing backup runs")?
            .collect::<Result<_, _>>()
            .ctx("listing backup runs")
    }

    /// Copies the live database to `dest` with SQLite's online backup API: a consistent
    /// snapshot even while the agent keeps writing.
    pub fn copy_database_to(&self, dest: &Path) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut out = rusqlite::Connection::open(dest).ctx("opening the database copy")?;
        let backup =
            rusqlite::backup::Backup::new(&conn, &mut out).ctx("starting the database copy")?;
        backup
            .run_to_completion(256, std::time::Duration::from_millis(0), None)
            .ctx("copying the database")?;
        Ok(())
    }

    /// Replaces the live database's content with the database at `src` (a restored backup),
    /// then applies any migrations this version has that the backup lacked.
    pub fn replace_with(&self, src: &Path) -> Result<(), StoreError> {
        let found: i64 = rusqlite::Connection::open(src)
            .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
            .ctx("reading the restored database's version")?;
        if found > super::MIGRATIONS.len() as i64 {
            return Err(StoreError {
                op: "restoring a database written by a newer Panier",
                source: rusqlite::Error::InvalidQuery,
            });
        }
        let mut conn = self.conn();
        conn.restore(
            rusqlite::MAIN_DB,
            src,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .ctx("restoring the database")?;
        super::migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError {
                op: "migrating the restored database",
                source: match e {
                    rusqlite_migration::Error::RusqliteError { err, .. } => err,
                    other => rusqlite::Error::InvalidParameterName(other.to_string()),
                },
            })?;
        Ok(())
    }
}
