//! Purge of expired rows: the concern every backend implements over all
//! of its expiring data (codes, tokens, revocation entries, single-use ids,
//! sessions, failure counters, and whatever concern is added later), and
//! the background task that runs it.

use super::{DynStore, StoreError};
use async_trait::async_trait;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

#[async_trait]
pub trait PurgeStore: Send + Sync {
    /// Deletes rows that expired at or before `now`, at most `batch` rows
    /// per statement so the hot path is never blocked for long. Returns
    /// how many rows went. A concern with expiring rows adds its own to
    /// every backend's implementation (and a case to the suite's purge
    /// cases).
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError>;
}

/// Rows per delete statement: small enough that a purge never holds the
/// database for long, large enough to keep up with any issuance rate.
const BATCH: u32 = 1000;

/// Purges every `every` until the handle is aborted or the runtime stops.
/// Failures are logged and retried on the next tick; nothing here panics.
pub fn spawn_purger(store: DynStore, every: Duration) -> JoinHandle<()> {
    // tokio's interval panics on a zero period.
    let every = every.max(Duration::from_millis(10));
    tokio::spawn(async move {
        // First run one period after start: startup has enough to do.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        // After a stall, run once, not a burst of catch-up purges.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.purge_expired(super::now(), BATCH).await {
                Ok(0) => tracing::debug!("purge: no expired rows"),
                Ok(n) => tracing::info!(rows = n, "purge: removed expired codes, tokens and revocations"),
                Err(e) => tracing::warn!(error = %e, "purge failed; retrying next period"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::token;
    use crate::store::{memory::MemoryStore, TokenKind};
    use std::sync::Arc;

    #[tokio::test]
    async fn purger_removes_expired_rows_periodically() {
        let store: DynStore = Arc::new(MemoryStore::default());
        store.put_token(&token("old", TokenKind::Access, "f", 1)).await.unwrap();
        store
            .put_token(&token("live", TokenKind::Access, "f", i64::MAX))
            .await
            .unwrap();
        let h = spawn_purger(store.clone(), Duration::from_millis(20));
        // Rows added after the first run go on a later one.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.get_token("old").await.unwrap(), None);
        store
            .put_token(&token("old2", TokenKind::Refresh, "f", 2))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while store.get_token("old2").await.unwrap().is_some() {
            assert!(tokio::time::Instant::now() < deadline, "second purge never ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(store.get_token("live").await.unwrap().is_some());
        assert!(!h.is_finished());
        h.abort();
    }

    #[tokio::test]
    async fn zero_period_does_not_panic() {
        let store: DynStore = Arc::new(MemoryStore::default());
        let h = spawn_purger(store, Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!h.is_finished());
        h.abort();
    }
}
