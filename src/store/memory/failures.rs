//! Failure counters keyed by what is throttled.

use super::{read, write, MemoryStore};
use crate::store::{FailureStore, Failures, StoreError};
use async_trait::async_trait;

#[async_trait]
impl FailureStore for MemoryStore {
    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError> {
        let mut m = write(&self.failures);
        let until = now.saturating_add(window);
        let f = m.entry(key.to_string()).or_insert(Failures { count: 0, until });
        f.count = if f.until <= now { 1 } else { f.count.saturating_add(1) };
        f.until = until;
        Ok(*f)
    }

    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError> {
        Ok(read(&self.failures).get(key).filter(|f| f.until > now).copied())
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        write(&self.failures).remove(key);
        Ok(())
    }
}
