//! Read access to the audit log (writing happens in the domains, next to each action).

use crate::store::{AuditEntry, Store, StoreError};

#[derive(Clone)]
pub struct Audit {
    store: Store,
}

impl Audit {
    pub fn new(store: Store) -> Audit {
        Audit { store }
    }

    pub fn after(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit_after(after, limit)
    }
}
