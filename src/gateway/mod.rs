//! The gateway: route → auth policy → backend, as phases in one handler.

pub mod backend;
pub mod path;
pub mod policy;
pub mod routing;

use crate::config::{AuthSpec, Config, KeySource};
use crate::error::GatewayError;
use crate::net;
use crate::ops::metrics;
use crate::token::jwks::{KeyProvider, RemoteJwks};
use crate::token::OwnTokens;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use backend::Backend;
use http::{HeaderValue, Method};
use policy::{JwtPolicy, Policy};
use routing::RouteTable;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub struct Route {
    pub name: Arc<str>,
    pub prefix: String,
    methods: Option<Vec<Method>>,
    allow: HeaderValue,
    pub policy: Policy,
    backend: Backend,
    metrics: metrics::RouteMetrics,
    max_body_bytes: u64,
}

pub struct Gateway {
    routes: RouteTable,
}

/// The gateway in service. A config reload swaps it whole; a request keeps
/// the one it started with to the end.
pub type Live = Arc<arc_swap::ArcSwap<Gateway>>;

impl Gateway {
    /// `own`: gatehouse's own access tokens, needed by `oauth2` routes.
    pub fn build(cfg: &Config, own: Option<&Arc<OwnTokens>>) -> Result<Self, String> {
        // One fetcher per JWKS URL, shared by every route that trusts it.
        let mut remotes: HashMap<String, Arc<RemoteJwks>> = HashMap::new();
        let tls = net::tls_config(cfg.gateway.ca_file.as_deref())?;
        let jwks_client = net::client(cfg.gateway.connect_timeout, &tls);
        let mut routes = Vec::with_capacity(cfg.apis.len());
        for api in &cfg.apis {
            let policy = match &api.auth {
                AuthSpec::None => Policy::None,
                AuthSpec::Jwt(spec) => {
                    let keys = match &spec.keys {
                        KeySource::Static(set) => KeyProvider::Static(set.clone()),
                        KeySource::Remote { uri } => KeyProvider::Remote(
                            remotes
                                .entry(uri.clone())
                                .or_insert_with(|| {
                                    Arc::new(RemoteJwks::new(uri.clone(), jwks_client.clone(), spec.jwks_min_refresh))
                                })
                                .clone(),
                        ),
                    };
                    Policy::Jwt(Box::new(JwtPolicy::new(
                        spec,
                        keys,
                        cfg.gateway.token_cache_entries,
                        cfg.gateway.max_token_bytes,
                    )))
                }
                AuthSpec::OAuth2 { scopes } => match own {
                    Some(t) => Policy::OAuth2(Box::new(policy::OAuth2Policy::new(t.clone(), scopes.clone()))),
                    None => {
                        return Err(format!(
                            "api {:?}: auth kind \"oauth2\" needs the authorization server",
                            api.name
                        ))
                    }
                },
            };
            let allow = match &api.methods {
                Some(m) => m.iter().map(Method::as_str).collect::<Vec<_>>().join(", "),
                None => String::new(),
            };
            routes.push(Arc::new(Route {
                metrics: metrics::RouteMetrics::new(&api.name),
                max_body_bytes: api.max_body_bytes,
                name: api.name.clone(),
                prefix: api.path.clone(),
                methods: api.methods.clone(),
                allow: HeaderValue::from_str(&allow).map_err(|e| e.to_string())?,
                policy,
                backend: Backend::build(&api.backend, &tls).map_err(|e| format!("api {:?}: {e}", api.name))?,
            }));
        }
        Ok(Gateway {
            routes: RouteTable::new(routes),
        })
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    async fn dispatch(&self, req: Request, peer: SocketAddr) -> (Option<&Arc<Route>>, Result<Response, GatewayError>) {
        let (mut parts, body) = req.into_parts();
        // Route on the canonical path and forward exactly that path.
        match path::canonical(parts.uri.path()) {
            Ok(std::borrow::Cow::Borrowed(_)) => {}
            Ok(std::borrow::Cow::Owned(p)) => match with_path(&parts.uri, p) {
                Some(u) => parts.uri = u,
                None => return (None, Err(GatewayError::BadPath("the request path is malformed"))),
            },
            Err(path::BadPath(why)) => return (None, Err(GatewayError::BadPath(why))),
        }
        let Some(route) = self.routes.find(parts.uri.path()) else {
            return (None, Err(GatewayError::NoRoute));
        };
        let name = Some(route);
        if let Some(m) = &route.methods {
            if !m.contains(&parts.method) {
                return (name, Err(GatewayError::MethodNotAllowed(route.allow.clone())));
            }
        }
        let principal = match route.policy.authorize(&parts).await {
            Ok(p) => p,
            Err(e) => {
                metrics::auth_failure(&route.name, e.label());
                return (name, Err(GatewayError::Auth(e)));
            }
        };
        // Identity headers come only from us: drop any the client sent.
        for (_, h) in route.policy.forwarded_headers() {
            parts.headers.remove(h);
        }
        if let Some(v) = principal {
            for (h, val) in &v.forward {
                parts.headers.insert(h.clone(), val.clone());
            }
        }
        // Bodies over the route's limit: 413 at once when the length is
        // declared, else when the stream crosses it (before any answer).
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = match declared {
            Some(n) if n > route.max_body_bytes => return (name, Err(GatewayError::BodyTooLarge)),
            Some(_) => body,
            None if http_body::Body::is_end_stream(&body) => body,
            None => Body::new(http_body_util::Limited::new(
                body,
                usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX),
            )),
        };
        (name, route.backend.call(parts, body, peer, &route.prefix).await)
    }
}

