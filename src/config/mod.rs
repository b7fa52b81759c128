//! Configuration: TOML (SPEC §3) with environment overrides, validated into
//! types that cannot hold an invalid setting. Every error names file:line.

#[cfg(test)]
mod doc_tests;
mod duration;
mod error;
pub mod policies;
mod raw;
#[cfg(test)]
mod spelling_tests;
pub mod upstreams;
mod validate;

pub use duration::{parse as parse_duration, Dur};
pub use error::{line_col, ConfigError};
pub use upstreams::{Balance, HashOn, HealthSpec, PassiveSpec, PoolSpec, Protocol, TargetSpec};
pub use validate::{DEVICE_CODE_GRANT, KNOWN_GRANTS, NO_SAML, SAML2_BEARER, TOKEN_EXCHANGE_GRANT};

use crate::keys::{PublicKeySet, SigningAlg};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The embedded demo configuration used by `gatehouse serve` without `--config`.
pub const DEMO_TOML: &str = include_str!("demo.toml");

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (None: the embedded demo).
    pub source: Option<PathBuf>,
    pub issuer: String,
    pub listen: SocketAddr,
    /// Worker threads serving HTTP (default: one per core).
    pub workers: usize,
    pub server: ServerSettings,
    /// HTTPS on `listen` when set.
    pub tls: Option<TlsSettings>,
    pub store: StoreSettings,
    pub tokens: TokenSettings,
    pub keys_dir: PathBuf,
    /// `[keys] rotate_every`: automatic signing-key rotation.
    pub keys_rotate_every: Option<Duration>,
    pub gateway: GatewaySettings,
    pub log: LogSettings,
    pub telemetry: Option<TelemetrySettings>,
    pub clients: Vec<ClientSpec>,
    pub users: Vec<UserSpec>,
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub saml_idps: Vec<SamlIdp>,
    pub apis: Vec<ApiSpec>,
    /// `[[upstreams]]`: named pools routes forward to.
    pub upstreams: Vec<PoolSpec>,
    /// The admin console and API (None: disabled, 404).
    pub admin: Option<AdminSettings>,
    /// RFC 7591 dynamic registration (None: disabled, 404).
    pub registration: Option<RegistrationSettings>,
    /// `[outbound]`: what fetches a client can cause may reach.
    pub outbound: crate::outbound::Policy,
    /// `[throttle]`: failed password and client-secret checks.
    pub throttle: ThrottleSettings,
}

/// How many failed checks are allowed within `window` before further
/// attempts are refused (with Retry-After) until it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// For one account (a username, a client id) from one address.
    pub per_account_address: u32,
    /// For one account from all addresses together (distributed guessing);
    /// higher, so one address cannot lock an account out for everyone.
    pub per_account: u32,
    /// From one address over all accounts (spraying).
    pub per_address: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures count within this window, restarted by each failure.
    pub window: Duration,
    /// Passwords: the login page, the password grant, the admin console.
    pub passwords: ThrottleLimits,
    /// Client secrets and client assertions, at every endpoint that
    /// authenticates clients.
    pub client_secrets: ThrottleLimits,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            window: Duration::from_secs(300),
            passwords: ThrottleLimits {
                per_account_address: 5,
                per_account: 50,
                per_address: 20,
            },
            client_secrets: ThrottleLimits {
                per_account_address: 10,
                per_account: 100,
                per_address: 50,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub username: String,
    pub password: SecretSpec,
}

#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    /// The bearer token `POST /api/oauth/register` requires.
    pub initial_access_token: String,
    /// Scopes a dynamically registered client may be given; any other it
    /// asks for is dropped (a self-registered client must never reach an
    /// operator's scopes such as `admin`).
    pub allowed_scopes: Vec<String>,
}

