//! The config file exactly as written: serde types that keep spans where a
//! later check must point at a line. Validation turns these into `super` types.

use super::duration::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub issuer: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    /// Worker threads, each with its own runtime and listener (SO_REUSEPORT).
    pub workers: Option<usize>,
    pub server: RawServer,
    pub tls: Option<RawTls>,
    pub store: RawStore,
    pub tokens: RawTokens,
    pub keys: RawKeys,
    pub gateway: RawGateway,
    pub log: RawLog,
    pub telemetry: Option<RawTelemetry>,
    pub clients: Vec<RawClient>,
    pub users: Vec<RawUser>,
    pub trusted_issuers: Vec<RawTrustedIssuer>,
    pub saml_idps: Vec<RawSamlIdp>,
    pub apis: Vec<RawApi>,
    pub upstreams: Vec<super::upstreams::RawUpstream>,
    pub admin: Option<RawAdmin>,
    pub registration: Option<RawRegistration>,
    pub outbound: RawOutbound,
    pub throttle: RawThrottle,
}

/// `[throttle]`: failed-attempt limits (see `ThrottleSettings`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawThrottle {
    pub window: Option<Dur>,
    pub passwords: RawThrottleLimits,
    pub client_secrets: RawThrottleLimits,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawThrottleLimits {
    pub per_account_address: Option<Spanned<u32>>,
    pub per_account: Option<Spanned<u32>>,
    pub per_address: Option<Spanned<u32>>,
}

/// What client-caused fetches (a client's `jwks_uri`, …) may reach
/// beyond the public Internet.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbound {
    pub allow_networks: Option<Spanned<Vec<String>>>,
    pub allow_hosts: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub username: Spanned<String>,
    pub password: Option<String>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistration {
    pub initial_access_token: Spanned<String>,
    pub allowed_scopes: Option<Spanned<Vec<String>>>,
}

