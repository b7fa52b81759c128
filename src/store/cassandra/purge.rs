//! Purge on Cassandra: TTL does the work. Every expiring row was written
//! `USING TTL` (its expiry by the wall clock plus a grace period), so
//! Cassandra drops it during compaction with no purge at all. What
//! `purge_expired` still does is delete, by the caller's `now`, the rows
//! already past their expiry but still within that grace period, so that
//! it keeps the meaning it has on every backend (and its count). It reads
//! only those rows (`expires_at <= now`, filtered on the nodes), so its
//! cost follows the expiry rate, not the table size; each delete is
//! conditional (`IF expires_at <= now`), so a row renewed meanwhile (a
//! used id taken over) is left alone.

use super::{unavailable, CassandraStore};
use crate::store::device_codes::PURGE_GRACE;
use crate::store::{Owner, PurgeStore, StoreError};
use async_trait::async_trait;
use futures_util::StreamExt;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::unprepared::Statement;

impl CassandraStore {
    /// Every row of a (filtered) scan, page by page.
    async fn scan<R>(&self, cql: &'static str, values: impl SerializeRow, page: i32) -> Result<Vec<R>, StoreError>
    where
        R: 'static + for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let mut st = super::idempotent(Statement::new(cql));
        st.set_page_size(page);
        let pager = tokio::time::timeout(self.limit, self.db.execute_iter(st, values))
            .await
            .map_err(|_| unavailable("cassandra did not answer in time"))?
            .map_err(unavailable)?;
        let mut rows = pager.rows_stream::<R>().map_err(unavailable)?;
        let mut out = Vec::new();
        while let Some(r) = tokio::time::timeout(self.limit, rows.next())
            .await
            .map_err(|_| unavailable("cassandra did not answer in time"))?
        {
            out.push(r.map_err(unavailable)?);
        }
        Ok(out)
    }

    /// Conditional deletes, `batch` at a time; how many applied.
    async fn delete_each<K: Send + Sync>(
        &self,
        cql: &'static str,
        keys: &[K],
        batch: usize,
        bind: impl Fn(&K) -> (String, i64) + Sync,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for chunk in keys.chunks(batch) {
            let done = futures_util::future::join_all(chunk.iter().map(|k| self.lwt(cql, bind(k)))).await;
            for d in done {
                if d? {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl PurgeStore for CassandraStore {
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let page = batch.clamp(1, 5000) as i32;
        let b = batch.min(256) as usize;
        let mut n = 0;

        let codes: Vec<(String,)> = self
            .scan(
                "SELECT code_hash FROM codes WHERE expires_at <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each(
                "DELETE FROM codes WHERE code_hash = ? IF expires_at <= ?",
                &codes,
                b,
                |k| (k.0.clone(), now),
            )
            .await?;

        type Tok = (String, String, String, Option<String>, i64);
        let tokens: Vec<Tok> = self
            .scan(
                "SELECT token_hash, family_id, client_id, subject, issued_at FROM tokens WHERE expires_at <= ? \
                 ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each(
                "DELETE FROM tokens WHERE token_hash = ? IF expires_at <= ?",
                &tokens,
                b,
                |k| (k.0.clone(), now),
            )
            .await?;
        // Their lookup rows (which would also go by TTL).
        for (hash, family, client, subject, issued_at) in &tokens {
            if !family.is_empty() {
                self.exec(
                    "DELETE FROM tokens_by_family WHERE family_id = ? AND token_hash = ?",
                    (family, hash),
                )
                .await?;
            }
            let mut owners = vec![Owner::Client(client).revocation_id()];
            owners.extend(subject.as_deref().map(|s| Owner::Subject(s).revocation_id()));
            for o in owners {
                self.exec(
                    "DELETE FROM tokens_by_owner WHERE owner = ? AND issued_at = ? AND token_hash = ?",
                    (o, *issued_at, hash),
                )
                .await?;
            }
        }

        // Revocation rows are written blind, and so deleted.
        let revs: Vec<(String, i64, i64)> = self
            .scan(
                "SELECT id, cutoff, until FROM revocations WHERE until <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        for chunk in revs.chunks(b) {
            let done = futures_util::future::join_all(chunk.iter().map(|(id, cutoff, until)| {
                self.exec(
                    "DELETE FROM revocations WHERE id = ? AND cutoff = ? AND until = ?",
                    (id, *cutoff, *until),
                )
            }))
            .await;
            for d in done {
                d?;
                n += 1;
            }
        }

        let ids: Vec<(String,)> = self
            .scan(
                "SELECT id FROM used_ids WHERE expires_at <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each("DELETE FROM used_ids WHERE id = ? IF expires_at <= ?", &ids, b, |k| {
                (k.0.clone(), now)
            })
            .await?;

        let sessions: Vec<(String,)> = self
            .scan(
                "SELECT id_hash FROM sessions WHERE expires_at <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each(
                "DELETE FROM sessions WHERE id_hash = ? IF expires_at <= ?",
                &sessions,
                b,
                |k| (k.0.clone(), now),
            )
            .await?;

        let failures: Vec<(String,)> = self
            .scan(
                "SELECT key FROM failures WHERE until <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each("DELETE FROM failures WHERE key = ? IF until <= ?", &failures, b, |k| {
                (k.0.clone(), now)
            })
            .await?;

        let pushed: Vec<(String,)> = self
            .scan(
                "SELECT uri_hash FROM pushed_requests WHERE expires_at <= ? ALLOW FILTERING",
                (now,),
                page,
            )
            .await?;
        n += self
            .delete_each(
                "DELETE FROM pushed_requests WHERE uri_hash = ? IF expires_at <= ?",
                &pushed,
                b,
                |k| (k.0.clone(), now),
            )
            .await?;

        // Device codes stay PURGE_GRACE past expiry (late polls read
        // "expired"), and take their user code along.
        let cutoff = now.saturating_sub(PURGE_GRACE);
        let devices: Vec<(String, String)> = self
            .scan(
                "SELECT device_code_hash, user_code_hash FROM device_codes WHERE expires_at <= ? ALLOW FILTERING",
                (cutoff,),
                page,
            )
            .await?;
        n += self
            .delete_each(
                "DELETE FROM device_codes WHERE device_code_hash = ? IF expires_at <= ?",
                &devices,
                b,
                |k| (k.0.clone(), cutoff),
            )
            .await?;
        for (device, user) in &devices {
            self.lwt(
                "DELETE FROM device_user_codes WHERE user_code_hash = ? IF device_code_hash = ?",
                (user, device),
            )
            .await?;
        }
        Ok(n)
    }
}
