//! Shared rate-limit windows: one partition per key and window, one row
//! per instance (so every instance writes only its own row: plain,
//! idempotent writes, no counters and no Paxos), gone by TTL.

use super::{ttl, CassandraStore};
use crate::store::rate_counts::{InstanceCount, RateCountStore, WindowCount};
use crate::store::StoreError;
use async_trait::async_trait;
use futures_util::future::join_all;

/// Statements in flight at once for one sync.
const PARALLEL: usize = 32;

#[async_trait]
impl RateCountStore for CassandraStore {
    async fn sync_rate_counts(
        &self,
        instance: &str,
        counts: &[WindowCount],
        wanted: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<InstanceCount>, StoreError> {
        // The last row after all the others (see the trait).
        if let Some((last, rest)) = counts.split_last() {
            for chunk in rest.chunks(PARALLEL) {
                for r in join_all(chunk.iter().map(|c| self.write_count(instance, c))).await {
                    r?;
                }
            }
            self.write_count(instance, last).await?;
        }
        let mut out = Vec::new();
        for chunk in wanted.chunks(PARALLEL) {
            for r in join_all(chunk.iter().map(|(k, w)| self.counts(k, *w, now))).await {
                out.extend(r?);
            }
        }
        Ok(out)
    }
}

impl CassandraStore {
    async fn write_count(&self, instance: &str, c: &WindowCount) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO rate_counts (key, win, instance, admitted, expires_at) VALUES (?, ?, ?, ?, ?) USING TTL ?",
            (&c.key, c.window, instance, c.count, c.expires_at, ttl(c.expires_at)),
        )
        .await
    }

    async fn counts(&self, key: &str, window: i64, now: i64) -> Result<Vec<InstanceCount>, StoreError> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = self
            .rows(
                "SELECT instance, admitted, expires_at FROM rate_counts WHERE key = ? AND win = ?",
                (key, window),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, until)| until.unwrap_or(0) > now)
            .map(|(instance, admitted, _)| InstanceCount {
                key: key.to_string(),
                window,
                instance,
                count: admitted.unwrap_or(0),
            })
            .collect())
    }
}
