//! Queries of the services' addresses (`app_addresses`): the address each service's
//! containers were made with, kept with its data.

use super::{Context, Store, StoreError};
use crate::catalog::AppId;
use rusqlite::{OptionalExtension, params};

impl Store {
    /// The address `app` runs with, if one was recorded.
    pub fn app_address(&self, app: &AppId) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT domain FROM app_addresses WHERE app = ?1",
                [app.as_str()],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading a service's address")
    }

    pub fn set_app_address(&self, app: &AppId, domain: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO app_addresses(app, domain, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app) DO UPDATE SET domain = excluded.domain, updated_at = excluded.updated_at",
                params![app.as_str(), domain, super::now()],
            )
            .ctx("recording a service's address")?;
        Ok(())
    }

    pub fn forget_app_address(&self, app: &AppId) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM app_addresses WHERE app = ?1", [app.as_str()])
            .ctx("forgetting a service's address")?;
        Ok(())
    }
}
