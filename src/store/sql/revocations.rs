//! The revocation list: one row per id, merged by upsert (later
//! `expires_at`, wider cutoff, NULL cutoff covering everything).

use super::{Arg, Db, SqlRow, SqlStore};
use crate::store::{Change, RevocationStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> RevocationStore for SqlStore<D> {
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.exec(REVOKE_ID_SQL, &[Arg::Str(id), Arg::Int(until)]).await?;
        self.announce(Change::Revoked(id.to_string())).await;
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError> {
        for chunk in ids.chunks(IN_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM revocations WHERE id IN ({}) AND (cutoff IS NULL OR ${} <= cutoff)) AS hit",
                marks.join(", "),
                chunk.len() + 1
            );
            let mut args: Vec<Arg> = chunk.iter().map(|id| Arg::Str(id)).collect();
            args.push(Arg::Int(issued_at));
            let rows = self.rows(&sql, &args).await?;
            if let Some(r) = rows.first() {
                if r.flag("hit")? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Ids per `IN (…)` list, well under every bound-parameter limit.
const IN_CHUNK: usize = 500;

/// Plain revocation: everything carrying the id, whatever its issue time.
pub(super) const REVOKE_ID_SQL: &str = "INSERT INTO revocations (id, expires_at, cutoff) VALUES ($1, $2, NULL) \
     ON CONFLICT (id) DO UPDATE SET cutoff = NULL, expires_at = CASE \
     WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at \
     ELSE revocations.expires_at END";

/// Cutoff revocation: what was issued at or before `$3`. A later cutoff
/// widens it; a plain revocation (NULL) already covers everything.
pub(super) const REVOKE_CUTOFF_SQL: &str = "INSERT INTO revocations (id, expires_at, cutoff) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET \
     cutoff = CASE WHEN excluded.cutoff > revocations.cutoff THEN excluded.cutoff ELSE revocations.cutoff END, \
     expires_at = CASE WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at \
     ELSE revocations.expires_at END";
