//! Authorization codes: `INSERT … IF NOT EXISTS` (a hash stored again is a
//! Conflict, never a reset), consumed by `UPDATE … IF used = false`: of any
//! number of instances racing, Paxos lets one apply. The consume writes its
//! own id to `used_by`, so that one sent again after its coordinator died
//! knows whether the lost first attempt was the winner.

use super::{ttl, unavailable, CassandraStore};
use crate::store::{AuthCode, CodeStore, Consume, StoreError};
use async_trait::async_trait;

#[async_trait]
impl CodeStore for CassandraStore {
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        let doc = serde_json::to_string(c).map_err(unavailable)?;
        // The hash of a code just minted: a row found there is ours.
        let fresh = self
            .insert_own(
                "INSERT INTO codes (code_hash, doc, used, expires_at) VALUES (?, ?, false, ?) IF NOT EXISTS USING TTL ?",
                &(&c.code_hash, doc, c.expires_at, ttl(c.expires_at)),
            )
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(StoreError::Conflict("authorization code already stored".into()))
        }
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        let rows: Vec<(String, i64)> = self
            .serial_rows("SELECT doc, expires_at FROM codes WHERE code_hash = ?", (code_hash,))
            .await?;
        let Some((doc, expires_at)) = rows.into_iter().next() else {
            return Ok(Consume::NotFound);
        };
        let code: AuthCode = serde_json::from_str(&doc).map_err(unavailable)?;
        // The used flag lives as long as the row (an UPDATE's cells carry
        // their own TTL).
        let me = crate::authz::secrets::random_token();
        let won = self
            .claim(
                "UPDATE codes USING TTL ? SET used = true, used_by = ? WHERE code_hash = ? IF used = false",
                &(ttl(expires_at), &me, code_hash),
                "SELECT used_by FROM codes WHERE code_hash = ?",
                code_hash,
                &me,
            )
            .await?;
        Ok(if won {
            Consume::Consumed(code)
        } else {
            Consume::AlreadyUsed(code)
        })
    }
}
