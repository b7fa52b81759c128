//! The gateway: a request's head is checked and its path made canonical,
//! a route is chosen, the route's policies run (`policy/`), and its
//! backend answers — a mock, or a pool of upstream targets (`upstream/`,
//! the data plane). Connections hand requests straight to
//! [`Gateway::serve`], without the web framework the authorization
//! server's endpoints use.

pub mod backend;
pub mod body;
pub mod exchange;
pub mod path;
pub mod policy;
pub mod routing;
pub mod upstream;

use crate::config::{BackendSpec, Config};
use crate::error::GatewayError;
use crate::net::{self, ConnInfo};
use crate::ops::{access, metrics, telemetry};
use crate::token::OwnTokens;
use axum::response::IntoResponse;
use backend::Backend;
use body::{Body, RequestBody};
use exchange::Exchange;
use http::{HeaderValue, Request, Response};
use policy::{Policy, Step, Stop};
use routing::RouteTable;
use std::sync::Arc;
use std::time::Instant;
use tracing::{Instrument, Span};
use upstream::Pools;

/// The shared rate-limit counter `[gateway] rate_limit_store` asks for:
/// the previous one if its settings did not change, else a new one (its
/// sync task starts now), or None for "local" or a config without
/// rate limits.
fn shared_limits(
    cfg: &Config,
    own: Option<&Arc<OwnTokens>>,
    previous: Option<&Arc<policy::rate_limit::shared::Shared>>,
) -> Result<Option<Arc<policy::rate_limit::shared::Shared>>, String> {
    use crate::config::RateLimitStore;
    use policy::rate_limit::{redis::RedisSync, shared};
    let g = &cfg.gateway;
    if g.rate_limit_store == RateLimitStore::Local || cfg.apis.iter().all(|a| a.rate_limit.is_none()) {
        return Ok(None);
    }
    let settings = format!(
        "{:?} {:?} {}",
        g.rate_limit_store, g.rate_limit_sync, g.rate_limit_refuse_when_down
    );
    if let Some(p) = previous.filter(|p| p.settings == settings) {
        return Ok(Some(p.clone()));
    }
    let backend: Box<dyn shared::CountSync> = match &g.rate_limit_store {
        RateLimitStore::Local => return Ok(None),
        RateLimitStore::Store => Box::new(shared::StoreSync(
            own.ok_or("rate_limit_store = \"store\" needs the authorization server's store")?
                .store()
                .clone(),
        )),
        RateLimitStore::Redis(url) => Box::new(RedisSync::new(url, g.connect_timeout)?),
    };
    Ok(Some(shared::Shared::start(
        backend,
        g.rate_limit_sync,
        g.rate_limit_refuse_when_down,
        settings,
    )))
}

pub struct Route {
    pub name: Arc<str>,
    pub prefix: String,
    /// Empty: any host.
    hosts: Vec<crate::config::policies::HostPattern>,
    chain: Vec<Arc<dyn Policy>>,
    backend: Backend,
    metrics: metrics::RouteMetrics,
    max_body_bytes: u64,
}

pub struct Gateway {
    routes: RouteTable,
    pools: Pools,
    /// Kept across reloads that leave `rate_limit_store` as it was, with
    /// its counts and its sync task.
    shared_limits: Option<Arc<policy::rate_limit::shared::Shared>>,
}

/// The gateway in service. A config reload swaps it whole; a request keeps
/// the one it started with to the end.
pub type Live = Arc<arc_swap::ArcSwap<Gateway>>;

