//! Consents: a resource owner's remembered approval of scopes for a client.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A resource owner's remembered approval of scopes for a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub username: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Inserts or replaces.
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError>;
    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError>;
    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError>;
}
