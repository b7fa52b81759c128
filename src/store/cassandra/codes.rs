//! Authorization codes: `INSERT … IF NOT EXISTS` (a hash stored again is a
//! Conflict, never a reset), consumed by `UPDATE … IF used = false`: of any
//! number of instances racing, Paxos lets one apply.

use super::{ttl, unavailable, CassandraStore};
use crate::store::{AuthCode, CodeStore, Consume, StoreError};
use async_trait::async_trait;

#[async_trait]
impl CodeStore for CassandraStore {
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        let doc = serde_json::to_string(c).map_err(unavailable)?;
        let fresh = self
            .lwt(
                "INSERT INTO codes (code_hash, doc, used, expires_at) VALUES (?, ?, false, ?) IF NOT EXISTS USING TTL ?",
                (&c.code_hash, doc, c.expires_at, ttl(c.expires_at)),
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
        let won = self
            .lwt(
                "UPDATE codes USING TTL ? SET used = true WHERE code_hash = ? IF used = false",
                (ttl(expires_at), code_hash),
            )
            .await?;
        Ok(if won {
            Consume::Consumed(code)
        } else {
            Consume::AlreadyUsed(code)
        })
    }
}
