//! Single-use ids: `INSERT … IF NOT EXISTS`; an id whose recorded use has
//! expired (but whose row has not gone yet) is taken over with
//! `UPDATE … IF expires_at = <what we saw>`, so that of two racing takers
//! one wins.

use super::{ttl, CassandraStore};
use crate::store::{StoreError, UsedIdStore};
use async_trait::async_trait;

#[async_trait]
impl UsedIdStore for CassandraStore {
    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        if self
            .lwt(
                "INSERT INTO used_ids (id, expires_at) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
                (id, expires_at, ttl(expires_at)),
            )
            .await?
        {
            return Ok(true);
        }
        let rows: Vec<(Option<i64>,)> = self
            .serial_rows("SELECT expires_at FROM used_ids WHERE id = ?", (id,))
            .await?;
        match rows.into_iter().next() {
            Some((Some(old),)) if old > now => Ok(false),
            Some((Some(old),)) => {
                self.lwt(
                    "UPDATE used_ids USING TTL ? SET expires_at = ? WHERE id = ? IF expires_at = ?",
                    (ttl(expires_at), expires_at, id, old),
                )
                .await
            }
            // Gone between the two statements (purged, TTL): a fresh try.
            _ => {
                self.lwt(
                    "INSERT INTO used_ids (id, expires_at) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
                    (id, expires_at, ttl(expires_at)),
                )
                .await
            }
        }
    }
}