/// `uri` with its path replaced (query, scheme and authority kept).
fn with_path(uri: &http::Uri, mut path: String) -> Option<http::Uri> {
    if let Some(q) = uri.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// axum fallback handler: everything that is not an authorization-server
/// or operations endpoint goes through the gateway.
pub async fn handle(
    State(live): State<Live>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request<Body>,
) -> Response {
    let start = Instant::now();
    let rid = request_id(&mut req);
    let gw = live.load_full();
    let (route, result) = gw.dispatch(req, peer).await;
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    let status = resp.status();
    let elapsed = start.elapsed();
    match route {
        Some(r) => r.metrics.record(status, elapsed),
        None => metrics::request(None, status, elapsed),
    }
    let route_name = route.map_or("-", |r| &*r.name);
    if status.is_server_error() {
        tracing::warn!(request_id = ?rid, route = route_name, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, "request failed");
    } else {
        tracing::debug!(request_id = ?rid, route = route_name, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, "request");
    }
    resp.headers_mut().insert(X_REQUEST_ID.clone(), rid);
    resp
}

static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The caller's X-Request-Id if sane, else a new one; forwarded upstream.
fn request_id(req: &mut Request<Body>) -> HeaderValue {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(v) = req.headers().get(&X_REQUEST_ID) {
        if !v.is_empty() && v.len() <= 128 {
            return v.clone();
        }
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // "{tag:08x}-{n:012x}" without the formatting machinery (per request).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [b'-'; 21];
    let tag = process_tag();
    for (i, b) in id[..8].iter_mut().enumerate() {
        *b = HEX[((tag >> (28 - 4 * i)) & 0xf) as usize];
    }
    for (i, b) in id[9..].iter_mut().enumerate() {
        *b = HEX[((n >> (44 - 4 * i)) & 0xf) as usize];
    }
    let v = HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"));
    req.headers_mut().insert(X_REQUEST_ID.clone(), v.clone());
    v
}

fn process_tag() -> u32 {
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *TAG.get_or_init(rand::random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_tag_dash_counter_in_hex_and_a_sane_caller_id_is_kept() {
        let mut req = Request::new(Body::empty());
        let a = request_id(&mut req);
        let b = request_id(&mut Request::new(Body::empty()));
        for id in [&a, &b] {
            let s = id.to_str().unwrap();
            assert_eq!(s.len(), 21, "{s}");
            assert_eq!(&s[8..9], "-");
            assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{s}");
        }
        assert_eq!(a.as_bytes()[..8], b.as_bytes()[..8], "one tag per process");
        assert_ne!(a, b);
        assert_eq!(req.headers()[&X_REQUEST_ID], a, "forwarded upstream");
        let mut theirs = Request::new(Body::empty());
        theirs
            .headers_mut()
            .insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut theirs), "abc-123");
    }
}
