//! Server-side login sessions. Only a hash of the cookie's token is stored, so a copy of the
//! database (a backup) does not hold usable sessions.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub token_hash: String,
    pub admin_id: i64,
    pub username: String,
    pub language: Option<String>,
    pub csrf: String,
    pub last_seen: i64,
}

impl Store {
    pub fn insert_session(
        &self,
        token_hash: &str,
        admin_id: i64,
        csrf: &str,
        client: &str,
    ) -> Result<(), StoreError> {
        let now = super::now();
        self.conn()
            .execute(
                "INSERT INTO sessions(token_hash, admin_id, csrf, client, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![token_hash, admin_id, csrf, client, now],
            )
            .ctx("opening a session")?;
        Ok(())
    }

    /// The session for a token hash if it was seen within `idle_secs` (a read only: expired
    /// rows are deleted by [`Store::expire_sessions`]).
    pub fn live_session(
        &self,
        token_hash: &str,
        idle_secs: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.conn().query_row(
            "SELECT s.token_hash, s.admin_id, a.username, a.language, s.csrf, s.last_seen
             FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = ?1 AND s.last_seen >= ?2",
            params![token_hash, super::now() - idle_secs],
            |r| {
                Ok(SessionRow {
                    token_hash: r.get(0)?,
                    admin_id: r.get(1)?,
                    username: r.get(2)?,
                    language: r.get(3)?,
                    csrf: r.get(4)?,
                    last_seen: r.get(5)?,
                })
            },
        )
        .optional()
        .ctx("reading a session")
    }

    /// Deletes sessions idle for more than `idle_secs`; returns how many.
    pub fn expire_sessions(&self, idle_secs: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE last_seen < ?1",
                [super::now() - idle_secs],
            )
            .ctx("expiring sessions")
    }

    pub fn touch_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
                params![token_hash, super::now()],
            )
            .ctx("refreshing a session")?;
        Ok(())
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
            .ctx("closing a session")?;
        Ok(())
    }

    /// "Log out everywhere": ends every session of one admin. Returns how many ended.
    pub fn delete_sessions_of(&self, admin_id: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE admin_id = ?1", [admin_id])
            .ctx("closing sessions")
    }
}
