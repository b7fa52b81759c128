//! Browser sessions (end-user login pages and the admin console), kept
//! server-side so that ending one on any instance ends it on all.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A browser session (end-user login pages or the admin console), kept
/// server-side so that ending it on one instance ends it on all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the session id; the cookie carries the id itself.
    pub id_hash: String,
    /// "user" or "admin": a session of one kind never passes for the other.
    pub kind: String,
    pub subject: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Never replaces (a duplicate id is a Conflict).
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Expiry is the caller's check.
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Ends every session of a subject (of one kind); returns how many.
    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError>;
}