impl Gateway {
    /// `own`: gatehouse's own access tokens, needed by `oauth2` routes.
    /// `previous`: the gateway a reload replaces; its pools whose
    /// definition did not change are kept (connections, health state).
    pub fn build(cfg: &Config, own: Option<&Arc<OwnTokens>>, previous: Option<&Gateway>) -> Result<Self, String> {
        let tls = net::tls_config(cfg.gateway.ca_file.as_deref())?;
        let mut cx = policy::BuildContext::new(cfg, own, &tls);
        cx.shared_limits = shared_limits(cfg, own, previous.and_then(|g| g.shared_limits.as_ref()))?;
        let mut pools = Pools::default();
        let prev = previous.map(|g| &g.pools);
        for spec in &cfg.upstreams {
            pools
                .get_or_build(spec, prev, &tls)
                .map_err(|e| format!("upstream {:?}: {e}", spec.name))?;
        }
        let mut routes = Vec::with_capacity(cfg.apis.len());
        for api in &cfg.apis {
            let err = |e: String| format!("api {:?}: {e}", api.name);
            let backend = match &api.backend {
                BackendSpec::Mock(m) => Backend::Mock(backend::mock::Mock::new(m.clone())),
                BackendSpec::Upstream(u) => Backend::Pool {
                    pool: pools.get_or_build(&u.as_pool(&api.name), prev, &tls).map_err(err)?,
                    strip_prefix: u.strip_prefix,
                },
                BackendSpec::Pool { name, strip_prefix } => {
                    let spec = cfg
                        .upstreams
                        .iter()
                        .find(|p| p.name == *name)
                        .ok_or_else(|| err(format!("no upstream {name:?}")))?;
                    Backend::Pool {
                        pool: pools.get_or_build(spec, prev, &tls).map_err(err)?,
                        strip_prefix: *strip_prefix,
                    }
                }
            };
            routes.push(Arc::new(Route {
                metrics: metrics::RouteMetrics::new(&api.name),
                max_body_bytes: api.max_body_bytes,
                name: api.name.clone(),
                prefix: api.path.clone(),
                hosts: api.hosts.clone(),
                chain: policy::chain(api, &cx).map_err(err)?,
                backend,
            }));
        }
        Ok(Gateway {
            routes: RouteTable::new(routes),
            pools,
            shared_limits: cx.shared_limits.clone(),
        })
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Every upstream pool in service (health, admin pages).
    pub fn pools(&self) -> impl Iterator<Item = &Arc<upstream::Pool>> {
        self.pools.iter()
    }

    /// Answers one request.
    pub async fn serve(&self, req: Request<RequestBody>, conn: &ConnInfo) -> Response<Body> {
        let started = Instant::now();
        let (mut parts, body) = req.into_parts();
        // Disabled without `[telemetry]`: one atomic load, nothing else.
        let span = crate::server_span!(parts.method, parts.uri.path());
        let traced = !span.is_disabled();
        if traced {
            telemetry::continue_from(&span, &parts.headers);
        }
        let method = traced.then(|| parts.method.clone());
        let checked = upstream::forward::check_request_head(&mut parts);
        // Hop-by-hop fields (and whatever `Connection` names) go before the
        // gateway adds any header of its own.
        let hop = upstream::forward::strip_hop_by_hop(&mut parts.headers);
        let rid = request_id(&mut parts.headers);
        let grpc = is_grpc(&parts.headers);
        // The access line shows the request as received; gathered only
        // while the access log is on (the proxy path pays nothing else).
        let mut seen = access::enabled().then(|| Seen::new(&parts, conn));
        let (route, result) = match checked {
            Ok(()) => {
                let arrival = Arrival {
                    conn,
                    started,
                    grpc,
                    span: &span,
                };
                let dispatched = self.dispatch(parts, body, hop, arrival, seen.as_mut());
                if traced {
                    dispatched.instrument(span.clone()).await
                } else {
                    dispatched.await
                }
            }
            Err(e) => (None, Err(e)),
        };
        let mut resp = result.unwrap_or_else(|e| refusal(e, grpc));
        let status = resp.status();
        let elapsed = started.elapsed();
        match route {
            Some(r) => r.metrics.record(status, elapsed),
            None => metrics::request(None, status, elapsed),
        }
        if status.is_server_error() {
            let route_name = route.map_or("-", |r| &*r.name);
            tracing::warn!(request_id = ?rid, route = route_name, status = status.as_u16(), elapsed_us = elapsed.as_micros() as u64, "request failed");
        }
        if let Some(m) = method {
            if let Ok(id) = rid.to_str() {
                span.record("request_id", id);
            }
            telemetry::finish(&span, &m, route.map(|r| &*r.name), status);
        }
        if let Some(s) = seen {
            s.log(route.map(|r| &*r.name), &resp, elapsed, &rid);
        }
        resp.headers_mut().insert(X_REQUEST_ID.clone(), rid);
        resp
    }

    async fn dispatch(
        &self,
        mut parts: http::request::Parts,
        mut body: RequestBody,
        hop: upstream::forward::Hop,
        arrival: Arrival<'_>,
        seen: Option<&mut Seen>,
    ) -> (Option<&Arc<Route>>, Result<Response<Body>, GatewayError>) {
        // Route on the canonical path and forward exactly that path.
        match path::canonical(parts.uri.path()) {
            Ok(std::borrow::Cow::Borrowed(_)) => {}
            Ok(std::borrow::Cow::Owned(p)) => match with_path(&parts.uri, p) {
                Some(u) => parts.uri = u,
                None => return (None, Err(GatewayError::BadPath("the request path is malformed"))),
            },
            Err(path::BadPath(why)) => return (None, Err(GatewayError::BadPath(why))),
        }
        let authority = || match parts.headers.get(http::header::HOST) {
            Some(h) => h.to_str().ok(),
            None => parts.uri.authority().map(|a| a.as_str()),
        };
        let Some(route) = self.routes.find(parts.uri.path(), authority) else {
            return (None, Err(GatewayError::NoRoute));
        };
        let Arrival {
            conn,
            started,
            grpc,
            span,
        } = arrival;
        let mut cx = Exchange::new(conn, &route.name, started);
        cx.grpc = grpc;
        let traced = !span.is_disabled();
        if traced {
            cx.span = span.clone();
        }
        let mut ran = 0;
        let mut stopped = None;
        for p in &route.chain {
            ran += 1;
            let r = if traced {
                policy_traced(&**p, &mut parts, &mut cx).await
            } else {
                match p.request(&mut parts, &mut cx) {
                    Step::Next => Ok(()),
                    Step::Stop(s) => Err(s),
                    Step::Wait(f) => f.await,
                }
            };
            if let Err(s) = r {
                stopped = Some(s);
                break;
            }
        }
        let result = match stopped {
            Some(Stop::Refuse(e)) => Err(e),
            Some(Stop::Answer(r)) => Ok(*r),
            None => {
                // Bodies over the route's limit: 413 at once when the length
                // is declared, else when the stream crosses it.
                let declared = parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if declared.is_some_and(|n| n > route.max_body_bytes) {
                    Err(GatewayError::BodyTooLarge)
                } else {
                    body.limit(route.max_body_bytes);
                    route.backend.call(parts, body, &mut cx, &route.prefix, hop).await
                }
            }
        };
        if traced {
            record_exchange(span, &cx);
        }
        if let Some(s) = seen {
            s.learn(&cx);
        }
        if ran == 0 {
            return (Some(route), result);
        }
        // The response phase sees refusals too (CORS headers on a 401).
        let resp = result.unwrap_or_else(|e| refusal(e, grpc));
        let (mut head, b) = resp.into_parts();
        for p in route.chain[..ran].iter().rev() {
            p.response(&mut head, &cx);
        }
        for (k, v) in cx.answer_headers.drain(..) {
            if k == http::header::VARY {
                head.headers.append(k, v);
            } else {
                head.headers.insert(k, v);
            }
        }
        (Some(route), Ok(Response::from_parts(head, b)))
    }
}

/// How a request came: its connection, when, whether it is gRPC
/// (refusals are shaped for it), and its server span (disabled without
/// `[telemetry]`).
struct Arrival<'c> {
    conn: &'c ConnInfo,
    started: Instant,
    grpc: bool,
    span: &'c Span,
}

