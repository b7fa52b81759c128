//! Clients: the registered applications (admin API, CLI, dynamic
//! registration). Inserted or replaced whole; listed in id order.

use super::{ListQuery, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
    /// RFC 9701 §6 `introspection_signed_response_alg`: the algorithm of
    /// JWT introspection responses to this client (None: RS256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<String>,
    /// OIDC RP-Initiated Logout: where the user may be sent after logout.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// OIDC Back-Channel Logout: where a logout token is POSTed when a
    /// session this client was issued tokens in ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (they always carry it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// "jwt" or "opaque" for this client's access tokens (None: `[tokens]
    /// access_format`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<String>,
    /// RFC 9449 §5.2: every access token of this client is DPoP-bound
    /// (token requests without a proof are refused).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: authorization requests only by PAR.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// RFC 7592: hash of the registration access token (dynamically
    /// registered clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
    /// RFC 8693: what this client may obtain by token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchangePolicy>,
}

/// A client's token exchange (RFC 8693) policy: the audiences (`audience`
/// or `resource` values) it may name, the scopes an exchanged token may
/// carry (None: the client's own scopes), and whether it may impersonate
/// (exchange without an `actor_token`, so the new token names no actor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenExchangePolicy {
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    pub may_impersonate: bool,
}

impl TokenExchangePolicy {
    /// Bounded, non-empty values; scopes of RFC 6749 §3.3 characters.
    pub fn check(&self) -> Result<(), String> {
        if self.audiences.len() > 50 || self.audiences.iter().any(|a| a.is_empty() || a.len() > 2000) {
            return Err("audiences: at most 50 non-empty values of at most 2000 characters".into());
        }
        if let Some(scopes) = &self.scopes {
            if scopes.len() > 100 {
                return Err("scopes: at most 100".into());
            }
            // RFC 6749 §3.3 scope-token characters (the rule registration applies).
            let ok = |s: &str| {
                !s.is_empty()
                    && s.len() <= 200
                    && s.bytes()
                        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            };
            if let Some(bad) = scopes.iter().find(|s| !ok(s)) {
                return Err(format!("scope {bad:?} has characters RFC 6749 §3.3 does not allow"));
            }
        }
        Ok(())
    }
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

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts or replaces.
    async fn put_client(&self, c: &Client) -> Result<(), StoreError>;
    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// In id order; `search` matches id or name.
    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError>;
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
}
