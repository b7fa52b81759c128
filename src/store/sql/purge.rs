//! Batched deletes of expired rows, table by table.

use super::{Arg, Db, Dialect, SqlStore};
use crate::store::{PurgeStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> PurgeStore for SqlStore<D> {
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let mut total = 0;
        for table in PURGED_TABLES {
            total += self.purge_table(table, now, batch).await?;
        }
        // Kept a while past expiry, so a late poll reads `expired_token`.
        total += self
            .purge_table("device_codes", now - crate::store::device_codes::PURGE_GRACE, batch)
            .await?;
        Ok(total)
    }
}

const PURGED_TABLES: [&str; 8] = [
    "auth_codes",
    "pushed_requests",
    "rate_counts",
    "tokens",
    "revocations",
    "used_ids",
    "sessions",
    "failures",
];

impl<D: Db> SqlStore<D> {
    /// Deletes expired rows of one table, `batch` rows per statement, until
    /// a statement deletes fewer than `batch`.
    async fn purge_table(&self, table: &str, now: i64, batch: u32) -> Result<u64, StoreError> {
        // `table` is one of our own constants, never input.
        let Dialect {
            row_id, skip_locked, ..
        } = self.dialect;
        let sql = format!(
            "DELETE FROM {table} WHERE {row_id} IN \
             (SELECT {row_id} FROM {table} WHERE expires_at <= $1 LIMIT $2{skip_locked})"
        );
        let mut total = 0u64;
        loop {
            let n = self.exec(&sql, &[Arg::Int(now), Arg::Int(i64::from(batch))]).await?;
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
            // Let queued requests have the database between batches.
            tokio::task::yield_now().await;
        }
    }
}
