//! The audit log: every admin action with who, what, when and the result.

use super::{Context, Store, StoreError};
use rusqlite::params;
use serde::Serialize;

/// An action to record. `actor` is an admin's username, `cli:<uid>` for the local socket, or
/// `anonymous@<address>` before login.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub result: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix time in seconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok` or `failed`, or `refused`.
    pub result: String,
    pub detail: String,
}

pub(super) fn insert(conn: &rusqlite::Connection, e: &NewAudit) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO audit(at, actor, action, target, result, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![super::now(), e.actor, e.action, e.target, e.result, e.detail],
    )
}

impl Store {
    pub fn record(&self, entry: &NewAudit) -> Result<(), StoreError> {
        insert(&self.conn(), entry).ctx("writing the audit log")?;
        Ok(())
    }

    /// Entries with an id greater than `after`, newest last, at most `limit` (the latest ones).
    pub fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT id, at, actor, action, target, result, detail FROM
                   (SELECT * FROM audit WHERE id > ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
            )
            .ctx("reading the audit log")?;
        st.query_map(params![after, limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                result: r.get(5)?,
                detail: r.get(6)?,
            })
        })
        .ctx("reading the audit log")?
        .collect::<Result<_, _>>()
        .ctx("reading the audit log")
    }
}
