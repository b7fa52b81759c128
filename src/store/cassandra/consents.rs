//! Consents: partitioned by user, one row per client.

use super::CassandraStore;
use crate::store::{Consent, ConsentStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl ConsentStore for CassandraStore {
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO consents (username, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)",
            (&c.username, &c.client_id, &c.scopes, c.granted_at),
        )
        .await
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        let rows: Vec<(Option<Vec<String>>, i64)> = self
            .rows(
                "SELECT scopes, granted_at FROM consents WHERE username = ? AND client_id = ?",
                (username, client_id),
            )
            .await?;
        Ok(rows.into_iter().next().map(|(scopes, granted_at)| Consent {
            username: username.to_string(),
            client_id: client_id.to_string(),
            scopes: scopes.unwrap_or_default(),
            granted_at,
        }))
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        self.lwt(
            "DELETE FROM consents WHERE username = ? AND client_id = ? IF EXISTS",
            (username, client_id),
        )
        .await
    }
}
