//! Services: wanted state, generated secrets, pulled images, and jobs.

use super::{Context, Store, StoreError};
use crate::catalog::AppId;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Installing,
    Installed,
    Updating,
    Removing,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Installing => "installing",
            Phase::Installed => "installed",
            Phase::Updating => "updating",
            Phase::Removing => "removing",
        }
    }
    fn parse(s: &str) -> Phase {
        match s {
            "installed" => Phase::Installed,
            "updating" => Phase::Updating,
            "removing" => Phase::Removing,
            _ => Phase::Installing,
        }
    }
}

/// One installed (or being installed) service.
#[derive(Debug, Clone, Serialize)]
pub struct AppRow {
    pub id: AppId,
    pub version: String,
    pub phase: Phase,
    /// Whether it should run (`false`: stopped by an admin).
    pub running: bool,
    pub settings: BTreeMap<String, String>,
    /// The manifest (JSON) of `version`.
    #[serde(skip)]
    pub manifest: String,
    pub previous: Option<String>,
    pub fresh_data: bool,
    pub installed_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRow {
    pub id: i64,
    #[schema(value_type = String)]
    pub app: String,
    pub kind: String,
    pub actor: String,
    /// running | succeeded | failed | interrupted
    pub state: String,
    pub step: String,
    pub percent: i64,
    /// Why it failed, in English; `message_fr` in French.
    pub message: String,
    pub message_fr: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

fn app_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AppRow> {
    let id: String = r.get(0)?;
    let settings: String = r.get(4)?;
    Ok(AppRow {
        id: AppId::parse(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        version: r.get(1)?,
        phase: Phase::parse(&r.get::<_, String>(2)?),
        running: r.get::<_, String>(3)? == "running",
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        previous: r.get(5)?,
        fresh_data: r.get::<_, i64>(6)? != 0,
        installed_at: r.get(7)?,
        updated_at: r.get(8)?,
        manifest: r.get(9)?,
    })
}

const APP_COLS: &str = "id, version, phase, wanted, settings, previous, fresh_data, installed_at, updated_at, manifest";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        app: r.get(1)?,
        kind: r.get(2)?,
        actor: r.get(3)?,
        state: r.get(4)?,
        step: r.get(5)?,
        percent: r.get(6)?,
        message: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        message_fr: r.get(10)?,
    })
}

const JOB_COLS: &str =
    "id, app, kind, actor, state, step, percent, message, started_at, finished_at, message_fr";

