//! Route policies: a chain of small objects behind one interface (Envoy's
//! HTTP filters, Kong's plugins). Every route runs the policies its config
//! asks for, in the order of `CHAIN` (SPEC §7: CORS preflight, methods,
//! rate limit, auth, header transforms), then its backend. A policy may
//! change the request head, note what later phases need in the
//! [`Exchange`], or stop the request with a refusal or an answer of its
//! own; in the response phase, every policy whose request phase ran sees
//! the answer — the backend's or a refusal — in reverse order.
//!
//! Adding a policy is one file with a `build` function and one line in
//! `CHAIN`.

pub mod auth;
pub mod cors;
pub mod headers;
pub mod methods;
pub mod rate_limit;

use super::body::Body;
use super::exchange::Exchange;
use crate::config::{ApiSpec, Config};
use crate::error::GatewayError;
use crate::token::jwks::RemoteJwks;
use crate::token::OwnTokens;
use http::request::Parts;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why the chain stopped before the backend.
pub enum Stop {
    /// A refusal, answered by `GatewayError`'s one mapping to HTTP.
    Refuse(GatewayError),
    /// An answer of the policy's own (a CORS preflight, a redirect to login).
    /// Boxed: rare, and it keeps `Result<(), Stop>` small on the hot path.
    Answer(Box<http::Response<Body>>),
}

impl From<GatewayError> for Stop {
    fn from(e: GatewayError) -> Self {
        Stop::Refuse(e)
    }
}

/// What a policy's request phase decided. Most decide at once (`Next`,
/// `Stop`); one that must wait (fetch keys, ask the store) returns the
/// future, so only waiting costs an allocation.
pub enum Step<'a> {
    Next,
    Stop(Stop),
    Wait(Pin<Box<dyn Future<Output = Result<(), Stop>> + Send + 'a>>),
}

pub trait Policy: Send + Sync + 'static {
    /// For metrics, traces and logs.
    fn name(&self) -> &'static str;

    /// The request phase.
    fn request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Exchange<'_>) -> Step<'a>;

    /// The response phase; sees the backend's answer and the gateway's own
    /// refusals alike.
    fn response(&self, _resp: &mut http::response::Parts, _cx: &Exchange<'_>) {}
}

/// What building a route's policies may use: the config, gatehouse's own
/// tokens, shared JWKS fetchers, the outbound TLS settings.
pub struct BuildContext<'a> {
    pub cfg: &'a Config,
    pub own: Option<&'a Arc<OwnTokens>>,
    pub tls: &'a Arc<rustls::ClientConfig>,
    /// Rate limits across instances (`[gateway] rate_limit_store`), or
    /// None: each route counts on its own.
    pub shared_limits: Option<Arc<rate_limit::shared::Shared>>,
    /// One fetcher per JWKS URL, shared by every route that trusts it.
    remotes: RefCell<HashMap<String, Arc<RemoteJwks>>>,
}

impl<'a> BuildContext<'a> {
    pub fn new(cfg: &'a Config, own: Option<&'a Arc<OwnTokens>>, tls: &'a Arc<rustls::ClientConfig>) -> Self {
        BuildContext {
            cfg,
            own,
            tls,
            shared_limits: None,
            remotes: RefCell::new(HashMap::new()),
        }
    }

    pub fn remote_jwks(&self, uri: &str, min_refresh: Duration) -> Arc<RemoteJwks> {
        self.remotes
            .borrow_mut()
            .entry(uri.to_string())
            .or_insert_with(|| {
                let client = crate::net::client(self.cfg.gateway.connect_timeout, self.tls);
                Arc::new(RemoteJwks::new(uri.to_string(), client, min_refresh))
            })
            .clone()
    }
}

type Build = fn(&ApiSpec, &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String>;

/// The chain, in order. Each entry builds its policy for a route, or
/// None when the route does not use it.
/// Rate limits keyed by address or header run before auth (a flood costs
/// no token work); those keyed by client or subject need its verdict.
const CHAIN: &[Build] = &[
    cors::build,
    methods::build,
    rate_limit::build_before_auth,
    auth::build,
    rate_limit::build_after_auth,
    headers::build,
];

/// A route's policies, in chain order.
pub fn chain(api: &ApiSpec, cx: &BuildContext<'_>) -> Result<Vec<Arc<dyn Policy>>, String> {
    let mut out = Vec::new();
    for build in CHAIN {
        if let Some(p) = build(api, cx)? {
            out.push(p);
        }
    }
    Ok(out)
}
