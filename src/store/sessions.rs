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
    /// Clients issued a code or tokens in this session (OIDC Back-Channel
    /// Logout: they are told when it ends), sorted, each once.
    #[serde(default)]
    pub clients: Vec<String>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Never replaces (a duplicate id is a Conflict).
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Expiry is the caller's check.
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Records that `client_id` was issued a code or tokens in the session
    /// (`expires_at`: the session's, for backends that expire by TTL).
    /// Recording a client again changes nothing; an unknown or ended
    /// session stays unknown (no row is created).
    async fn add_session_client(&self, id_hash: &str, client_id: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Ends a session; returns it as it was (None: there was none).
    async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends every session of a subject (of one kind); returns them.
    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<Vec<SessionRecord>, StoreError>;
}
