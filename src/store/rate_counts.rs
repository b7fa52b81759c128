//! Shared rate-limit windows (`[gateway] rate_limit_store = "store"`):
//! each instance counts the requests it admits per key and window itself
//! and, every sync period, writes its own counts (absolute values, so a
//! write sent twice changes nothing) and reads everybody's. The database
//! sees two batches per instance per period whatever the traffic; see
//! `gateway/policy/rate_limit/shared.rs` for how the counts become
//! decisions.

use super::StoreError;
use async_trait::async_trait;

/// One instance's count for a key in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCount {
    /// A digest of route and key (hex), never the key itself.
    pub key: String,
    /// The window's number: unix milliseconds / the window's length.
    pub window: i64,
    pub count: i64,
    /// Unix seconds after which the row is of no use (and may be purged).
    pub expires_at: i64,
}

/// What one instance counted for a key in a window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InstanceCount {
    pub key: String,
    pub window: i64,
    pub instance: String,
    pub count: i64,
}

#[async_trait]
pub trait RateCountStore: Send + Sync {
    /// Records `instance`'s counts in `write` (replacing its earlier ones),
    /// the last one only once all the others are in (so a reader that sees
    /// it sees them: the caller puts its marker there), then returns every
    /// instance's count (its own too) for each `(key, window)` of `read`
    /// whose row has not expired by `now`.
    async fn sync_rate_counts(
        &self,
        instance: &str,
        write: &[WindowCount],
        read: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<InstanceCount>, StoreError>;
}
