//! The authorization server: shared state (`AuthServer`), token issuance
//! and validation, grants (one file each, registered in `grants/mod.rs`)
//! and HTTP endpoints (`endpoints/`).

pub mod assertion;
pub mod authorize;
pub mod client_auth;
pub mod endpoints;
pub mod form;
pub mod grants;
pub mod id_token;
pub mod issuer;
pub mod keys;
pub mod registration;
pub mod saml;
pub mod scope;
pub mod secrets;
pub mod session;
pub mod throttle;
pub mod validate;

use crate::config::{Config, SecretSpec};
use crate::gateway::policy::jwks::KeyProvider;
use crate::gateway::policy::jwt::{JwtVerifier, Verified, VerifierRules};
use crate::keys::ring::KeyRing;
use crate::keys::session::SessionKey;
use crate::store::{self, Change, Client, DynStore, User};
use http::HeaderName;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The token endpoint's path; assertions name its full URL as audience
/// (defined here so grants and client authentication need not look up
/// into the endpoints).
pub const TOKEN_PATH: &str = "/api/oauth/token";

/// Claims of gatehouse's own access tokens that the gateway passes
/// upstream (Kong's names), replacing any a client sent.
pub const FORWARDED: [(&str, &str); 3] = [
    ("sub", "x-authenticated-userid"),
    ("client_id", "x-authenticated-client"),
    ("scope", "x-authenticated-scope"),
];

pub struct AuthServer {
    pub cfg: Arc<Config>,
    pub store: DynStore,
    /// The signing keys in service (followed on disk: rotations by the
    /// CLI or another instance are picked up; see `keys.rs`).
    pub keys: Arc<KeyRing>,
    session_key: SessionKey,
    /// Clients by id; entries live for the revocation staleness bound so a
    /// removed client stops working everywhere within it.
    clients: Cache<String, Arc<Client>>,
    verified_secrets: Cache<[u8; 32], ()>,
    /// Our own JWT access tokens, verified and cached until expiry.
    jwt: JwtVerifier,
    /// jti → revoked?, for at most the staleness bound.
    revoked: Cache<Arc<str>, bool>,
    /// Opaque access token → what it grants, for at most the staleness bound.
    opaque: Cache<Arc<str>, Arc<Verified>>,
    pub throttle: throttle::Throttle,
    grants: grants::Registry,
    /// Verification keys of each `[[trusted_issuers]]` entry, by issuer,
    /// for JWT bearer assertions (remote sets fetched and cached).
    pub assertion_keys: Vec<(String, KeyProvider)>,
    /// Key-set fetchers of clients' `jwks_uri` (private_key_jwt), by URI.
    client_jwks: Cache<String, Arc<crate::gateway::policy::jwks::RemoteJwks>>,
    /// `[[saml_idps]]` with their certificates decoded, for the SAML bearer grant.
    pub saml_idps: Arc<Vec<saml::Idp>>,
    /// Seals and opens `client_secret_jwt` clients' secrets.
    pub secret_box: crate::keys::sealed::SecretBox,
}

/// One key provider per trusted issuer (remote JWKS fetched on first use,
/// refreshed like the gateway's `jwt` policy does).
fn assertion_keys(cfg: &Config) -> Result<Vec<(String, KeyProvider)>, String> {
    use crate::config::KeySource;
    use crate::gateway::policy::jwks::RemoteJwks;
    let tls = crate::net::tls_config(cfg.gateway.ca_file.as_deref())?;
    Ok(cfg
        .trusted_issuers
        .iter()
        .map(|t| {
            let keys = match &t.keys {
                KeySource::Static(set) => KeyProvider::Static(set.clone()),
                KeySource::Remote { uri } => KeyProvider::Remote(Arc::new(RemoteJwks::new(
                    uri.clone(),
                    crate::net::client(cfg.gateway.connect_timeout, &tls),
                    Duration::from_secs(10),
                ))),
            };
            (t.issuer.clone(), keys)
        })
        .collect())
}

impl AuthServer {
    pub fn new(cfg: Arc<Config>, store: DynStore, keys: Arc<KeyRing>, session_key: SessionKey) -> Result<Self, String> {
        let assertion_keys = assertion_keys(&cfg)?;
        let saml_idps = cfg
            .saml_idps
            .iter()
            .map(|i| saml::Idp::new(&i.entity_id, &i.certificate_pem))
            .collect::<Result<Vec<_>, _>>()?;
        let secret_box = crate::keys::sealed::SecretBox::load_or_create(&cfg.keys_dir)?;
        let stale = cfg.store.revocation_staleness;
        let entries = cfg.store.cache_entries;
        let forward = FORWARDED
            .iter()
            .map(|(c, h)| (c.to_string(), HeaderName::from_static(h)))
            .collect();
        let issuer = cfg.issuer.clone();
        let jwt = JwtVerifier::new(
            KeyProvider::Own(keys.clone()),
            VerifierRules {
                issuer: Some(&issuer),
                audience: &[],
                leeway: Duration::from_secs(0),
                forward,
                cache_entries: entries,
                max_token_bytes: cfg.gateway.max_token_bytes,
                required_claims: &["exp", "iss", "jti"],
                typ: Some("at+jwt"),
            },
        );
        Ok(AuthServer {
            clients: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
            verified_secrets: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            jwt,
            revoked: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
            opaque: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
            throttle: throttle::Throttle::new(throttle::Limits::default(), store.clone()),
            grants: grants::registry(),
            assertion_keys,
            client_jwks: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            saml_idps: Arc::new(saml_idps),
            secret_box,
            cfg,
            store,
            keys,
            session_key,
        })
    }