/// `[registration] allowed_scopes` by default: the OpenID Connect scopes,
/// which only ever release the registering user's own claims.
pub const DEFAULT_REGISTRATION_SCOPES: [&str; 6] = ["openid", "profile", "email", "address", "phone", "offline_access"];

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub url: String,
    pub cache_entries: u64,
    pub purge_every: Duration,
    pub revocation_staleness: Duration,
    /// Connections per instance (None: the backend's default).
    pub pool_size: Option<u32>,
    /// Longest wait for a connection: bounds how long a request waits
    /// when the database is unreachable.
    pub connect_timeout: Duration,
    /// Longest a statement may run.
    pub statement_timeout: Duration,
    /// When the store cannot be asked, accept signature-valid JWT access
    /// tokens without a revocation check (true) or refuse them with 503.
    pub fail_open: bool,
}

impl StoreSettings {
    /// Defaults for a URL (tools and tests that have no config file).
    pub fn for_url(url: &str) -> StoreSettings {
        StoreSettings {
            url: url.to_string(),
            cache_entries: 100_000,
            purge_every: Duration::from_secs(60),
            revocation_staleness: Duration::from_secs(5),
            pool_size: None,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            fail_open: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFormat {
    Jwt,
    Opaque,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub access_format: AccessFormat,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub code_ttl: Duration,
    pub id_token_ttl: Duration,
    pub signing_alg: SigningAlg,
    /// RFC 8628: how long a device code (and its user code) may be used.
    pub device_code_ttl: Duration,
    /// RFC 8628 §3.5: least time between two polls of one device code.
    pub device_poll_interval: Duration,
    /// RFC 9449 §8: DPoP proofs must carry a server nonce.
    pub dpop_nonce: bool,
    /// RFC 9126: how long a pushed request's `request_uri` stays usable.
    pub par_ttl: Duration,
    /// RFC 9126 §5: every client must push its authorization requests.
    pub require_pushed_authorization_requests: bool,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time for a request's head to arrive, counted from when the
    /// connection starts waiting for it: bounds slow headers and idle
    /// keep-alive connections alike.
    pub header_timeout: Duration,
    /// Longest pause between two pieces of a request body (408 after it).
    pub body_timeout: Duration,
    /// Open client connections over all workers; more are closed at once.
    pub max_connections: usize,
    /// More header fields than this, or a head larger than
    /// `max_header_bytes`, is answered 431.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// HTTP/2 with prior knowledge on a plain listener (over TLS, ALPN
    /// offers h2 anyway).
    pub h2c: bool,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM chain, leaf first; reloaded when it changes.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A plain-HTTP listener that only redirects to https.
    pub redirect_listen: Option<SocketAddr>,
    /// `Strict-Transport-Security` for every answer over TLS (RFC 6797),
    /// checked: `max-age=N` and optionally `includeSubDomains`, `preload`.
    pub hsts: Option<String>,
    /// A DER-encoded OCSP response for the leaf certificate, stapled to
    /// every handshake and read again when it changes.
    pub ocsp: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Default `max_body_bytes` of every route.
    pub max_body_bytes: u64,
    /// Extra CA certificates (PEM) trusted for https upstreams and JWKS.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Longer tokens are refused before any parsing.
    pub max_token_bytes: usize,
    pub token_cache_entries: u64,
    /// Proxies whose `X-Forwarded-For` names the client (rate limits by ip).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub rate_limit_store: RateLimitStore,
    /// Shared limits: how often counts are synchronised.
    pub rate_limit_sync: Duration,
    /// Shared limits whose store is down: refuse (503) rather than count
    /// per instance.
    pub rate_limit_refuse_when_down: bool,
}

/// `[gateway] rate_limit_store`: where rate-limit budgets are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitStore {
    /// Each instance counts its own requests.
    Local,
    /// The shared `[store]` (SQL or Cassandra): limits hold across instances.
    Store,
    /// A Redis server (`redis://host:port[/db]`).
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub json: bool,
    pub level: String,
    /// `[log] access`: one line per request on standard output.
    pub access: bool,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP (None: no tracing).
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// Where spans are POSTed: the OTLP/HTTP traces URL (`…/v1/traces`).
    pub traces_url: String,
    pub service_name: String,
    /// Share of new traces recorded (a client's sampled flag is followed).
    pub sample_ratio: f64,
    pub export_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum SecretSpec {
    /// Given in clear in the file; hashed before it is stored.
    Plain(String),
    /// Already hashed (argon2id PHC string).
    Hash(String),
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub id: String,
    pub name: Option<String>,
    /// None for public clients.
    pub secret: Option<SecretSpec>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub access_ttl: Option<Duration>,
    pub refresh_ttl: Option<Duration>,
    /// Algorithm of this client's ID tokens (None: RS256).
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Algorithm of JWT introspection responses to this client (RFC
    /// 9701; None: RS256).
    pub introspection_signed_response_alg: Option<SigningAlg>,
    /// Where RP-initiated logout may send the user back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// OIDC Back-Channel Logout: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens.
    pub backchannel_logout_session_required: bool,
    /// `private_key_jwt` when the client proves itself with signed
    /// assertions (then `jwks` or `jwks_uri` holds its keys).
    pub token_endpoint_auth_method: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// RFC 8693: the audiences, scopes and impersonation this client may
    /// obtain by token exchange (None: the grant's defaults).
    pub token_exchange: Option<crate::store::TokenExchangePolicy>,
    /// RFC 9449: token requests must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: authorization requests only by PAR.
    pub require_pushed_authorization_requests: bool,
}

#[derive(Debug, Clone)]
pub struct UserSpec {
    pub username: String,
    pub password: SecretSpec,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone)]
pub enum KeySource {
    Static(Arc<PublicKeySet>),
    Remote { uri: String },
}

#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub keys: KeySource,
    pub audience: Vec<String>,
    /// What a JWT bearer assertion's `sub` names (RFC 7523 §3).
    pub subject: AssertionSubject,
    /// An assertion whose `exp` is further ahead than this is refused.
    pub max_assertion_lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionSubject {
    User,
    Client,
}

#[derive(Debug, Clone)]
pub struct SamlIdp {
    pub entity_id: String,
    pub certificate_pem: String,
}

#[derive(Debug, Clone)]
pub struct ApiSpec {
    pub name: Arc<str>,
    /// Normalised prefix: starts with '/', no trailing '/' (except "/").
    pub path: String,
    /// None: every method.
    pub methods: Option<Vec<Method>>,
    pub auth: AuthSpec,
    /// `auth.dpop_nonce`: DPoP proofs on this route need a server nonce
    /// (RFC 9449 §9; `use_dpop_nonce` with a `DPoP-Nonce` otherwise).
    pub dpop_nonce: bool,
    /// What an accepted token must also satisfy (jwt and oauth2 routes).
    pub rules: AuthRules,
    pub backend: BackendSpec,
    /// Larger request bodies get 413 (before or while streaming).
    pub max_body_bytes: u64,
    /// Empty: every host.
    pub hosts: Vec<policies::HostPattern>,
    pub cors: Option<policies::CorsSpec>,
    pub rate_limit: Option<policies::RateLimitSpec>,
    pub request_headers: policies::HeaderTransform,
    pub response_headers: policies::HeaderTransform,
}

/// Claims of gatehouse's own access tokens that the gateway passes
/// upstream (Kong's names), replacing any a client sent.
pub const OWN_FORWARDED: [(&str, &str); 3] = [
    ("sub", "x-authenticated-userid"),
    ("client_id", "x-authenticated-client"),
    ("scope", "x-authenticated-scope"),
];

#[derive(Debug, Clone, Default)]
pub struct AuthRules {
    /// `oauth2` routes: the token's `aud` must name one of these (empty:
    /// any). `jwt` routes check `audience` in their verifier.
    pub audience: Vec<String>,
    /// Allowed `client_id`s (empty: any).
    pub clients: Vec<String>,
    /// Each claim must equal one of its values (a string claim), or hold
    /// one of them (an array claim, such as `groups`).
    pub claims: Vec<(String, Vec<String>)>,
    /// RFC 9470: acceptable `acr` values (empty: any).
    pub acr_values: Vec<String>,
    /// RFC 9470: the user authenticated at most this long ago (`auth_time`).
    pub max_age: Option<Duration>,
}

impl AuthRules {
    pub fn is_empty(&self) -> bool {
        self.audience.is_empty()
            && self.clients.is_empty()
            && self.claims.is_empty()
            && self.acr_values.is_empty()
            && self.max_age.is_none()
    }
}

impl AuthSpec {
    /// Headers this route's auth sends upstream from the token's claims
    /// (transforms may not touch them).
    pub fn forwarded_headers(&self) -> Vec<HeaderName> {
        match self {
            AuthSpec::Jwt(j) => j.forward_claims.iter().map(|(_, h)| h.clone()).collect(),
            AuthSpec::Introspection(i) => i.forward_claims.iter().map(|(_, h)| h.clone()).collect(),
            _ => OWN_FORWARDED.iter().map(|(_, h)| HeaderName::from_static(h)).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum AuthSpec {
    None,
    Jwt(JwtSpec),
    OAuth2 { scopes: Vec<String> },
    Introspection(IntrospectionSpec),
}

/// `auth = { kind = "introspection" }`: another authorization server's
/// tokens, asked about by RFC 7662.
#[derive(Debug, Clone)]
pub struct IntrospectionSpec {
    pub url: String,
    /// `aud` of private_key_jwt assertions: the other server's `issuer`.
    pub assertion_audience: String,
    pub client_id: String,
    pub credential: IntrospectionCredential,
    pub cache: Duration,
    pub timeout: Duration,
    pub forward_claims: Vec<(String, HeaderName)>,
    pub scopes: Vec<String>,
}

#[derive(Clone)]
pub enum IntrospectionCredential {
    /// client_secret_basic.
    Secret(String),
    /// private_key_jwt: the PEM key (RSA → RS256, EC P-256 → ES256).
    PrivateKey { pem: Vec<u8>, alg: jsonwebtoken::Algorithm },
}

impl std::fmt::Debug for IntrospectionCredential {
    // Never a secret in a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntrospectionCredential::Secret(_) => f.write_str("Secret(…)"),
            IntrospectionCredential::PrivateKey { alg, .. } => write!(f, "PrivateKey({alg:?}, …)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtSpec {
    pub keys: KeySource,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub location: TokenLocation,
    pub leeway: Duration,
    /// Least time between two JWKS fetches triggered by an unknown `kid`.
    pub jwks_min_refresh: Duration,
    /// Claim name → request header sent to the upstream.
    pub forward_claims: Vec<(String, HeaderName)>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    Header(HeaderName),
    Query(String),
    Cookie(String),
}

#[derive(Debug, Clone)]
pub enum BackendSpec {
    Mock(MockSpec),
    /// One URL: a pool of one target, made for this route.
    Upstream(UpstreamSpec),
    /// A named `[[upstreams]]` pool.
    Pool {
        name: Arc<str>,
        strip_prefix: bool,
    },
}

#[derive(Debug, Clone)]
pub struct MockSpec {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// scheme://authority[/base-path]
    pub base: Uri,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub protocol: Protocol,
    pub strip_prefix: bool,
}

impl UpstreamSpec {
    /// The one-target pool this URL stands for (no health checks, no
    /// retries to other targets: there are none).
    pub fn as_pool(&self, route: &str) -> PoolSpec {
        PoolSpec {
            name: format!("{route}@{}", self.base).into(),
            targets: vec![TargetSpec {
                url: self.base.clone(),
                weight: 1,
            }],
            balance: Balance::RoundRobin,
            protocol: self.protocol,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            idle_timeout: self.idle_timeout,
            retries: 0,
            health: None,
            passive: None,
        }
    }
}

impl Config {
    /// Reads and validates a config file; relative paths in it are taken
    /// from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: label.clone(),
            line: 0,
            col: 0,
            reason: format!("cannot read: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut cfg = Self::parse(&text, &label, &base, &std::env::vars().collect::<Vec<_>>())?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// The embedded demo (`gatehouse serve` with no config).
    pub fn demo() -> Result<Config, ConfigError> {
        Self::parse(
            DEMO_TOML,
            "<embedded demo config>",
            Path::new("."),
            &std::env::vars().collect::<Vec<_>>(),
        )
    }

    /// Parses TOML text; `env` holds the environment overrides to apply.
    pub fn parse(text: &str, label: &str, base_dir: &Path, env: &[(String, String)]) -> Result<Config, ConfigError> {
        validate::parse(text, label, base_dir, env)
    }

    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}
