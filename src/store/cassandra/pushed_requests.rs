//! Pushed authorization requests: `INSERT … IF NOT EXISTS`, taken by
//! `DELETE … IF client_id = ?`: of any number of racing instances one gets
//! the request, and another client's attempt neither gets nor spends it.

use super::{ttl, unavailable, CassandraStore};
use crate::store::{PushedRequest, PushedRequestStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl PushedRequestStore for CassandraStore {
    async fn put_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        let params = serde_json::to_string(&r.params).map_err(unavailable)?;
        // The URI is a secret just minted: a row found there is ours.
        let fresh = self
            .insert_own(
                "INSERT INTO pushed_requests (uri_hash, client_id, params, expires_at) VALUES (?, ?, ?, ?) \
                 IF NOT EXISTS USING TTL ?",
                &(&r.uri_hash, &r.client_id, params, r.expires_at, ttl(r.expires_at)),
            )
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(StoreError::Conflict("request_uri already stored".into()))
        }
    }

    async fn take_pushed_request(
        &self,
        uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .serial_rows(
                "SELECT client_id, params, expires_at FROM pushed_requests WHERE uri_hash = ?",
                (uri_hash,),
            )
            .await?;
        let Some((owner, params, expires_at)) = rows.into_iter().next() else {
            return Ok(None);
        };
        if owner != client_id || expires_at <= now {
            return Ok(None);
        }
        if !self
            .lwt(
                "DELETE FROM pushed_requests WHERE uri_hash = ? IF client_id = ?",
                (uri_hash, client_id),
            )
            .await?
        {
            return Ok(None);
        }
        Ok(Some(PushedRequest {
            uri_hash: uri_hash.to_string(),
            client_id: owner,
            params: serde_json::from_str(&params).map_err(unavailable)?,
            expires_at,
        }))
    }
}
