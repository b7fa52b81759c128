//! The admin console (`/admin/`) and the admin JSON API (`/admin/api/`):
//! both thin layers over `service`, enabled by `[admin]`.
//!
//! Who may call: the `[admin]` credential, checked in constant time (or by
//! argon2 when the config holds a hash) and throttled per username and per
//! address like the login page. The API takes it as HTTP Basic, or as a
//! bearer token from `POST /admin/api/login`; the console signs in with a
//! form and keeps an `admin` session (a kind the end-user pages never make).

pub mod api;
pub mod console;
pub mod service;
mod traffic;

use crate::authz::session::ADMIN;
use crate::authz::{secrets, AuthServer};
use crate::config::{AdminSettings, SecretSpec};
use crate::error::AdminError;
use crate::store::{self, hash_token};
use axum::Router;
use http::HeaderMap;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub use service::Service;

pub struct Admin {
    pub service: Service,
    pub authz: Arc<AuthServer>,
    settings: AdminSettings,
    /// SHA-256 of credentials that passed argon2 recently, so API calls
    /// with Basic do not pay argon2 each time.
    verified: Cache<[u8; 32], ()>,
}

/// The `WWW-Authenticate` challenge of the admin API.
const CHALLENGE: &str = "Basic realm=\"gatehouse admin\", charset=\"UTF-8\"";

fn unauthorized(description: &'static str) -> AdminError {
    AdminError::Unauthorized {
        code: "unauthorized",
        description,
        challenge: CHALLENGE,
    }
}

impl Admin {
    pub fn new(authz: Arc<AuthServer>, settings: AdminSettings) -> Admin {
        Admin {
            service: Service::new(authz.clone()),
            authz,
            settings,
            verified: Cache::builder()
                .max_capacity(64)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    /// Checks the admin credential, throttled: `Ok(true)` when it is right.
    pub async fn check_password(&self, username: &str, password: &str, ip: IpAddr) -> Result<bool, AdminError> {
        let key = format!("admin:{username}");
        if let Some(retry_after) = self.authz.throttle.check(&key, ip).await? {
            return Err(AdminError::Throttled { retry_after });
        }
        let user_ok: bool = username.as_bytes().ct_eq(self.settings.username.as_bytes()).into();
        let pass_ok = match &self.settings.password {
            SecretSpec::Plain(p) => {
                let (a, b) = (Sha256::digest(p.as_bytes()), Sha256::digest(password.as_bytes()));
                a.ct_eq(&b).into()
            }
            SecretSpec::Hash(h) => {
                let mut d = Sha256::new();
                d.update(h.as_bytes());
                d.update([0]);
                d.update(password.as_bytes());
                let cache_key: [u8; 32] = d.finalize().into();
                if self.verified.contains_key(&cache_key) {
                    true
                } else {
                    let ok = secrets::verify_password_queued(h.clone(), password.to_string()).await;
                    if ok {
                        self.verified.insert(cache_key, ());
                    }
                    ok
                }
            }
        };
        if user_ok && pass_ok {
            self.authz.throttle.success(&key, ip).await?;
            Ok(true)
        } else {
            self.authz.throttle.failure(&key, ip).await?;
            Ok(false)
        }
    }

    /// The API caller: Basic with the admin credential, or a bearer token
    /// from `POST /admin/api/login`.
    pub async fn authenticate(&self, headers: &HeaderMap, ip: IpAddr) -> Result<(), AdminError> {
        let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(unauthorized("admin credentials are required"));
        };
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(Some((user, pass))) = crate::authz::client_auth::basic_credentials(headers) else {
                return Err(unauthorized("malformed Basic credentials"));
            };
            return match self.check_password(&user, &pass, ip).await? {
                true => Ok(()),
                false => Err(unauthorized("wrong admin username or password")),
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            if token.is_empty() || token.len() > 200 {
                return Err(unauthorized("malformed bearer token"));
            }
            let now = store::now();
            return match self.authz.store.get_session(&hash_token(token)).await? {
                Some(s) if s.kind == ADMIN.kind && s.expires_at > now => Ok(()),
                _ => Err(unauthorized("the admin token is unknown or expired")),
            };
        }
        Err(unauthorized("use Basic or Bearer admin credentials"))
    }
}

/// `/admin/…` and `/admin/api/…`, or nothing when `[admin]` is absent (the
/// paths then 404 like any unknown path).
pub fn router(authz: &Arc<AuthServer>) -> Router {
    match &authz.cfg.admin {
        None => Router::new(),
        Some(settings) => {
            let admin = Arc::new(Admin::new(authz.clone(), settings.clone()));
            api::router(admin.clone()).merge(console::router(admin))
        }
    }
}
