//! Failed-attempt counters (login throttling), shared by every instance.

use super::StoreError;
use async_trait::async_trait;

/// Failed attempts counted under one key (a user, an address) in a window
/// that restarts with every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the window ends (unix seconds) if no further failure comes.
    pub until: i64,
}

#[async_trait]
pub trait FailureStore: Send + Sync {
    /// Counts one failure; the window restarts now and lasts `window` s.
    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError>;
    /// The count of a window that has not ended; None otherwise.
    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError>;
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;
}
