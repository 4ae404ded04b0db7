//! OS updates: the channel as last seen (one row) and the installation attempts.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// Where an attempt's bundle came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateSource {
    Channel,
    Usb,
}

impl UpdateSource {
    fn as_str(self) -> &'static str {
        match self {
            UpdateSource::Channel => "channel",
            UpdateSource::Usb => "usb",
        }
    }
}

/// Where an installation attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    Downloading,
    Installing,
    /// Installed in the other slot, waiting for the restart (now, or at the chosen hour).
    Installed,
    /// The restart was asked for.
    Restarting,
    /// The new system booted; waiting for it to be marked good.
    Confirming,
    Succeeded,
    Failed,
    /// The new system failed its boots; the box came back to the old one.
    RolledBack,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Downloading => "downloading",
            AttemptState::Installing => "installing",
            AttemptState::Installed => "installed",
            AttemptState::Restarting => "restarting",
            AttemptState::Confirming => "confirming",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Option<AttemptState> {
        [
            AttemptState::Downloading,
            AttemptState::Installing,
            AttemptState::Installed,
            AttemptState::Restarting,
            AttemptState::Confirming,
            AttemptState::Succeeded,
            AttemptState::Failed,
            AttemptState::RolledBack,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether the attempt is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AttemptState::Succeeded | AttemptState::Failed | AttemptState::RolledBack
        )
    }
}

/// A failure said in both languages, with its stable key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Said {
    pub key: String,
    pub en: String,
    pub fr: String,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelRow {
    pub url: Option<String>,
    pub index_json: Option<String>,
    pub seen_serial: Option<u64>,
    pub checked_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub error: Option<Said>,
    pub reboot_hour: Option<u8>,
}

/// An attempt to begin.
pub struct NewAttempt<'a> {
    pub version: &'a str,
    pub from_version: &'a str,
    pub source: UpdateSource,
    pub bundle: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub notes_fr: &'a str,
    pub notes_en: &'a str,
    pub actor: &'a str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptRow {
    pub id: i64,
    pub version: String,
    pub from_version: String,
    pub source: UpdateSource,
    pub bundle: String,
    pub size: u64,
    pub sha256: String,
    pub notes_fr: String,
    pub notes_en: String,
    pub actor: String,
    pub state: AttemptState,
    pub job_id: Option<i64>,
    pub target_slot: Option<String>,
    pub reboot_at: Option<i64>,
    pub installed_boot: Option<String>,
    pub started_at: i64,
    pub installed_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<Said>,
    pub boot_log: Option<String>,
}

const ATTEMPT_COLS: &str = "id, version, from_version, source, bundle, size, sha256, notes_fr, notes_en, actor, state, job_id, target_slot, reboot_at, installed_boot, started_at, installed_at, finished_at, error_key, error_en, error_fr, boot_log";

fn said(key: Option<String>, en: Option<String>, fr: Option<String>) -> Option<Said> {
    key.map(|key| Said {
        key,
        en: en.unwrap_or_default(),
        fr: fr.unwrap_or_default(),
    })
}

fn attempt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AttemptRow> {
    let bad = |i, s: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown value '{s}'").into(),
        )
    };
    let source: String = r.get(3)?;
    let state: String = r.get(10)?;
    Ok(AttemptRow {
        id: r.get(0)?,
        version: r.get(1)?,
        from_version: r.get(2)?,
        source: match source.as_str() {
            "usb" => UpdateSource::Usb,
            "channel" => UpdateSource::Channel,
            _ => return Err(bad(3, source)),
        },
        bundle: r.get(4)?,
        size: r.get::<_, i64>(5)?.max(0) as u64,
        sha256: r.get(6)?,
        notes_fr: r.get(7)?,
        notes_en: r.get(8)?,
        actor: r.get(9)?,
        state: AttemptState::parse(&state).ok_or_else(|| bad(10, state.clone()))?,
        job_id: r.get(11)?,
        target_slot: r.get(12)?,
        reboot_at: r.get(13)?,
        installed_boot: r.get(14)?,
        started_at: r.get(15)?,
        installed_at: r.get(16)?,
        finished_at: r.get(17)?,
        error: said(r.get(18)?, r.get(19)?, r.get(20)?),
        boot_log: r.get(21)?,
    })
}

impl Store {
    pub fn update_channel(&self) -> Result<ChannelRow, StoreError> {
        self.conn()
            .query_row(
                "SELECT url, index_json, seen_serial, checked_at, accepted_at, error_key, error_en, error_fr, reboot_hour FROM os_update_channel WHERE id = 1",
                [],
                |r| {
                    Ok(ChannelRow {
                        url: r.get(0)?,
                        index_json: r.get(1)?,
                        seen_serial: r.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                        checked_at: r.get(3)?,
                        accepted_at: r.get(4)?,
                        error: said(r.get(5)?, r.get(6)?, r.get(7)?),
                        reboot_hour: r.get::<_, Option<i64>>(8)?.map(|h| h.clamp(0, 23) as u8),
                    })
                },
            )
            .ctx("reading the update channel")
    }