impl Store {
    pub fn apps(&self) -> Result<Vec<AppRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("SELECT {APP_COLS} FROM apps ORDER BY id"))
            .ctx("listing services")?;
        st.query_map([], app_row)
            .and_then(|rows| rows.collect())
            .ctx("listing services")
    }

    pub fn app(&self, id: &AppId) -> Result<Option<AppRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {APP_COLS} FROM apps WHERE id = ?1"),
                [id.as_str()],
                app_row,
            )
            .optional()
            .ctx("reading a service")
    }

    /// Records a new install (phase `installing`) with its secrets, in one transaction.
    /// Secrets already kept from an earlier install are left as they are.
    pub fn insert_app(
        &self,
        row: &AppRow,
        secrets: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting an install")?;
        tx.execute(
            &format!(
                "INSERT INTO apps({APP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                row.id.as_str(),
                row.version,
                row.phase.as_str(),
                if row.running { "running" } else { "stopped" },
                serde_json::to_string(&row.settings).expect("JSON"),
                row.previous,
                row.fresh_data as i64,
                row.installed_at,
                row.updated_at,
                row.manifest
            ],
        )
        .ctx("recording an install")?;
        for (name, value) in secrets {
            tx.execute(
                "INSERT OR IGNORE INTO app_secrets(app, name, value) VALUES (?1, ?2, ?3)",
                params![row.id.as_str(), name, value],
            )
            .ctx("saving a secret")?;
        }
        tx.commit().ctx("committing an install")
    }

    pub fn set_app_phase(&self, id: &AppId, phase: Phase) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE apps SET phase = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), phase.as_str(), super::now()],
            )
            .ctx("changing a service's phase")?;
        Ok(())
    }

    pub fn set_app_running(&self, id: &AppId, running: bool) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE apps SET wanted = ?2, updated_at = ?3 WHERE id = ?1",
                params![
                    id.as_str(),
                    if running { "running" } else { "stopped" },
                    super::now()
                ],
            )
            .ctx("changing a service's wanted state")?;
        Ok(())
    }

    /// Moves to a new version (phase `updating`), remembering the old one; with
    /// `previous = None` this completes or reverts an update.
    pub fn set_app_version(
        &self,
        id: &AppId,
        version: &str,
        manifest: &str,
        previous: Option<&str>,
        phase: Phase,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE apps SET version = ?2, manifest = ?3, previous = ?4, phase = ?5, updated_at = ?6, update_safety = NULL WHERE id = ?1",
                params![id.as_str(), version, manifest, previous, phase.as_str(), super::now()],
            )
            .ctx("changing a service's version")?;
        Ok(())
    }

    /// Records the safety snapshot of the update under way (JSON; `null` when none could be
    /// taken because there is no backup target).
    pub fn set_update_safety(&self, id: &AppId, json: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE apps SET update_safety = ?2 WHERE id = ?1",
                params![id.as_str(), json],
            )
            .ctx("recording a safety snapshot")?;
        Ok(())
    }

    /// The safety snapshot recorded for the update under way, if one was recorded.
    pub fn update_safety(&self, id: &AppId) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT update_safety FROM apps WHERE id = ?1",
                [id.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .ctx("reading a safety snapshot")
    }

    /// Replaces a service's settings and adds secrets it did not have (an update).
    pub fn set_app_settings(
        &self,
        id: &AppId,
        settings: &BTreeMap<String, String>,
        new_secrets: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("changing settings")?;
        tx.execute(
            "UPDATE apps SET settings = ?2 WHERE id = ?1",
            params![id.as_str(), serde_json::to_string(settings).expect("JSON")],
        )
        .ctx("changing settings")?;
        for (name, value) in new_secrets {
            tx.execute(
                "INSERT OR IGNORE INTO app_secrets(app, name, value) VALUES (?1, ?2, ?3)",
                params![id.as_str(), name, value],
            )
            .ctx("saving a secret")?;
        }
        tx.commit().ctx("committing settings")
    }

    /// Forgets a service; with `secrets`, its kept secrets too.
    pub fn delete_app(&self, id: &AppId, secrets: bool) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("removing a service")?;
        tx.execute("DELETE FROM apps WHERE id = ?1", [id.as_str()])
            .ctx("removing a service")?;
        if secrets {
            tx.execute("DELETE FROM app_secrets WHERE app = ?1", [id.as_str()])
                .ctx("removing a service's secrets")?;
            // The address goes with the data it was written into.
            tx.execute("DELETE FROM app_addresses WHERE app = ?1", [id.as_str()])
                .ctx("removing a service's address")?;
        }
        tx.commit().ctx("committing a removal")
    }

    pub fn app_secrets(&self, id: &AppId) -> Result<BTreeMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT name, value FROM app_secrets WHERE app = ?1")
            .ctx("reading secrets")?;
        st.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .ctx("reading secrets")
    }

    pub fn note_image(&self, image: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO app_images(image, first_used) VALUES (?1, ?2)",
                params![image, super::now()],
            )
            .ctx("recording an image")?;
        Ok(())
    }

    pub fn images(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT image FROM app_images ORDER BY image")
            .ctx("listing images")?;
        st.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .ctx("listing images")
    }

    pub fn forget_image(&self, image: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM app_images WHERE image = ?1", [image])
            .ctx("forgetting an image")?;
        Ok(())
    }

    pub fn insert_job(&self, subject: &str, kind: &str, actor: &str) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO jobs(app, kind, actor, state, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![subject, kind, actor, super::now()],
        )
        .ctx("starting a job")?;
        Ok(conn.last_insert_rowid())
    }

    pub fn update_job(&self, id: i64, step: &str, percent: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE jobs SET step = ?2, percent = ?3 WHERE id = ?1",
                params![id, step, percent],
            )
            .ctx("updating a job")?;
        Ok(())
    }

    pub fn finish_job(
        &self,
        id: i64,
        state: &str,
        message: &str,
        message_fr: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE jobs SET state = ?2, message = ?3, message_fr = ?5, finished_at = ?4, percent = CASE WHEN ?2 = 'succeeded' THEN 100 ELSE percent END WHERE id = ?1",
                params![id, state, message, super::now(), message_fr],
            )
            .ctx("finishing a job")?;
        Ok(())
    }

    /// Marks jobs left `running` by a previous agent process as interrupted.
    pub fn interrupt_running_jobs(&self) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE jobs SET state = 'interrupted', message = 'the agent stopped during this job', message_fr = 'l''agent s''est arrêté pendant cette opération', finished_at = ?1 WHERE state = 'running'",
                [super::now()],
            )
            .ctx("closing interrupted jobs")
    }

    pub fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"),
                [id],
                job_row,
            )
            .optional()
            .ctx("reading a job")
    }

    /// The latest jobs, newest first, optionally of one service.
    pub fn jobs(&self, app: Option<&AppId>, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        self.jobs_on(app.map(|a| a.as_str()), limit)
    }

    /// The latest jobs of a subject (a service id, or `jobs::BOX`), newest first.
    pub fn jobs_of(&self, subject: &str, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        self.jobs_on(Some(subject), limit)
    }

    fn jobs_on(&self, subject: Option<&str>, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "SELECT {JOB_COLS} FROM jobs WHERE ?1 IS NULL OR app = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .ctx("listing jobs")?;
        st.query_map(params![subject, limit], job_row)
            .and_then(|rows| rows.collect())
            .ctx("listing jobs")
    }
}
