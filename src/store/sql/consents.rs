//! Consents: one row per (user, client), upserted.

use super::{first, from_json, to_json, Arg, Db, SqlRow, SqlStore};
use crate::store::{Consent, ConsentStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> ConsentStore for SqlStore<D> {
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO consents (username, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (username, client_id) DO UPDATE SET scopes = excluded.scopes, \
                 granted_at = excluded.granted_at",
            &[
                Arg::Str(&c.username),
                Arg::Str(&c.client_id),
                Arg::Text(to_json(&c.scopes)?),
                Arg::Int(c.granted_at),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        let rows = self
            .rows(
                "SELECT username, client_id, scopes, granted_at FROM consents WHERE username = $1 AND client_id = $2",
                &[Arg::Str(username), Arg::Str(client_id)],
            )
            .await?;
        first(rows, |r| {
            Ok(Consent {
                username: r.text("username")?,
                client_id: r.text("client_id")?,
                scopes: from_json(&r.text("scopes")?)?,
                granted_at: r.int("granted_at")?,
            })
        })
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "DELETE FROM consents WHERE username = $1 AND client_id = $2",
                &[Arg::Str(username), Arg::Str(client_id)],
            )
            .await?;
        Ok(n > 0)
    }
}
