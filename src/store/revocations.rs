//! The revocation list, for what is not stored as a token: JWT `jti`s,
//! grant families, and owner cutoffs ("everything issued to this client
//! before T", written by `TokenStore::revoke_owner`).

use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Everything carrying `id`, listed until `until` (a later `until`
    /// extends an entry, an earlier one never shortens it).
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError>;
    /// True when any of the ids is on the revocation list; a cutoff entry
    /// (`revoke_owner`) counts only for tokens issued at or before it.
    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError>;
}
