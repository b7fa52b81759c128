//! Revocation entries keyed by id, merged on write (`add_revocation`).

use super::{read, MemoryStore};
use crate::store::{RevocationStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.add_revocation(id, until, None);
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError> {
        let m = read(&self.revocations);
        Ok(ids
            .iter()
            .filter_map(|id| m.get(*id))
            .any(|r| r.cutoff.is_none_or(|c| issued_at <= c)))
    }
}
