//! Failure counters (login throttling), shared by every instance: one row
//! per key, changed by compare-and-set (`IF count = … AND until = …`) so
//! that failures counted at once on several instances are all counted.
//! Cassandra's counters cannot carry a TTL, and a window that restarts with
//! every failure needs the row's last `until` anyway. On one instance the
//! writers of a key queue on a lock first (no Paxos contention among them).

use super::{ttl, CassandraStore};
use crate::store::{FailureStore, Failures, StoreError};
use async_trait::async_trait;

/// Compare-and-set rounds before giving up (each lost round means another
/// instance's failure was counted).
const ROUNDS: u32 = 64;

#[async_trait]
impl FailureStore for CassandraStore {
    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError> {
        let _queued = self.stripe(key).lock().await;
        let until = now.saturating_add(window);
        for _ in 0..ROUNDS {
            let rows: Vec<(Option<i32>, Option<i64>)> = self
                .serial_rows("SELECT count, until FROM failures WHERE key = ?", (key,))
                .await?;
            let applied = match rows.into_iter().next() {
                None => self
                    .lwt(
                        "INSERT INTO failures (key, count, until) VALUES (?, 1, ?) IF NOT EXISTS USING TTL ?",
                        (key, until, ttl(until)),
                    )
                    .await?
                    .then_some(1),
                Some((count, old_until)) => {
                    let (count, old_until) = (count.unwrap_or(0), old_until.unwrap_or(0));
                    let next = if old_until <= now { 1 } else { count.saturating_add(1) };
                    self.lwt(
                        "UPDATE failures USING TTL ? SET count = ?, until = ? WHERE key = ? \
                         IF count = ? AND until = ?",
                        (ttl(until), next, until, key, count, old_until),
                    )
                    .await?
                    .then_some(next)
                }
            };
            if let Some(count) = applied {
                return Ok(Failures {
                    count: count.max(0) as u32,
                    until,
                });
            }
        }
        Err(StoreError::Unavailable(format!(
            "failure counter {key:?}: {ROUNDS} lost compare-and-set rounds"
        )))
    }

    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError> {
        let rows: Vec<(Option<i32>, Option<i64>)> = self
            .rows("SELECT count, until FROM failures WHERE key = ?", (key,))
            .await?;
        Ok(match rows.into_iter().next() {
            Some((Some(count), Some(until))) if until > now => Some(Failures {
                count: count.max(0) as u32,
                until,
            }),
            _ => None,
        })
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        // Through Paxos too, so that it orders with the compare-and-sets.
        self.lwt("DELETE FROM failures WHERE key = ? IF EXISTS", (key,)).await?;
        Ok(())
    }
}
