//! Storage: one async interface for everything the authorization server
//! keeps, one module per backend, and one conformance suite every backend
//! runs (`conformance.rs`). Adding a backend is one file plus one arm in
//! `open`.
//!
//! Secrets never reach the store in clear: tokens and codes are stored as
//! SHA-256 hashes (`hash_token`), passwords and client secrets as hashes.

pub mod memory;
pub mod postgres;
pub mod purge;
mod sql;
pub mod sqlite;

#[cfg(test)]
pub mod conformance;

use crate::config::StoreSettings;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
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
    /// Everything else a client registers (RFC 7591 metadata and the like).
    pub meta: ClientMeta,
}

/// Client settings beyond the core columns, kept by every backend as one
/// JSON document: a new field needs no migration, and an instance that
/// does not know a field yet (a rolling upgrade) ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMeta {
    /// RFC 7591 `token_endpoint_auth_method`; None: `client_secret_basic`
    /// for confidential clients, `none` for public ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Public keys for `private_key_jwt`: an inline JWKS…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// …or where to fetch it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_secret_jwt` only: the secret itself, AES-256-GCM sealed
    /// under `[keys].dir/client-secrets.key` (`keys::sealed`), since the
    /// HS256 assertion's MAC needs it; `secret_hash` still holds its hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_sealed: Option<String>,
    /// OIDC `id_token_signed_response_alg` (None: RS256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC RP-Initiated Logout: where the user may be sent after logout.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// "jwt" or "opaque" for this client's access tokens (None: `[tokens]
    /// access_format`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<String>,
    /// RFC 7592: hash of the registration access token (dynamically
    /// registered clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
}

impl Client {
    /// No secret and no registered keys: a native or browser app.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.meta.token_endpoint_auth_method.as_deref() != Some("private_key_jwt")
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

/// Failed attempts counted under one key (a user, an address) in a window
/// that restarts with every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the window ends (unix seconds) if no further failure comes.
    pub until: i64,
}

/// Whose tokens a listing or a bulk revocation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Client(&'a str),
    Subject(&'a str),
}

impl Owner<'_> {
    /// The revocation-list id under which "everything issued to this owner
    /// before T" is recorded (checked by JWT validation with `is_revoked`).
    pub fn revocation_id(&self) -> String {
        match self {
            Owner::Client(c) => format!("client:{c}"),
            Owner::Subject(s) => format!("sub:{s}"),
        }
    }
}

/// A page of a listing: optional case-insensitive substring search, rows
/// after a key (keyset paging, in key order), at most `limit` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery<'a> {
    pub search: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: u32,
}

impl ListQuery<'_> {
    /// Everything (for the CLI and small installations).
    pub const ALL: ListQuery<'static> = ListQuery {
        search: None,
        after: None,
        limit: u32::MAX,
    };
}

/// Something another instance changed that in-process caches must drop at
/// once (announced by backends that can, see `Store::changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A stored token (by hash) was revoked.
    Token(String),
    /// An id on the revocation list (JWT `jti`, grant family, owner cutoff).
    Revoked(String),
    Client(String),
    /// Announcements may have been missed (the channel broke or came
    /// back): forget every cached answer.
    Everything,
}

impl Change {
    /// The wire form other instances receive: a tag, a colon, the id.
    pub fn encode(&self) -> String {
        match self {
            Change::Token(h) => format!("t:{h}"),
            Change::Revoked(id) => format!("r:{id}"),
            Change::Client(id) => format!("c:{id}"),
            Change::Everything => "a:".to_string(),
        }
    }

    pub fn decode(s: &str) -> Option<Change> {
        let (tag, id) = s.split_once(':')?;
        let id = id.to_string();
        match tag {
            "t" => Some(Change::Token(id)),
            "r" => Some(Change::Revoked(id)),
            "c" => Some(Change::Client(id)),
            "a" => Some(Change::Everything),
            _ => None,
        }
    }
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
    /// In id order; `search` matches id or name.
    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError>;
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;

    // Users. `put_user` inserts or replaces.
    async fn put_user(&self, u: &User) -> Result<(), StoreError>;
    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// In username order; `search` matches username, name or email.
    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError>;
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError>;