    /// The token endpoint's URL: the audience RFC 7523 assertions name.
    pub fn token_endpoint(&self) -> String {
        format!("{}{TOKEN_PATH}", self.cfg.issuer)
    }

    /// Grant types this server implements (for discovery).
    pub fn grant_types(&self) -> Vec<&'static str> {
        self.grants.iter().map(|g| g.grant_type()).collect()
    }

    /// Writes the clients and users declared in the config into the store.
    pub async fn seed_from_config(&self) -> Result<(), String> {
        self.seed(&self.cfg.clients, &self.cfg.users).await
    }

    /// Writes (creates or replaces) these clients and users in the store
    /// and drops cached copies, so the next request sees them.
    pub async fn seed(
        &self,
        clients: &[crate::config::ClientSpec],
        users: &[crate::config::UserSpec],
    ) -> Result<(), String> {
        let now = store::now();
        for c in clients {
            let secret_hash = match &c.secret {
                None => None,
                Some(SecretSpec::Hash(h)) => Some(h.clone()),
                Some(SecretSpec::Plain(p)) => Some(secrets::hash_chosen_secret(p)?),
            };
            // HS256 client assertions need the secret itself (validation
            // made sure it is given in clear for these clients).
            let client_secret_sealed = match (&c.secret, c.token_endpoint_auth_method.as_deref()) {
                (Some(SecretSpec::Plain(p)), Some("client_secret_jwt")) => Some(self.secret_box.seal(&c.id, p)?),
                _ => None,
            };
            let client = Client {
                id: c.id.clone(),
                name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                secret_hash,
                redirect_uris: c.redirect_uris.clone(),
                grant_types: c.grant_types.clone(),
                scopes: c.scopes.clone(),
                audience: c.audience.clone(),
                access_ttl: c.access_ttl.map(|d| d.as_secs() as i64),
                refresh_ttl: c.refresh_ttl.map(|d| d.as_secs() as i64),
                created_at: now,
                meta: store::ClientMeta {
                    id_token_signed_response_alg: c.id_token_signed_response_alg.map(|a| a.as_str().to_string()),
                    post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                    token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
                    jwks: c.jwks.clone(),
                    jwks_uri: c.jwks_uri.clone(),
                    client_secret_sealed,
                    ..Default::default()
                },
            };
            self.store.put_client(&client).await.map_err(|e| e.to_string())?;
        }
        for u in users {
            let password_hash = match &u.password {
                SecretSpec::Hash(h) => h.clone(),
                SecretSpec::Plain(p) => secrets::hash_password(p)?,
            };
            let user = User {
                username: u.username.clone(),
                password_hash,
                name: u.name.clone(),
                email: u.email.clone(),
                created_at: now,
            };
            self.store.put_user(&user).await.map_err(|e| e.to_string())?;
        }
        self.clients.invalidate_all();
        Ok(())
    }

    /// Drops cached answers that other instances' changes made stale, as
    /// the store announces them (PostgreSQL LISTEN/NOTIFY). Without such
    /// announcements every cached answer still expires within the
    /// staleness bound.
    pub fn follow_changes(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let mut feed = self.store.changes()?;
        let weak = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            loop {
                let change = match feed.recv().await {
                    Ok(c) => c,
                    // Fell behind: some changes were dropped, so all go.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Change::Everything,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(s) = weak.upgrade() else { return };
                s.apply_change(&change);
            }
        }))
    }

    fn apply_change(&self, change: &Change) {
        match change {
            Change::Client(id) => self.clients.invalidate(id.as_str()),
            // Cached opaque tokens are keyed by the token, not its hash, and
            // a family or owner revocation covers unknown jtis: revocations
            // are rare, so drop every cached verdict.
            Change::Token(_) | Change::Revoked(_) => {
                self.opaque.invalidate_all();
                self.revoked.invalidate_all();
            }
            Change::Everything => {
                self.clients.invalidate_all();
                self.opaque.invalidate_all();
                self.revoked.invalidate_all();
            }
        }
    }

    /// How long a revocation cutoff must be kept.
    pub fn max_token_lifetime(&self) -> i64 {
        registration::revocation_lifetime(&self.cfg.tokens)
    }

    /// Forget a cached client at once (the admin changed or removed it).
    pub fn forget_client(&self, id: &str) {
        self.clients.invalidate(id);
    }

    /// Forget every cached token verdict (after a bulk revocation).
    pub fn forget_all_tokens(&self) {
        self.opaque.invalidate_all();
        self.revoked.invalidate_all();
    }

    /// Forget cached answers about a token at once (this instance); other
    /// instances see the store within the staleness bound.
    pub fn forget(&self, token: &str, jti: Option<&str>) {
        self.opaque.invalidate(token);
        if let Some(j) = jti {
            self.revoked.invalidate(j);
        }
    }
}
