//! Administrator accounts.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct AdminRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub language: Option<String>,
    pub created_at: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AdminRow> {
    Ok(AdminRow {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        language: r.get(3)?,
        created_at: r.get(4)?,
    })
}

const COLUMNS: &str = "id, username, password_hash, language, created_at";

impl Store {
    pub fn admins(&self) -> Result<Vec<AdminRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("SELECT {COLUMNS} FROM admins ORDER BY username"))
            .ctx("listing admins")?;
        st.query_map([], row)
            .ctx("listing admins")?
            .collect::<Result<_, _>>()
            .ctx("listing admins")
    }

    pub fn admin_by_name(&self, username: &str) -> Result<Option<AdminRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM admins WHERE username = ?1"),
                [username],
                row,
            )
            .optional()
            .ctx("finding an admin")
    }

    pub fn admin_by_id(&self, id: i64) -> Result<Option<AdminRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM admins WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .ctx("finding an admin")
    }

    /// Inserts an admin; `Ok(false)` if the username is taken.
    pub fn insert_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO admins(username, password_hash, language, created_at) VALUES (?1, ?2, NULL, ?3)",
                params![username, password_hash, super::now()],
            )
            .ctx("adding an admin")?;
        Ok(n == 1)
    }

    /// Removes an admin unless it is the last one; their sessions go with them.
    /// Returns `Ok(None)` if there is no such admin, `Ok(Some(false))` if it is the last one.
    pub fn remove_admin(&self, username: &str) -> Result<Option<bool>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("removing an admin")?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM admins WHERE username = ?1",
                [username],
                |r| r.get(0),
            )
            .optional()
            .ctx("removing an admin")?;
        if exists.is_none() {
            return Ok(None);
        }
        let count: i64 = tx
            .query_row("SELECT COUNT(*) FROM admins", [], |r| r.get(0))
            .ctx("counting admins")?;
        if count <= 1 {
            return Ok(Some(false));
        }
        tx.execute("DELETE FROM admins WHERE username = ?1", [username])
            .ctx("removing an admin")?;
        tx.commit().ctx("removing an admin")?;
        Ok(Some(true))
    }

    /// Replaces an admin's password hash and ends all their sessions except `keep` (the
    /// session that made the change, if any). `Ok(false)` if there is no such admin.
    pub fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("changing a password")?;
        let n = tx
            .execute(
                "UPDATE admins SET password_hash = ?2 WHERE username = ?1",
                params![username, password_hash],
            )
            .ctx("changing a password")?;
        if n == 1 {
            tx.execute(
                "DELETE FROM sessions WHERE admin_id = (SELECT id FROM admins WHERE username = ?1) AND token_hash IS NOT ?2",
                params![username, keep],
            )
            .ctx("ending sessions after a password change")?;
        }
        tx.commit().ctx("changing a password")?;
        Ok(n == 1)
    }

    pub fn set_admin_language(&self, id: i64, language: Option<&str>) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE admins SET language = ?2 WHERE id = ?1",
                params![id, language],
            )
            .ctx("saving a language")?;
        Ok(())
    }
}
