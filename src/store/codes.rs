//! Authorization codes: single use, atomically, on every backend.

use super::{Consume, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An authorization code (stored by hash), bound to everything the token
/// request must repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    /// "S256" (plain is refused before it gets here).
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    /// The grant family: tokens issued from this code share it, so a replay
    /// can revoke them all.
    pub family_id: String,
    pub expires_at: i64,
    /// RFC 8707 `resource` values of the authorization request (the
    /// tokens' `aud`); empty: the client's default audience.
    #[serde(default)]
    pub resource: Vec<String>,
    /// The `sid` of the browser session the code was issued in (OIDC
    /// Back-Channel Logout), for its ID token.
    #[serde(default)]
    pub sid: Option<String>,
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Never replaces: storing a hash again is a Conflict (a replacement
    /// would reset `used` and make a spent code work again).
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError>;
    /// Marks the code used and returns it; a second call returns AlreadyUsed.
    /// Expiry is the caller's check (so an expired code still reads as found).
    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError>;
}