/// One policy's request phase as a child span of the request's: named
/// after the policy, with how it ended. Store calls a policy makes while
/// it waits (an opaque token's lookup) are children of it.
async fn policy_traced(p: &dyn Policy, parts: &mut http::request::Parts, cx: &mut Exchange<'_>) -> Result<(), Stop> {
    let span = tracing::trace_span!(
        target: "gatehouse::otel",
        "policy",
        otel.name = p.name(),
        gatehouse.policy = p.name(),
        gatehouse.policy.outcome = tracing::field::Empty,
    );
    let step = span.in_scope(|| p.request(parts, cx));
    let r = match step {
        Step::Next => Ok(()),
        Step::Stop(s) => Err(s),
        Step::Wait(f) => f.instrument(span.clone()).await,
    };
    let outcome = match &r {
        Ok(()) => "next",
        Err(Stop::Refuse(_)) => "refused",
        Err(Stop::Answer(_)) => "answered",
    };
    span.record("gatehouse.policy.outcome", outcome);
    r
}

/// What the exchange learnt, on the server span: who the token spoke for,
/// which target answered after how many attempts.
fn record_exchange(span: &Span, cx: &Exchange<'_>) {
    if let Some(c) = cx.client_id() {
        span.record("client_id", c);
    }
    if let Some(sub) = cx.principal.as_ref().and_then(|v| v.claim_str("sub")) {
        span.record("enduser.id", sub);
    }
    if let Some(t) = &cx.target {
        span.record("upstream.target", &**t);
        span.record("upstream.attempts", i64::from(cx.attempts));
    }
}

/// What a gateway request's access line shows beyond its answer: the
/// request as received, and what its exchange learnt (who the token spoke
/// for, which target answered after how many attempts, the client address
/// `trusted_proxies` let through).
struct Seen {
    method: http::Method,
    uri: http::Uri,
    client_ip: std::net::IpAddr,
    client_id: Option<String>,
    sub: Option<String>,
    target: Option<Arc<str>>,
    attempts: u32,
}

impl Seen {
    fn new(parts: &http::request::Parts, conn: &ConnInfo) -> Self {
        Seen {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            client_ip: conn.peer.ip(),
            client_id: None,
            sub: None,
            target: None,
            attempts: 0,
        }
    }

