//! Storage: one async interface for everything the authorization server
//! keeps, one module per backend, and one conformance suite every backend
//! runs (`conformance.rs`). Adding a backend is one file plus one arm in
//! `open`.
//!
//! Secrets never reach the store in clear: tokens and codes are stored as
//! SHA-256 hashes (`hash_token`), passwords and client secrets as hashes.

pub mod memory;
pub mod purge;
pub mod sqlite;

#[cfg(test)]
pub mod conformance;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store conflict: {0}")]
    Conflict(String),
    #[error("unsupported store url {0:?}")]
    Unsupported(String),
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// None: a public client (no secret; PKCE instead).
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    /// Per-client lifetimes in seconds (None: the server default).
    pub access_ttl: Option<i64>,
    pub refresh_ttl: Option<i64>,
    pub created_at: i64,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// A stored token: every refresh token, and access tokens in the opaque
/// format. (JWT access tokens are not stored; their revocation is a row in
/// the revocation list keyed by `jti`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    /// The resource owner; None for client_credentials.
    pub subject: Option<String>,
    pub scope: String,
    pub audience: Vec<String>,
    /// Tokens of one grant (a code, a password login, a refresh chain).
    pub family_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub auth_time: Option<i64>,
    /// Refresh tokens: already exchanged once (rotation).
    pub used: bool,
    pub revoked: bool,
}

impl TokenRecord {
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }
}

/// A resource owner's remembered approval of scopes for a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub username: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

/// Outcome of a single-use exchange (codes, refresh tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consume<T> {
    /// First use: it is now marked used.
    Consumed(T),
    /// It was used before: the caller must treat this as a replay.
    AlreadyUsed(T),
    NotFound,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Readiness: the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    // Clients. `put_client` inserts or replaces.
    async fn put_client(&self, c: &Client) -> Result<(), StoreError>;
    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;

    // Users. `put_user` inserts or replaces.
    async fn put_user(&self, u: &User) -> Result<(), StoreError>;
    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError>;

    // Authorization codes: single use, atomically.
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError>;
    /// Marks the code used and returns it; a second call returns AlreadyUsed.
    /// Expiry is the caller's check (so an expired code still reads as found).
    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError>;

    // Tokens (opaque access tokens and refresh tokens).
    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError>;
    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Refresh rotation: marks an unused refresh token used, atomically.
    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError>;
    /// Marks one stored token revoked; false if unknown.
    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Revokes every stored token of a family and lists the family in the
    /// revocation list until `until` (so JWTs carrying it fail too).
    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError>;

    // Revocation list for things not stored as tokens (JWT `jti`, families).
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError>;
    /// True when any of the ids is on the revocation list.
    async fn is_revoked(&self, ids: &[&str]) -> Result<bool, StoreError>;

    // Consents.
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError>;
    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError>;
    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError>;

    /// Deletes expired codes, tokens and revocation rows, at most `batch`
    /// rows per statement so the hot path is never blocked for long.
    /// Returns how many rows went.
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the backend named by a store URL.
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    if url.starts_with("memory://") {
        Ok(Arc::new(memory::MemoryStore::default()))
    } else if url.starts_with("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Unsupported(url.to_string()))
    }
}

/// SHA-256 hex of a token or code: what the store keys on. Tokens are 256-bit
/// random values, so a fast unsalted hash is enough (no dictionary to try).
pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
