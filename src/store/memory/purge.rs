//! Every map's expired entries, a batch per lock acquisition.

use super::{purge_map, MemoryStore};
use crate::store::{PurgeStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl PurgeStore for MemoryStore {
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = batch.max(1) as usize;
        let codes = purge_map(&self.codes, batch, |(c, _)| c.expires_at <= now);
        let tokens = purge_map(&self.tokens, batch, |t| t.expires_at <= now);
        let revs = purge_map(&self.revocations, batch, |r| r.until <= now);
        let used = purge_map(&self.used_ids, batch, |until| *until <= now);
        let sessions = purge_map(&self.sessions, batch, |s| s.expires_at <= now);
        let failures = purge_map(&self.failures, batch, |f| f.until <= now);
        // Kept a while past expiry, so a late poll reads `expired_token`.
        let grace = now - crate::store::device_codes::PURGE_GRACE;
        let devices = purge_map(&self.device_codes, batch, |d| d.expires_at <= grace);
        let pushed = purge_map(&self.pushed_requests, batch, |r| r.expires_at <= now);
        let windows = purge_map(&self.rate_counts, batch, |rows| {
            rows.values().all(|(_, until)| *until <= now)
        });
        Ok(codes + tokens + revs + used + sessions + failures + devices + pushed + windows)
    }
}
