//! Stored tokens: every refresh token, and access tokens in the opaque
//! format, with rotation (single use), revocation of one token, of a grant
//! family and of everything an owner holds, and the owner listings of the
//! admin pages.

use super::{Consume, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
    /// The key or certificate the token is bound to (sender-constrained
    /// tokens, RFC 7800 `cnf`); None for a bearer token.
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 confirmation of a sender-constrained token: the DPoP key's
/// thumbprint (RFC 9449 `jkt`) or the client certificate's (RFC 8705
/// `x5t#S256`). Serialised as the `cnf` claim is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    pub fn dpop(jkt: impl Into<String>) -> Confirmation {
        Confirmation {
            jkt: Some(jkt.into()),
            x5t_s256: None,
        }
    }
}

impl TokenRecord {
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }
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

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Never replaces (a duplicate hash is a Conflict, as for codes).
    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError>;
    /// A token reads as revoked when its own row is, or when its family is
    /// on the revocation list (so a token stored after its family was
    /// revoked — a concurrent rotation — is born revoked), or when its
    /// client or subject was cut off after it was issued.
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
}
