//! Users: the resource owners who log in on the authorization server's
//! own pages.

use super::{ListQuery, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A resource owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts or replaces.
    async fn put_user(&self, u: &User) -> Result<(), StoreError>;
    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// In username order; `search` matches username, name or email.
    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError>;
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError>;
}