    // Authorization codes: single use, atomically.
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError>;
    /// Marks the code used and returns it; a second call returns AlreadyUsed.
    /// Expiry is the caller's check (so an expired code still reads as found).
    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError>;

    // Tokens (opaque access tokens and refresh tokens).
    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError>;
    /// A token reads as revoked when its own row is, or when its family is
    /// on the revocation list (so a token stored after its family was
    /// revoked — a concurrent rotation — is born revoked).
    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Refresh rotation: marks an unused refresh token used, atomically.
    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError>;
    /// Marks one stored token revoked; false if unknown.
    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Revokes every stored token of a family and lists the family in the
    /// revocation list until `until` (so JWTs carrying it fail too).
    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError>;
    /// Active stored tokens (refresh tokens, opaque access tokens) of a
    /// client or a resource owner, newest first, at most `limit`.
    async fn list_tokens(&self, owner: Owner<'_>, now: i64, limit: u32) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes everything issued to a client or for a resource owner up to
    /// `now`: stored tokens are marked, and the cutoff goes on the
    /// revocation list until `until` so JWTs issued up to `now` fail too.
    /// Returns how many stored tokens it revoked.
    async fn revoke_owner(&self, owner: Owner<'_>, now: i64, until: i64) -> Result<u64, StoreError>;

    // Revocation list for things not stored as tokens (JWT `jti`, families).
    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError>;
    /// True when any of the ids is on the revocation list; a cutoff entry
    /// (`revoke_owner`) counts only for tokens issued at or before it.
    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError>;

    /// Records a single-use identifier (an assertion's `jti`, a SAML
    /// assertion ID) until `expires_at`. True the first time; false while
    /// an earlier use is still recorded (a replay).
    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;

    // Browser sessions.
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// Expiry is the caller's check.
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Ends every session of a subject (of one kind); returns how many.
    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError>;

    // Failed-attempt counters (login throttling), shared by every instance.
    /// Counts one failure; the window restarts now and lasts `window` s.
    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError>;
    /// The count of a window that has not ended; None otherwise.
    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError>;
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;

    // Consents.
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError>;
    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError>;
    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError>;

    /// Deletes expired codes, tokens, revocation rows, single-use ids,
    /// sessions and failure counters, at most `batch` rows per statement so
    /// the hot path is never blocked for long. Returns how many rows went.
    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError>;

    /// Changes made by other instances, as they happen, for backends that
    /// can announce them (PostgreSQL LISTEN/NOTIFY). None: caches rely on
    /// their staleness bound alone.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
}

pub type DynStore = Arc<dyn Store>;

/// Opens the backend named by the store URL (schema migrated).
pub async fn open(s: &StoreSettings) -> Result<DynStore, StoreError> {
    let url = s.url.as_str();
    if url.starts_with("memory://") {
        Ok(Arc::new(memory::MemoryStore::default()))
    } else if url.starts_with("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::connect(s).await?))
    } else if is_postgres(url) {
        Ok(Arc::new(postgres::PgStore::connect(s).await?))
    } else {
        Err(StoreError::Unsupported(url.to_string()))
    }
}

/// Applies the store's schema migrations (`gatehouse migrate`; `open`
/// does it too). Nothing to do for `memory://`.
pub async fn migrate(s: &StoreSettings) -> Result<(), StoreError> {
    if is_postgres(&s.url) {
        postgres::migrate(s).await
    } else {
        open(s).await.map(|_| ())
    }
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Length of a token from `authz::secrets::stored_token`: a 16-hex-digit
/// time prefix, then 256 random bits in base64url.
pub const STORED_TOKEN_LEN: usize = 16 + 43;

/// What the store keys on: SHA-256 hex of a token or code. Tokens are
/// 256-bit random values, so a fast unsalted hash is enough (no dictionary
/// to try). A stored token's time prefix is kept in front of the hash so
/// that new keys land at the end of the index (appends instead of random
/// page writes: about twice the insert rate on SQLite).
pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    let prefix = match token.as_bytes() {
        b if b.len() == STORED_TOKEN_LEN && b[..16].iter().all(u8::is_ascii_hexdigit) => &token[..16],
        _ => "",
    };
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
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
