//! Box-wide settings as key/value rows, and the one transaction that completes setup.

use super::{Context, Store, StoreError};
use crate::names::{BoxName, Language};
use rusqlite::{OptionalExtension, params};

/// The settings every page needs.
#[derive(Debug, Clone, Default)]
pub struct BoxSettings {
    pub name: Option<BoxName>,
    pub language: Language,
    pub setup_done: bool,
}

impl Store {
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .ctx("reading a setting")
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])
            .ctx("writing a setting")?;
        Ok(())
    }

    /// Stores `value` under `key` only if the key has no value yet; returns the stored value.
    pub fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO settings(key, value) VALUES (?1, ?2)",
            params![key, value],
        )
        .ctx("initialising a setting")?;
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .ctx("reading a setting")
    }

    pub fn box_settings(&self) -> Result<BoxSettings, StoreError> {
        let name = self
            .setting("box_name")?
            .and_then(|n| BoxName::parse(&n).ok());
        let language = self
            .setting("language")?
            .and_then(|l| Language::parse(&l).ok())
            .unwrap_or_default();
        let setup_done = self.setting("setup_done")?.as_deref() == Some("1");
        Ok(BoxSettings {
            name,
            language,
            setup_done,
        })
    }

    /// Completes first-boot setup in one transaction: box name, language, first admin, setup
    /// code discarded, audit entry. Returns `Ok(None)` when setup was already done (the caller
    /// answers 409), so two racing wizards cannot both succeed.
    pub fn complete_setup(
        &self,
        name: &BoxName,
        language: Language,
        username: &str,
        password_hash: &str,
        audit: &super::NewAudit,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting setup")?;
        let done: Option<String> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = 'setup_done'",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("checking setup")?;
        if done.as_deref() == Some("1") {
            return Ok(None);
        }
        for (k, v) in [
            ("box_name", name.as_str()),
            ("language", language.code()),
            ("setup_done", "1"),
        ] {
            tx.execute("INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![k, v])
                .ctx("saving setup")?;
        }
        tx.execute("DELETE FROM settings WHERE key = 'setup_code'", [])
            .ctx("discarding the setup code")?;
        tx.execute(
            "INSERT INTO admins(username, password_hash, language, created_at) VALUES (?1, ?2, NULL, ?3)",
            params![username, password_hash, super::now()],
        )
        .ctx("creating the first admin")?;
        let id = tx.last_insert_rowid();
        super::audit::insert(&tx, audit).ctx("auditing setup")?;
        tx.commit().ctx("committing setup")?;
        Ok(Some(id))
    }
}