    /// The channel address chosen on the Update page (`None`: the configuration's).
    pub fn set_update_url(&self, url: Option<&str>) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE os_update_channel SET url = ?1 WHERE id = 1", [url])
            .ctx("setting the update channel")?;
        Ok(())
    }

    pub fn set_reboot_hour(&self, hour: Option<u8>) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_channel SET reboot_hour = ?1 WHERE id = 1",
                [hour],
            )
            .ctx("setting the restart hour")?;
        Ok(())
    }

    /// A check gave a valid index: kept, and its serial raises the rollback guard.
    pub fn record_index(&self, index_json: &str, serial: u64, now: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_channel SET index_json = ?1, seen_serial = max(coalesce(seen_serial, 0), ?2), checked_at = ?3, accepted_at = ?3, error_key = NULL, error_en = NULL, error_fr = NULL WHERE id = 1",
                params![index_json, serial as i64, now],
            )
            .ctx("recording the update index")?;
        Ok(())
    }

    /// A check failed: the index kept from before stays (its expiry still applies).
    pub fn record_check_error(&self, error: &Said, now: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_channel SET checked_at = ?1, error_key = ?2, error_en = ?3, error_fr = ?4 WHERE id = 1",
                params![now, error.key, error.en, error.fr],
            )
            .ctx("recording a failed update check")?;
        Ok(())
    }

    pub fn insert_attempt(&self, a: &NewAttempt<'_>) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO os_update_attempts(version, from_version, source, bundle, size, sha256, notes_fr, notes_en, actor, state, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'downloading', ?10)",
            params![a.version, a.from_version, a.source.as_str(), a.bundle, a.size as i64, a.sha256, a.notes_fr, a.notes_en, a.actor, super::now()],
        )
        .ctx("recording an update attempt")?;
        Ok(conn.last_insert_rowid())
    }

    pub fn attempt(&self, id: i64) -> Result<Option<AttemptRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {ATTEMPT_COLS} FROM os_update_attempts WHERE id = ?1"),
                [id],
                attempt_row,
            )
            .optional()
            .ctx("reading an update attempt")
    }

    /// The latest attempts, newest first.
    pub fn attempts(&self, limit: i64) -> Result<Vec<AttemptRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "SELECT {ATTEMPT_COLS} FROM os_update_attempts ORDER BY id DESC LIMIT ?1"
            ))
            .ctx("listing update attempts")?;
        st.query_map([limit], attempt_row)
            .and_then(|rows| rows.collect())
            .ctx("listing update attempts")
    }

    pub fn set_attempt_job(&self, id: i64, job_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_attempts SET job_id = ?2 WHERE id = ?1",
                params![id, job_id],
            )
            .ctx("linking an update attempt to its job")?;
        Ok(())
    }

    pub fn set_attempt_state(&self, id: i64, state: AttemptState) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_attempts SET state = ?2 WHERE id = ?1",
                params![id, state.as_str()],
            )
            .ctx("recording an update attempt's progress")?;
        Ok(())
    }

    /// The bundle is in `slot` (during the boot `boot`); the restart is planned at `reboot_at`.
    pub fn attempt_installed(
        &self,
        id: i64,
        slot: &str,
        boot: &str,
        reboot_at: i64,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_attempts SET state = 'installed', target_slot = ?2, installed_boot = ?3, reboot_at = ?4, installed_at = ?5 WHERE id = ?1",
                params![id, slot, boot, reboot_at, super::now()],
            )
            .ctx("recording an installed update")?;
        Ok(())
    }

    pub fn set_attempt_reboot_at(&self, id: i64, reboot_at: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_attempts SET reboot_at = ?2 WHERE id = ?1",
                params![id, reboot_at],
            )
            .ctx("planning an update's restart")?;
        Ok(())
    }

    /// Ends an attempt (succeeded, failed or rolled back), with why and what the boots logged.
    pub fn finish_attempt(
        &self,
        id: i64,
        state: AttemptState,
        error: Option<&Said>,
        boot_log: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE os_update_attempts SET state = ?2, finished_at = ?3, error_key = ?4, error_en = ?5, error_fr = ?6, boot_log = ?7 WHERE id = ?1",
                params![
                    id,
                    state.as_str(),
                    super::now(),
                    error.map(|e| &e.key),
                    error.map(|e| &e.en),
                    error.map(|e| &e.fr),
                    boot_log
                ],
            )
            .ctx("ending an update attempt")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollback_guard_only_rises_and_attempts_keep_their_story() {
        let store = Store::memory();
        store.record_index("{}", 9, 100).unwrap();
        store.record_index("{}", 4, 200).unwrap();
        let c = store.update_channel().unwrap();
        assert_eq!((c.seen_serial, c.accepted_at), (Some(9), Some(200)));
        let id = store
            .insert_attempt(&NewAttempt {
                version: "2026.12.0",
                from_version: "2026.06.0",
                source: UpdateSource::Channel,
                bundle: "https://u.example/b.raucb",
                size: 10,
                sha256: "00",
                notes_fr: "fr",
                notes_en: "en",
                actor: "camille",
            })
            .unwrap();
        store.attempt_installed(id, "B", "boot-1", 500).unwrap();
        let why = Said {
            key: "update_rolled_back".into(),
            en: "rolled back".into(),
            fr: "revenu".into(),
        };
        store
            .finish_attempt(id, AttemptState::RolledBack, Some(&why), Some("log"))
            .unwrap();
        let a = store.attempt(id).unwrap().unwrap();
        assert_eq!(a.state, AttemptState::RolledBack);
        assert_eq!(a.target_slot.as_deref(), Some("B"));
        assert_eq!(a.error, Some(why));
        assert_eq!(store.attempts(5).unwrap().len(), 1);
    }
}
