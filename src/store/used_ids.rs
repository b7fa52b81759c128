//! Single-use identifiers: an assertion's `jti`, a SAML assertion ID;
//! anything whose second presentation is a replay.

use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait UsedIdStore: Send + Sync {
    /// Records `id` until `expires_at`. True the first time; false while
    /// an earlier use is still recorded (a replay). An id whose time is up
    /// may be used again.
    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
}
