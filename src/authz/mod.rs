//! The authorization server: shared state (`AuthServer`), token issuance
//! and validation, grants (one file each, registered in `grants/mod.rs`)
//! and HTTP endpoints (`endpoints/`).

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod client_auth;
pub mod dpop;
pub mod endpoints;
pub mod flight;
pub mod form;
pub mod grants;
pub mod id_token;
pub mod issuer;
pub mod keys;
pub mod registration;
pub mod request_object;
pub mod resource;
pub mod saml;
pub mod scope;
pub mod secrets;
pub mod session;
pub mod throttle;
pub mod user_code;

use crate::config::{Config, SecretSpec};
use crate::error::AuthError;
use crate::keys::ring::KeyRing;
use crate::keys::session::SessionKey;
use crate::store::{self, Change, Client, DynStore, User};
use crate::token::jwks::KeyProvider;
use crate::token::{OwnTokens, Verified};
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// The token endpoint's path; assertions name its full URL as audience
/// (defined here so grants and client authentication need not look up
/// into the endpoints).
pub const TOKEN_PATH: &str = "/api/oauth/token";

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
    /// Store reads of clients in flight (see `flight.rs`).
    client_loads: flight::Flights<String, Option<Arc<Client>>>,
    /// Hand-chosen client secrets that verified (see `secret_ok`).
    verified_secrets: moka::future::Cache<[u8; 32], Arc<str>>,
    /// Our own access tokens (JWT and opaque), validated with revocation
    /// honoured; shared with the gateway's `oauth2` routes.
    pub tokens: Arc<OwnTokens>,
    /// Failed password checks (login page, password grant, admin console).
    pub throttle: throttle::Throttle,
    /// Failed client authentications (see `client_auth.rs`).
    client_throttle: throttle::Throttle,
    grants: grants::Registry,
    /// Verification keys of each `[[trusted_issuers]]` entry, by issuer,
    /// for JWT bearer assertions (remote sets fetched and cached).
    pub assertion_keys: Vec<(String, KeyProvider)>,
    /// Key-set fetchers of clients' `jwks_uri` (private_key_jwt), by URI.
    client_jwks: Cache<String, Arc<crate::token::jwks::RemoteJwks>>,
    /// `[[saml_idps]]` with their certificates decoded, for the SAML bearer grant.
    pub saml_idps: Arc<Vec<saml::Idp>>,
    /// Seals and opens `client_secret_jwt` clients' secrets.
    pub secret_box: crate::keys::sealed::SecretBox,
    /// Every fetch a client can cause goes through this (SSRF guard).
    pub outbound: Arc<crate::outbound::Guard>,
}

/// One key provider per trusted issuer (remote JWKS fetched on first use,
/// refreshed like the gateway's `jwt` policy does).
fn assertion_keys(cfg: &Config) -> Result<Vec<(String, KeyProvider)>, String> {
    use crate::config::KeySource;
    use crate::token::jwks::RemoteJwks;
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
        // DPoP server nonces, shared by every instance with the key directory.
        let dpop_nonces = crate::token::dpop::Nonces::new(|label| session_key.sign(label), dpop::NONCE_PERIOD_SECS);
        let tokens = Arc::new(OwnTokens::new(&cfg, store.clone(), keys.clone(), dpop_nonces));
        let outbound = Arc::new(crate::outbound::Guard::new(
            cfg.outbound.clone(),
            cfg.gateway.connect_timeout,
            &crate::net::tls_config(cfg.gateway.ca_file.as_deref())?,
        ));
        Ok(AuthServer {
            clients: Cache::builder().max_capacity(entries).time_to_live(stale).build(),
            client_loads: flight::Flights::default(),
            verified_secrets: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            tokens,
            throttle: throttle::Throttle::new("", cfg.throttle.passwords, cfg.throttle.window, store.clone()),
            client_throttle: throttle::Throttle::new(
                "c",
                cfg.throttle.client_secrets,
                cfg.throttle.window,
                store.clone(),
            )
            .cached(stale, entries),
            grants: grants::registry(),
            assertion_keys,
            client_jwks: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            saml_idps: Arc::new(saml_idps),
            secret_box,
            outbound,
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
                    introspection_signed_response_alg: c
                        .introspection_signed_response_alg
                        .map(|a| a.as_str().to_string()),
                    post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                    backchannel_logout_uri: c.backchannel_logout_uri.clone(),
                    backchannel_logout_session_required: c.backchannel_logout_session_required,
                    token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
                    jwks: c.jwks.clone(),
                    jwks_uri: c.jwks_uri.clone(),
                    client_secret_sealed,
                    token_exchange: c.token_exchange.clone(),
                    dpop_bound_access_tokens: c.dpop_bound_access_tokens,
                    require_pushed_authorization_requests: c.require_pushed_authorization_requests,
                    ..Default::default()
                },
            };
            self.store.put_client(&client).await.map_err(|e| e.to_string())?;
            if let (Some(SecretSpec::Plain(p)), Some(h)) = (&c.secret, &client.secret_hash) {
                self.remember_secret(&client.id, h, p).await;
            }
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
            Change::Everything => self.clients.invalidate_all(),
            Change::Token(_) | Change::Revoked(_) => {}
        }
        self.tokens.apply_change(change);
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
        self.tokens.forget_all();
    }

    /// Forget cached answers about a token at once (this instance); other
    /// instances see the store within the staleness bound.
    pub fn forget(&self, token: &str, jti: Option<&str>) {
        self.tokens.forget(token, jti);
    }

    /// One of our own access tokens, validated (revocation honoured).
    pub async fn validate_access(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        self.tokens.validate(token).await
    }
}
