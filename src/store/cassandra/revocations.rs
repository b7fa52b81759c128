//! The revocation list: each revocation is its own row `(id, cutoff,
//! until)` written blind (no read-before-write, no LWT), kept by TTL until
//! `until`. An id's entry is the union of its rows: a later `until` is
//! simply a row that lives longer, a wider cutoff a row with a larger
//! `cutoff`, a plain revocation the row with `cutoff = i64::MAX`. Rows are
//! clustered by cutoff, largest first, so `PER PARTITION LIMIT 1` reads the
//! widest one.

use super::{ttl, CassandraStore};
use crate::store::{Change, RevocationStore, StoreError};
use async_trait::async_trait;

/// The cutoff of a plain revocation: it covers every issue time.
pub(super) const EVERYTHING: i64 = i64::MAX;

/// Partition keys per `IN` list: small, since each is a partition the
/// coordinator must ask for.
const IN_CHUNK: usize = 100;

impl CassandraStore {
    pub(super) async fn add_revocation(&self, id: &str, cutoff: i64, until: i64) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO revocations (id, cutoff, until) VALUES (?, ?, ?) USING TTL ?",
            (id, cutoff, until, ttl(until)),
        )
        .await
    }

    /// The widest cutoff on the list for each of `ids` that has one.
    pub(super) async fn cutoffs(&self, ids: &[&str]) -> Result<Vec<(String, i64)>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let rows: Vec<(String, i64)> = self
                .rows(
                    "SELECT id, cutoff FROM revocations WHERE id IN ? PER PARTITION LIMIT 1",
                    (chunk,),
                )
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }
}

#[async_trait]
impl RevocationStore for CassandraStore {
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.add_revocation(id, EVERYTHING, until).await?;
        self.announce(Change::Revoked(id.to_string())).await;
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError> {
        if ids.is_empty() {
            return Ok(false);
        }
        Ok(self.cutoffs(ids).await?.iter().any(|(_, c)| issued_at <= *c))
    }
}
