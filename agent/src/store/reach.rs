//! Queries of the reach domain: the public domain and ACME settings, services' chosen public
//! names, the last certificate attempt, the relay.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// The reach settings as stored (validated by `reach` before they get here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachRow {
    pub domain: Option<String>,
    pub acme_directory: String,
    pub acme_contact: Option<String>,
    pub challenge: String,
    pub dns_server: Option<String>,
    pub dns_zone: Option<String>,
    pub tsig_name: Option<String>,
    pub tsig_algorithm: String,
    pub tsig_secret: Option<String>,
}

/// The last attempt at the public certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: i64,
    pub ok: bool,
    pub error_key: Option<String>,
    pub error: Option<String>,
}

/// The relay the box joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRow {
    pub endpoint: String,
    pub relay_public_key: String,
    pub box_private_key: String,
    pub box_public_key: String,
    pub box_address: String,
    pub relay_address: String,
    pub ports: String,
}

impl Store {
    pub fn reach_settings(&self) -> Result<ReachRow, StoreError> {
        self.conn()
            .query_row(
                "SELECT domain, acme_directory, acme_contact, challenge, dns_server, dns_zone,
                        tsig_name, tsig_algorithm, tsig_secret FROM reach_settings WHERE id = 1",
                [],
                |r| {
                    Ok(ReachRow {
                        domain: r.get(0)?,
                        acme_directory: r.get(1)?,
                        acme_contact: r.get(2)?,
                        challenge: r.get(3)?,
                        dns_server: r.get(4)?,
                        dns_zone: r.get(5)?,
                        tsig_name: r.get(6)?,
                        tsig_algorithm: r.get(7)?,
                        tsig_secret: r.get(8)?,
                    })
                },
            )
            .ctx("reading the reach settings")
    }

    /// Saves the settings and the audit entry in one transaction.
    pub fn save_reach_settings(
        &self,
        row: &ReachRow,
        audit: &super::NewAudit,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a reach change")?;
        tx.execute(
            "UPDATE reach_settings SET domain = ?1, acme_directory = ?2, acme_contact = ?3,
                challenge = ?4, dns_server = ?5, dns_zone = ?6, tsig_name = ?7,
                tsig_algorithm = ?8, tsig_secret = ?9 WHERE id = 1",
            params![
                row.domain,
                row.acme_directory,
                row.acme_contact,
                row.challenge,
                row.dns_server,
                row.dns_zone,
                row.tsig_name,
                row.tsig_algorithm,
                row.tsig_secret
            ],
        )
        .ctx("saving the reach settings")?;
        super::audit::insert(&tx, audit).ctx("auditing a reach change")?;
        tx.commit().ctx("committing a reach change")
    }

    /// The public names the admin chose, by service.
    pub fn reach_names(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT app, host FROM reach_names ORDER BY app")
            .ctx("listing public names")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("listing public names")?
            .collect::<Result<_, _>>()
            .ctx("listing public names")
    }

    /// Sets (`Some`) or forgets (`None`) the public name chosen for `app`; `Ok(false)` when
    /// another service has that name.
    pub fn set_reach_name(
        &self,
        app: &str,
        host: Option<&str>,
        audit: &super::NewAudit,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a public name change")?;
        match host {
            Some(host) => {
                let taken: Option<String> = tx
                    .query_row(
                        "SELECT app FROM reach_names WHERE host = ?1 AND app <> ?2",
                        params![host, app],
                        |r| r.get(0),
                    )
                    .optional()
                    .ctx("checking a public name")?;
                if taken.is_some() {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO reach_names(app, host) VALUES (?1, ?2)
                     ON CONFLICT(app) DO UPDATE SET host = excluded.host",
                    params![app, host],
                )
                .ctx("saving a public name")?;
            }
            None => {
                tx.execute("DELETE FROM reach_names WHERE app = ?1", [app])
                    .ctx("forgetting a public name")?;
            }
        }
        super::audit::insert(&tx, audit).ctx("auditing a reach change")?;
        tx.commit().ctx("committing a public name change")?;
        Ok(true)
    }

    pub fn reach_attempt(&self) -> Result<Option<AttemptRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT at, ok, error_key, error FROM reach_attempts WHERE id = 1",
                [],
                |r| {
                    Ok(AttemptRecord {
                        at: r.get(0)?,
                        ok: r.get(1)?,
                        error_key: r.get(2)?,
                        error: r.get(3)?,
                    })
                },
            )
            .optional()
            .ctx("reading the last certificate attempt")
    }

    pub fn record_reach_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO reach_attempts(id, at, ok, error_key, error) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET at = excluded.at, ok = excluded.ok,
                    error_key = excluded.error_key, error = excluded.error",
                params![a.at, a.ok, a.error_key, a.error],
            )
            .ctx("recording a certificate attempt")?;
        Ok(())
    }

    pub fn relay(&self) -> Result<Option<RelayRow>, StoreError> {
        self.conn()
            .query_row(
                "SELECT endpoint, relay_public_key, box_private_key, box_public_key, box_address,
                        relay_address, ports FROM reach_relay WHERE id = 1",
                [],
                |r| {
                    Ok(RelayRow {
                        endpoint: r.get(0)?,
                        relay_public_key: r.get(1)?,
                        box_private_key: r.get(2)?,
                        box_public_key: r.get(3)?,
                        box_address: r.get(4)?,
                        relay_address: r.get(5)?,
                        ports: r.get(6)?,
                    })
                },
            )
            .optional()
            .ctx("reading the relay")
    }

    /// Records (`Some`) or forgets (`None`) the relay, with its audit entry.
    pub fn save_relay(
        &self,
        relay: Option<&RelayRow>,
        audit: &super::NewAudit,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a relay change")?;
        tx.execute("DELETE FROM reach_relay", [])
            .ctx("forgetting the relay")?;
        if let Some(r) = relay {
            tx.execute(
                "INSERT INTO reach_relay(id, endpoint, relay_public_key, box_private_key,
                    box_public_key, box_address, relay_address, ports)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.endpoint,
                    r.relay_public_key,
                    r.box_private_key,
                    r.box_public_key,
                    r.box_address,
                    r.relay_address,
                    r.ports
                ],
            )
            .ctx("saving the relay")?;
        }
        super::audit::insert(&tx, audit).ctx("auditing a reach change")?;
        tx.commit().ctx("committing a relay change")
    }
}