    fn learn(&mut self, cx: &Exchange<'_>) {
        self.client_ip = cx.client_ip;
        self.client_id = cx.client_id().map(str::to_string);
        self.sub = cx
            .principal
            .as_ref()
            .and_then(|v| v.claim_str("sub"))
            .map(str::to_string);
        self.target = cx.target.clone();
        self.attempts = cx.attempts;
    }

    fn log(&self, route: Option<&str>, resp: &Response<Body>, latency: std::time::Duration, rid: &HeaderValue) {
        access::log(&access::Entry {
            method: &self.method,
            uri: &self.uri,
            route,
            status: resp.status(),
            bytes: access::response_bytes(resp),
            latency,
            client_id: self.client_id.as_deref(),
            sub: self.sub.as_deref(),
            upstream: self.target.as_deref(),
            attempts: self.attempts,
            request_id: rid.to_str().unwrap_or("-"),
            client_ip: self.client_ip,
        });
    }
}

/// A refusal as HTTP (`GatewayError`'s one mapping). A gRPC client gets
/// it as a trailers-only response (gRPC over HTTP/2: status, message and
/// `application/grpc` in the head, no body), keeping the HTTP status and
/// `WWW-Authenticate` so plain HTTP tooling still reads it: gRPC clients map
/// the HTTP status too, and they agree (401 → UNAUTHENTICATED, …).
fn refusal(e: GatewayError, grpc: bool) -> Response<Body> {
    if !grpc {
        let (head, b) = e.into_response().into_parts();
        return Response::from_parts(head, Body::Other(b));
    }
    let code = e.grpc_status();
    let message = e.grpc_message();
    let (mut head, _) = e.into_response().into_parts();
    head.headers.remove(http::header::CONTENT_LENGTH);
    head.headers
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    head.headers
        .insert(GRPC_STATUS.clone(), HeaderValue::from(u16::from(code)));
    if let Ok(v) = HeaderValue::from_str(&grpc_percent_encode(message)) {
        head.headers.insert(GRPC_MESSAGE.clone(), v);
    }
    Response::from_parts(head, Body::empty())
}

/// `grpc-message` is percent-encoded: printable ASCII except `%` stays.
fn grpc_percent_encode(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    for b in m.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");

fn is_grpc(h: &http::HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
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

/// The axum fallback: paths under the authorization server's prefixes
/// that no endpoint took still go through the gateway.
pub async fn handle(
    axum::extract::State(live): axum::extract::State<Live>,
    req: Request<axum::body::Body>,
) -> axum::response::Response {
    let conn = req.extensions().get::<Arc<ConnInfo>>().cloned();
    let conn = conn.unwrap_or_else(|| Arc::new(ConnInfo::new(([0, 0, 0, 0], 0).into(), false)));
    let gw = live.load_full();
    let resp = gw.serve(req.map(|b| RequestBody::other(b, DEFAULT_PAUSE)), &conn).await;
    resp.map(axum::body::Body::new)
}

/// The body pause bound where no connection set one (the fallback's
/// bodies already carry the connection's watchdog).
const DEFAULT_PAUSE: std::time::Duration = std::time::Duration::from_secs(3600);

static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The caller's X-Request-Id if sane, else a new one; forwarded upstream.
fn request_id(headers: &mut http::HeaderMap) -> HeaderValue {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(v) = headers.get(&X_REQUEST_ID) {
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
    headers.insert(X_REQUEST_ID.clone(), v.clone());
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
        let mut h = http::HeaderMap::new();
        let a = request_id(&mut h);
        let b = request_id(&mut http::HeaderMap::new());
        for id in [&a, &b] {
            let s = id.to_str().unwrap();
            assert_eq!(s.len(), 21, "{s}");
            assert_eq!(&s[8..9], "-");
            assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{s}");
        }
        assert_eq!(a.as_bytes()[..8], b.as_bytes()[..8], "one tag per process");
        assert_ne!(a, b);
        assert_eq!(h[&X_REQUEST_ID], a, "forwarded upstream");
        let mut theirs = http::HeaderMap::new();
        theirs.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut theirs), "abc-123");
    }
}

#[cfg(test)]
mod size_tests {
    /// The whole request future is moved when hyper stores it; a future of
    /// kilobytes (it was 4.5 KiB before the data plane's was boxed) costs
    /// a copy of that much per request.
    #[test]
    fn the_request_future_is_small() {
        let cfg = crate::config::Config::parse("", "t", std::path::Path::new("."), &[]).unwrap();
        let gw = super::Gateway::build(&cfg, None, None).unwrap();
        let conn = crate::net::ConnInfo::new(([127, 0, 0, 1], 1).into(), false);
        let f = gw.serve(http::Request::new(super::RequestBody::empty()), &conn);
        let size = std::mem::size_of_val(&f);
        eprintln!("Gateway::serve future: {size} bytes");
        assert!(size < 3072, "Gateway::serve's future is {size} bytes");
    }
}
