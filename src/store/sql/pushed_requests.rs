//! Pushed requests: taken by one `DELETE … RETURNING`, so of two instances
//! racing for the same URI exactly one gets the row.

use super::{first, from_json, to_json, Arg, Db, SqlRow, SqlStore};
use crate::store::{PushedRequest, PushedRequestStore, StoreError};
use async_trait::async_trait;

const COLS: &str = "uri_hash, client_id, params, expires_at";

fn row(r: &impl SqlRow) -> Result<PushedRequest, StoreError> {
    Ok(PushedRequest {
        uri_hash: r.text("uri_hash")?,
        client_id: r.text("client_id")?,
        params: from_json(&r.text("params")?)?,
        expires_at: r.int("expires_at")?,
    })
}

#[async_trait]
impl<D: Db> PushedRequestStore for SqlStore<D> {
    async fn put_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO pushed_requests ({COLS}) VALUES ($1, $2, $3, $4)");
        let args = [
            Arg::Str(&r.uri_hash),
            Arg::Str(&r.client_id),
            Arg::Text(to_json(&r.params)?),
            Arg::Int(r.expires_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn take_pushed_request(
        &self,
        uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError> {
        let sql = format!(
            "DELETE FROM pushed_requests WHERE uri_hash = $1 AND client_id = $2 AND expires_at > $3 RETURNING {COLS}"
        );
        let args = [Arg::Str(uri_hash), Arg::Str(client_id), Arg::Int(now)];
        first(self.rows(&sql, &args).await?, row)
    }
}
