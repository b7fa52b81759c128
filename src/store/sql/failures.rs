//! Failure counters: one upsert that restarts an ended window.

use super::{first, Arg, Db, SqlRow, SqlStore};
use crate::store::{FailureStore, Failures, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> FailureStore for SqlStore<D> {
    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError> {
        let until = now.saturating_add(window);
        let rows = self
            .rows(
                "INSERT INTO failures (key, attempts, expires_at) VALUES ($1, 1, $3) ON CONFLICT (key) DO UPDATE \
                 SET attempts = CASE WHEN failures.expires_at <= $2 THEN 1 ELSE failures.attempts + 1 END, \
                 expires_at = $3 RETURNING attempts, expires_at",
                &[Arg::Str(key), Arg::Int(now), Arg::Int(until)],
            )
            .await?;
        first(rows, failures)?.ok_or_else(|| StoreError::Unavailable("failure counter not returned".into()))
    }

    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError> {
        let rows = self
            .rows(
                "SELECT attempts, expires_at FROM failures WHERE key = $1 AND expires_at > $2",
                &[Arg::Str(key), Arg::Int(now)],
            )
            .await?;
        first(rows, failures)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM failures WHERE key = $1", &[Arg::Str(key)])
            .await?;
        Ok(())
    }
}

fn failures(r: &impl SqlRow) -> Result<Failures, StoreError> {
    Ok(Failures {
        count: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        until: r.int("expires_at")?,
    })
}
