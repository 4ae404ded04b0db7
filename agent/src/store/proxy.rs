//! Queries of the proxy, portal and mDNS domains: fixed service ports, portal texts and logo,
//! mDNS renames after a conflict.

use super::{Context, Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// The portal's editable texts in one language.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct PortalTexts {
    pub title: String,
    pub intro: String,
}

/// A name that was taken on the network and the one announced instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MdnsRename {
    pub wanted: String,
    pub announced: String,
    pub detected_at: i64,
}

impl Store {
    /// The fixed port of `name`: the one assigned before, else the lowest free port from
    /// `base` (up to `base + 999`), recorded for good. `None` when the range is full.
    pub fn assign_port(&self, name: &str, base: u16) -> Result<Option<u16>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a port assignment")?;
        let existing: Option<u16> = tx
            .query_row(
                "SELECT port FROM proxy_ports WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading a fixed port")?;
        if existing.is_some() {
            return Ok(existing);
        }
        let used: Vec<u16> = {
            let mut stmt = tx
                .prepare("SELECT port FROM proxy_ports")
                .ctx("listing fixed ports")?;
            stmt.query_map([], |r| r.get(0))
                .ctx("listing fixed ports")?
                .collect::<Result<_, _>>()
                .ctx("listing fixed ports")?
        };
        let end = base.saturating_add(999);
        let Some(port) = (base..=end).find(|p| !used.contains(p)) else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO proxy_ports(name, port, assigned_at) VALUES (?1, ?2, ?3)",
            params![name, port, super::now()],
        )
        .ctx("recording a fixed port")?;
        tx.commit().ctx("committing a fixed port")?;
        Ok(Some(port))
    }

    pub fn portal_texts(&self, language: &str) -> Result<Option<PortalTexts>, StoreError> {
        self.conn()
            .query_row(
                "SELECT title, intro FROM portal_texts WHERE language = ?1",
                [language],
                |r| {
                    Ok(PortalTexts {
                        title: r.get(0)?,
                        intro: r.get(1)?,
                    })
                },
            )
            .optional()
            .ctx("reading the portal texts")
    }

    pub fn set_portal_texts(
        &self,
        language: &str,
        texts: &PortalTexts,
        audit: &super::NewAudit,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a portal update")?;
        tx.execute(
            "INSERT INTO portal_texts(language, title, intro) VALUES (?1, ?2, ?3)
             ON CONFLICT(language) DO UPDATE SET title = excluded.title, intro = excluded.intro",
            params![language, texts.title, texts.intro],
        )
        .ctx("saving the portal texts")?;
        super::audit::insert(&tx, audit).ctx("auditing a portal update")?;
        tx.commit().ctx("committing a portal update")
    }

    pub fn portal_logo(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT content_type, bytes FROM portal_logo WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading the portal logo")
    }

    /// Replaces the logo, or removes it with `None`.
    pub fn set_portal_logo(
        &self,
        logo: Option<(&str, &[u8])>,
        audit: &super::NewAudit,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().ctx("starting a logo update")?;
        tx.execute("DELETE FROM portal_logo", [])
            .ctx("removing the portal logo")?;
        if let Some((content_type, bytes)) = logo {
            tx.execute(
                "INSERT INTO portal_logo(id, content_type, bytes) VALUES (1, ?1, ?2)",
                params![content_type, bytes],
            )
            .ctx("saving the portal logo")?;
        }
        super::audit::insert(&tx, audit).ctx("auditing a logo update")?;
        tx.commit().ctx("committing a logo update")
    }

    pub fn record_mdns_rename(&self, wanted: &str, announced: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO mdns_renames(wanted, announced, detected_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(wanted) DO UPDATE SET announced = excluded.announced, detected_at = excluded.detected_at",
                params![wanted, announced, super::now()],
            )
            .ctx("recording an mDNS rename")?;
        Ok(())
    }

    pub fn mdns_renames(&self) -> Result<Vec<MdnsRename>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT wanted, announced, detected_at FROM mdns_renames ORDER BY wanted")
            .ctx("listing mDNS renames")?;
        stmt.query_map([], |r| {
            Ok(MdnsRename {
                wanted: r.get(0)?,
                announced: r.get(1)?,
                detected_at: r.get(2)?,
            })
        })
        .ctx("listing mDNS renames")?
        .collect::<Result<_, _>>()
        .ctx("listing mDNS renames")
    }

    /// Forgets the renames (the admin renamed the box, or the other device left).
    pub fn clear_mdns_renames(&self) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM mdns_renames", [])
            .ctx("clearing mDNS renames")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_assigned_once_and_kept() {
        let store = Store::memory();
        assert_eq!(store.assign_port("pad", 8001).unwrap(), Some(8001));
        assert_eq!(store.assign_port("cloud", 8001).unwrap(), Some(8002));
        assert_eq!(store.assign_port("pad", 8001).unwrap(), Some(8001), "kept");
        assert_eq!(
            store.assign_port("wiki", 8002).unwrap(),
            Some(8003),
            "never reuses another's"
        );
    }
}
