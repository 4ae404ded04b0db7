//! Image packs: the services and images imported packs brought, and enrolled trusted keys.

use super::{Context, Store, StoreError};
use crate::catalog::Entry;
use crate::catalog::manifest::{Manifest, Text};
use crate::pack::Imported;
use crate::signing::keyring::{Origin, PublicKey, Purpose, TrustedKey};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A catalog entry as `pack_services.entry` holds it.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    manifest: Manifest,
    icon_svg: String,
    page: Text,
}

fn purpose_word(p: Purpose) -> &'static str {
    p.dir_name()
}

impl Store {
    pub fn put_pack_service(
        &self,
        entry: &Entry,
        pack: &str,
        signer: &str,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(&StoredEntry {
            manifest: entry.manifest.clone(),
            icon_svg: entry.icon_svg.clone(),
            page: entry.page.clone(),
        })
        .expect("entries serialize");
        self.conn()
            .execute(
                "INSERT INTO pack_services(id, version, entry, pack, signer, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET version = excluded.version, entry = excluded.entry, pack = excluded.pack,
                 signer = excluded.signer, imported_at = excluded.imported_at",
                params![entry.manifest.id.as_str(), entry.manifest.version, json, pack, signer, super::now()],
            )
            .ctx("recording a pack's service")?;
        Ok(())
    }

    /// The services imported packs brought; a row that no longer reads as a manifest of
    /// this version is skipped (and logged), not fatal.
    pub fn pack_services(&self) -> Result<Vec<Imported>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT id, entry, pack, signer, imported_at FROM pack_services ORDER BY id")
            .ctx("listing packs' services")?;
        let rows: Vec<(String, String, String, String, i64)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .ctx("listing packs' services")?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, entry, pack, signer, imported_at)| {
                match serde_json::from_str::<StoredEntry>(&entry) {
                    Ok(e) => Some(Imported {
                        entry: Entry {
                            manifest: e.manifest,
                            icon_svg: e.icon_svg,
                            page: e.page,
                        },
                        pack,
                        signer,
                        imported_at,
                    }),
                    Err(err) => {
                        log::warn!("the packed entry of {id} cannot be read ({err}); skipped");
                        None
                    }
                }
            })
            .collect())
    }

    pub fn put_pack_image(
        &self,
        reference: &str,
        image_id: &str,
        pack: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO pack_images(reference, image_id, pack, loaded_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id, pack = excluded.pack, loaded_at = excluded.loaded_at",
                params![reference, image_id, pack, super::now()],
            )
            .ctx("recording a pack's image")?;
        Ok(())
    }

    pub fn pack_image(&self, reference: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT image_id FROM pack_images WHERE reference = ?1",
                [reference],
                |r| r.get(0),
            )
            .optional()
            .ctx("resolving a pack's image")
    }

    /// Every (reference, content id) loaded from packs.
    pub fn pack_images(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT reference, image_id FROM pack_images ORDER BY reference")
            .ctx("listing packs' images")?;
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .ctx("listing packs' images")
    }

    pub fn forget_pack_image(&self, reference: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM pack_images WHERE reference = ?1", [reference])
            .ctx("forgetting a pack's image")?;
        Ok(())
    }

    pub fn add_trusted_key(&self, purpose: Purpose, key: &TrustedKey) -> Result<(), StoreError> {
        let (by, at) = match &key.origin {
            Origin::Enrolled { by, at } => (by.clone(), *at),
            Origin::Image { .. } => ("image".to_owned(), super::now()),
        };
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO trusted_keys(key_id, purpose, public_key, name, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key.key.id.as_str(), purpose_word(purpose), key.key.base64, key.name, by, at],
            )
            .ctx("enrolling a key")?;
        Ok(())
    }

    pub fn remove_trusted_key(&self, purpose: Purpose, key_id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "DELETE FROM trusted_keys WHERE key_id = ?1 AND purpose = ?2",
                params![key_id, purpose_word(purpose)],
            )
            .ctx("removing a key")?;
        Ok(n > 0)
    }

    /// Enrolled keys for `purpose`; a stored key that no longer parses is skipped (logged).
    pub fn trusted_keys(&self, purpose: Purpose) -> Result<Vec<TrustedKey>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT public_key, name, added_by, added_at FROM trusted_keys WHERE purpose = ?1 ORDER BY added_at, key_id")
            .ctx("listing keys")?;
        let rows: Vec<(String, String, String, i64)> = st
            .query_map([purpose_word(purpose)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .and_then(|rows| rows.collect())
            .ctx("listing keys")?;
        Ok(rows
            .into_iter()
            .filter_map(|(public, name, by, at)| match PublicKey::parse(&public) {
                Ok(key) => Some(TrustedKey {
                    key,
                    name,
                    origin: Origin::Enrolled { by, at },
                }),
                Err(e) => {
                    log::warn!("an enrolled key cannot be read ({e}); skipped");
                    None
                }
            })
            .collect())
    }
}