/// Limits on what clients may hold: connections, time, header sizes.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub header_timeout: Option<Dur>,
    pub body_timeout: Option<Dur>,
    pub max_connections: Option<Spanned<usize>>,
    pub max_headers: Option<Spanned<usize>>,
    pub max_header_bytes: Option<Spanned<usize>>,
    pub h2c: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    pub redirect_listen: Option<Spanned<String>>,
    /// Strict-Transport-Security value sent on every https answer.
    pub hsts: Option<Spanned<String>>,
    /// A DER OCSP response for the leaf, stapled to handshakes.
    pub ocsp: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub url: Option<Spanned<String>>,
    pub cache: RawCache,
    pub purge_every: Option<Dur>,
    /// How stale a cached "not revoked" answer may be (SPEC §5 bound).
    pub revocation_staleness: Option<Dur>,
    pub pool_size: Option<u32>,
    pub connect_timeout: Option<Dur>,
    pub statement_timeout: Option<Dur>,
    pub fail_open: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawCache {
    pub max_entries: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokens {
    pub access_format: Option<Spanned<String>>,
    pub access_ttl: Option<Dur>,
    pub refresh_ttl: Option<Dur>,
    pub code_ttl: Option<Dur>,
    pub id_token_ttl: Option<Dur>,
    pub signing_alg: Option<Spanned<String>>,
    // Device authorization grant (RFC 8628).
    pub device_code_ttl: Option<Dur>,
    pub device_poll_interval: Option<Dur>,
    pub dpop_nonce: Option<bool>,
    // Pushed authorization requests (RFC 9126).
    pub par_ttl: Option<Dur>,
    pub require_pushed_authorization_requests: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    pub dir: Option<String>,
    pub rotate_every: Option<Dur>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawGateway {
    pub ca_file: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub connect_timeout: Option<Dur>,
    pub timeout: Option<Dur>,
    pub max_token_bytes: Option<usize>,
    pub token_cache_entries: Option<u64>,
    /// CIDRs whose `X-Forwarded-For` is believed (rate limits by ip).
    pub trusted_proxies: Option<Spanned<Vec<String>>>,
    pub rate_limit_store: Option<Spanned<String>>,
    /// How often shared rate-limit counts are synchronised.
    pub rate_limit_sync: Option<Spanned<Dur>>,
    /// `local` | `refuse`: what shared limits do while their store is down.
    pub rate_limit_fallback: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub level: Option<String>,
    /// One access log line per request on standard output.
    pub access: Option<bool>,
}

/// OpenTelemetry traces over OTLP/HTTP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    pub otlp_endpoint: Spanned<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<Spanned<f64>>,
    pub export_timeout: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<Spanned<String>>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub audience: Option<Vec<String>>,
    pub access_ttl: Option<Dur>,
    pub refresh_ttl: Option<Dur>,
    pub id_token_signed_response_alg: Option<Spanned<String>>,
    pub introspection_signed_response_alg: Option<Spanned<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    pub token_endpoint_auth_method: Option<Spanned<String>>,
    pub jwks: Option<toml::Value>,
    pub jwks_uri: Option<String>,
    /// Token exchange (RFC 8693) policy: what this client may ask for.
    pub token_exchange: Option<RawTokenExchange>,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTokenExchange {
    pub audiences: Vec<String>,
    pub scopes: Option<Vec<String>>,
    pub may_impersonate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub username: Spanned<String>,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrustedIssuer {
    pub issuer: Spanned<String>,
    pub jwks: Option<toml::Value>,
    pub jwks_uri: Option<Spanned<String>>,
    pub jwks_file: Option<Spanned<String>>,
    pub audience: Option<StringOrList>,
    pub subject: Option<Spanned<String>>,
    pub max_assertion_lifetime: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSamlIdp {
    pub entity_id: Spanned<String>,
    pub certificate: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub name: Option<String>,
    pub path: Spanned<String>,
    pub methods: Option<Spanned<Vec<String>>>,
    // Tables are never `Spanned`: toml cannot span a table made by dotted
    // keys (`backend.mock.body = …`), so errors point at a value inside.
    pub auth: Option<RawAuth>,
    pub backend: RawBackend,
    pub max_body_bytes: Option<u64>,
    // Route policies (SPEC §7), validated in config/policies.rs.
    pub hosts: Option<Spanned<Vec<String>>>,
    pub cors: Option<super::policies::RawCors>,
    pub rate_limit: Option<super::policies::RawRateLimit>,
    pub request_headers: Option<super::policies::RawHeaders>,
    pub response_headers: Option<super::policies::RawHeaders>,
}

/// One flat table for every auth kind, so spans survive; `kind` picks which
/// fields are meaningful and validation rejects the rest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub kind: Spanned<String>,
    // jwt
    pub jwk: Option<toml::Value>,
    pub jwks: Option<toml::Value>,
    pub jwks_file: Option<String>,
    pub jwks_uri: Option<String>,
    pub trusted_issuer: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<StringOrList>,
    pub location: Option<String>,
    pub name: Option<String>,
    pub leeway: Option<Dur>,
    pub jwks_min_refresh: Option<Dur>,
    #[serde(default)]
    pub forward_claims: BTreeMap<String, String>,
    // jwt and oauth2
    #[serde(default)]
    pub scopes: Vec<String>,
    /// DPoP proofs presented on this route must carry a server nonce.
    pub dpop_nonce: Option<Spanned<bool>>,
    /// Only tokens of these clients (`client_id`, or `azp`).
    pub clients: Option<Spanned<Vec<String>>>,
    /// Claim name → the value (or one of the values) it must have.
    #[serde(default)]
    pub claims: BTreeMap<String, StringOrList>,
    /// RFC 9470 step-up: the token's `acr` must be one of these …
    pub acr_values: Option<Spanned<Vec<String>>>,
    /// … and its `auth_time` at most this old.
    pub max_age: Option<Dur>,
    // introspection
    pub url: Option<Spanned<String>>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// A PEM private key file for private_key_jwt.
    pub private_key: Option<Spanned<String>>,
    pub cache: Option<Spanned<Dur>>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub upstream: Option<Spanned<String>>,
    pub pool: Option<Spanned<String>>,
    pub mock: Option<RawMock>,
    pub connect_timeout: Option<Dur>,
    pub timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub protocol: Option<Spanned<String>>,
    #[serde(default)]
    pub strip_prefix: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawMock {
    pub status: Option<u16>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}
