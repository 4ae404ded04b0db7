//! Mail notifications: the relay settings (one row) and the critical issues already mailed.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// How the relay's connection is protected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (port 587), required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the box itself or its LAN.
    None,
}

impl MailSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            MailSecurity::Starttls => "starttls",
            MailSecurity::Tls => "tls",
            MailSecurity::None => "none",
        }
    }

    fn parse(s: &str) -> MailSecurity {
        match s {
            "tls" => MailSecurity::Tls,
            "none" => MailSecurity::None,
            _ => MailSecurity::Starttls,
        }
    }
}

/// The relay settings as stored. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct MailRow {
    pub to: String,
    pub from: Option<String>,
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_pem: Option<String>,
    pub updated_at: i64,
    pub last_sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub digest_at: Option<i64>,
}

impl std::fmt::Debug for MailRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailRow")
            .field("to", &self.to)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

/// A critical issue known to the notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedIssue {
    pub check: String,
    pub key: String,
    pub first_seen: i64,
    pub mailed_at: Option<i64>,
}

impl Store {
    pub fn mail_settings(&self) -> Result<Option<MailRow>, StoreError> {
        self.conn()
            .query_row(
                "SELECT to_address, from_address, host, port, security, username, password, ca_pem,
                 updated_at, last_sent_at, last_error, digest_at FROM notify_mail WHERE id = 1",
                [],
                |r| {
                    Ok(MailRow {
                        to: r.get(0)?,
                        from: r.get(1)?,
                        host: r.get(2)?,
                        port: r.get(3)?,
                        security: MailSecurity::parse(&r.get::<_, String>(4)?),
                        username: r.get(5)?,
                        password: r.get(6)?,
                        ca_pem: r.get(7)?,
                        updated_at: r.get(8)?,
                        last_sent_at: r.get(9)?,
                        last_error: r.get(10)?,
                        digest_at: r.get(11)?,
                    })
                },
            )
            .optional()
            .ctx("reading the mail settings")
    }

    /// Saves the relay settings (`None` removes them, and forgets the mailed issues).
    pub fn set_mail_settings(&self, row: Option<&MailRow>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("saving the mail settings")?;
        match row {
            Some(m) => tx.execute(
                "INSERT INTO notify_mail(id, to_address, from_address, host, port, security, username, password, ca_pem, updated_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(id) DO UPDATE SET to_address = excluded.to_address, from_address = excluded.from_address,
                 host = excluded.host, port = excluded.port, security = excluded.security, username = excluded.username,
                 password = excluded.password, ca_pem = excluded.ca_pem, updated_at = excluded.updated_at,
                 last_error = NULL",
                params![m.to, m.from, m.host, m.port, m.security.as_str(), m.username, m.password, m.ca_pem, m.updated_at],
            ),
            None => tx
                .execute("DELETE FROM notify_mail", [])
                .and_then(|_| tx.execute("DELETE FROM notify_issues", [])),
        }
        .ctx("saving the mail settings")?;
        tx.commit().ctx("saving the mail settings")
    }

    /// Records the outcome of a send (`error` NULL when it worked), and a digest's time.
    pub fn record_mail_sent(
        &self,
        at: i64,
        error: Option<&str>,
        digest: bool,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE notify_mail SET last_sent_at = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_sent_at END,
                 last_error = ?2, digest_at = CASE WHEN ?3 AND ?2 IS NULL THEN ?1 ELSE digest_at END WHERE id = 1",
                params![at, error, digest],
            )
            .ctx("recording a mail")?;
        Ok(())
    }

    pub fn notified_issues(&self) -> Result<Vec<NotifiedIssue>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT check_name, key, first_seen, mailed_at FROM notify_issues ORDER BY first_seen")
            .ctx("listing the mailed issues")?;
        st.query_map([], |r| {
            Ok(NotifiedIssue {
                check: r.get(0)?,
                key: r.get(1)?,
                first_seen: r.get(2)?,
                mailed_at: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .ctx("listing the mailed issues")
    }

    pub fn put_notified_issue(&self, issue: &NotifiedIssue) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO notify_issues(check_name, key, first_seen, mailed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(check_name, key) DO UPDATE SET mailed_at = excluded.mailed_at",
                params![issue.check, issue.key, issue.first_seen, issue.mailed_at],
            )
            .ctx("recording a mailed issue")?;
        Ok(())
    }

    pub fn forget_notified_issue(&self, check: &str, key: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM notify_issues WHERE check_name = ?1 AND key = ?2",
                params![check, key],
            )
            .ctx("forgetting a mailed issue")?;
        Ok(())
    }
}
