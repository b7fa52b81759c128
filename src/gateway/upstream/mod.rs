//! The data plane: pools of targets (`[[upstreams]]`, or one URL as a pool
//! of one), a balancer per pool, active and passive health, retries under
//! a budget, and per-worker connections that are kept alive and reused.
//! Policies never see any of this; they hand a request to `Pool::forward`.

pub mod balance;
pub mod connect;
pub mod forward;
pub mod health;
pub mod passive;
pub mod retry;
pub mod target;
pub mod upgrade;

use crate::config::{Balance, HashOn, PoolSpec, Protocol};
use crate::error::GatewayError;
use crate::gateway::body::{Body, BoxError, RequestBody};
use crate::gateway::exchange::Exchange;
use crate::ops::telemetry;
use balance::{Balancer, Tried};
use connect::{Conn, ConnectError, Connector};
use forward::Hop;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use target::Target;

pub struct Pool {
    pub name: Arc<str>,
    pub spec: PoolSpec,
    pub targets: Vec<Arc<Target>>,
    pub protocol: Protocol,
    balancer: Box<dyn Balancer>,
    hash_on: Option<HashOn>,
    connector: Connector,
    /// Retries to other targets, never more than there are other targets.
    retries: u32,
    budget: retry::Budget,
    timeout: Duration,
    idle_timeout: Duration,
}

impl Pool {
    pub fn new(spec: &PoolSpec, tls: &Arc<rustls::ClientConfig>) -> Result<Arc<Self>, String> {
        let targets = spec
            .targets
            .iter()
            .map(|t| Target::new(&spec.name, t, spec.passive.as_ref()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let pool = Arc::new(Pool {
            name: spec.name.clone(),
            balancer: balance::build(&spec.balance, &targets),
            hash_on: match &spec.balance {
                Balance::ConsistentHash(h) => Some(h.clone()),
                _ => None,
            },
            retries: spec.retries.min(targets.len().saturating_sub(1) as u32),
            targets,
            protocol: spec.protocol,
            connector: Connector::new(spec.protocol, spec.connect_timeout, tls),
            budget: retry::Budget::default(),
            timeout: spec.timeout,
            idle_timeout: spec.idle_timeout,
            spec: spec.clone(),
        });
        if let Some(h) = &spec.health {
            health::spawn(&pool, h.clone(), tls);
        }
        Ok(pool)
    }

    fn hash_key(&self, parts: &Parts, cx: &Exchange<'_>) -> Option<u64> {
        let key = |b: &[u8]| Some(balance::key_hash(b));
        match self.hash_on.as_ref()? {
            HashOn::Header(h) => key(parts.headers.get(h)?.as_bytes()),
            HashOn::Cookie(name) => {
                let v = crate::token::extract::cookie(&parts.headers, name)?;
                key(v.as_bytes())
            }
            HashOn::Ip => match cx.client_ip {
                std::net::IpAddr::V4(a) => key(&a.octets()),
                std::net::IpAddr::V6(a) => key(&a.octets()),
            },
            HashOn::Claim(c) => key(cx.claim(c)?.as_bytes()),
        }
    }

    /// A target for this attempt, claimed (a target in its passive trial
    /// takes one request at a time).
    fn pick(&self, tried: &mut Tried, key: Option<u64>) -> Option<(usize, bool)> {
        loop {
            let i = self.balancer.pick(&self.targets, *tried, key)?;
            match self.targets[i].claim() {
                Some(trial) => return Some((i, trial)),
                // Its one trial went to another request meanwhile.
                None => tried.add(i),
            }
        }
    }

    /// A connection to `t`: this worker's HTTP/2 connection or an idle
    /// HTTP/1.1 one, else a new one. Upgrades get a connection of their own.
    async fn checkout(&self, t: &Target, upgrade: bool) -> Result<Conn, ConnectError> {
        if upgrade {
            return self.connector.connect(t, true).await;
        }
        if let Some(s) = t.h2() {
            return Ok(Conn::H2(s));
        }
        while let Some(mut s) = t.take_idle(self.idle_timeout) {
            // Ready at once unless its last response is still being wound
            // up by its connection task; an error means it was closed.
            if s.ready().await.is_ok() {
                return Ok(Conn::H1(s));
            }
        }
        let c = self.connector.connect(t, false).await?;
        if let Conn::H2(s) = &c {
            t.set_h2(s.clone());
        }
        Ok(c)
    }

    /// Sends `parts`+`body` to a target chosen by the balancer, retrying
    /// on another as `retry` allows. `cx` learns the target and attempts.
    #[allow(clippy::too_many_arguments)]
    pub async fn forward(
        &self,
        mut parts: Parts,
        body: RequestBody,
        cx: &mut Exchange<'_>,
        prefix: &str,
        strip_prefix: bool,
        hop: Hop,
    ) -> Result<Response<Body>, GatewayError> {
        if self.retries > 0 {
            self.budget.deposit();
        }
        let key = self.hash_key(&parts, cx);
        let upgrade = hop.upgrade.is_some();
        let client_upgrade = if upgrade {
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        } else {
            None
        };
        // Only a bodiless idempotent request may be sent twice.
        let replayable = !upgrade && body.is_end_stream() && retry::idempotent(&parts.method);
        let mut body = Some(body);
        let mut tried = Tried::default();
        let mut retries_left = self.retries;
        loop {
            let Some((i, trial)) = self.pick(&mut tried, key) else {
                return Err(if cx.attempts == 0 {
                    GatewayError::NoHealthyUpstream
                } else {
                    GatewayError::UpstreamUnavailable
                });
            };
            tried.add(i);
            let t = &self.targets[i];
            cx.attempts += 1;
            cx.target = Some(t.url.clone());
            // Ends when this iteration does: at the answer's head or the failure.
            let span = telemetry::upstream_span(&cx.span, &parts.method, &t.url, cx.attempts);
            let may_retry = |left: &mut u32| -> bool {
                if *left > 0 && self.budget.withdraw() {
                    *left -= 1;
                    crate::ops::metrics::upstream_retry(&self.name);
                    true
                } else {
                    false
                }
            };
            let _busy = InFlight::new(t);
            let conn = match self.checkout(t, upgrade).await {
                Ok(c) => c,
                Err(e) => {
                    // Nothing was sent: any method may go elsewhere.
                    telemetry::upstream_outcome(&span, None, Some("connect"));
                    t.metrics.failed("connect");
                    t.outcome(false, trial);
                    tracing::warn!(upstream = %self.name, target = %t.url, error = %e, "upstream connect failed");
                    if may_retry(&mut retries_left) {
                        continue;
                    }
                    return Err(match e {
                        ConnectError::Timeout => GatewayError::UpstreamTimeout,
                        ConnectError::Failed(_) => GatewayError::UpstreamUnavailable,
                    });
                }
            };
            // A copy of the head for a retry after sending (bodiless
            // idempotent requests with retries left only).
            let spare = (replayable && retries_left > 0).then(|| copy_head(&parts));
            let h2 = matches!(conn, Conn::H2(_));
            forward::request_head(&mut parts, t, h2, cx.conn, prefix, strip_prefix, &hop)?;
            // The target's spans become children of this attempt.
            telemetry::inject(&span, &mut parts.headers);
            let started = Instant::now();
            let mut req = Request::from_parts(parts, body.take().unwrap_or_else(RequestBody::empty));
            // A pooled connection the target closed meanwhile hands the
            // request back unsent: then a fresh connection to the same target.
            let mut conn = conn;
            let sent = loop {
                match tokio::time::timeout(self.timeout, send(conn, req)).await {
                    Err(_) => break Err(Failure::Timeout),
                    Ok(Ok(r)) => break Ok(r),
                    Ok(Err(mut e)) => match e.take_message() {
                        Some(back) if e.error().is_canceled() => {
                            req = back;
                            match self.connector.connect(t, upgrade).await {
                                Ok(c) => {
                                    if let Conn::H2(s) = &c {
                                        t.set_h2(s.clone());
                                    }
                                    conn = c;
                                }
                                Err(_) => {
                                    let (p, b) = req.into_parts();
                                    break Err(Failure::Unsent(Box::new((p, b))));
                                }
                            }
                        }
                        _ => break Err(Failure::Sent(e.into_error())),
                    },
                }
            };
            let resp = match sent {
                Ok(r) => r,
                Err(f) => {
                    let (kind, err) = match f {
                        Failure::Timeout => ("timeout", GatewayError::UpstreamTimeout),
                        Failure::Unsent(unsent) => {
                            let (p, b) = *unsent;
                            telemetry::upstream_outcome(&span, None, Some("connect"));
                            t.metrics.failed("connect");
                            t.outcome(false, trial);
                            if may_retry(&mut retries_left) {
                                parts = p;
                                body = Some(b);
                                continue;
                            }
                            return Err(GatewayError::UpstreamUnavailable);
                        }
                        Failure::Sent(e) => {
                            // The client's body broke its limits: its fault.
                            if crate::net::caused_by::<crate::net::BodyTooLarge>(&e) {
                                return Err(GatewayError::BodyTooLarge);
                            }
                            if crate::net::is_body_timeout(&e) {
                                return Err(GatewayError::BodyTimeout);
                            }
                            tracing::warn!(upstream = %self.name, target = %t.url, error = %e, "upstream request failed");
                            ("reset", GatewayError::UpstreamUnavailable)
                        }
                    };
                    telemetry::upstream_outcome(&span, None, Some(kind));
                    t.metrics.failed(kind);
                    t.outcome(false, trial);
                    if let Some(p) = spare {
                        if may_retry(&mut retries_left) {
                            parts = p;
                            continue;
                        }
                    }
                    return Err(err);
                }
            };
            let status = resp.0.status();
            let bad = retry::retryable_status(status);
            telemetry::upstream_outcome(&span, Some(status), None);
            t.outcome(!bad, trial);
            t.metrics.answered(started.elapsed());
            if bad {
                t.metrics.failed("status");
                if let Some(p) = spare {
                    if may_retry(&mut retries_left) {
                        parts = p;
                        continue;
                    }
                }
            }
            let (mut head, incoming) = resp.0.into_parts();
            forward::response_head(&mut head.headers, status == StatusCode::SWITCHING_PROTOCOLS);
            if status == StatusCode::SWITCHING_PROTOCOLS {
                let mut up = Response::from_parts(head, incoming);
                let upstream_upgrade = hyper::upgrade::on(&mut up);
                let (head, _) = up.into_parts();
                match client_upgrade {
                    Some(c) => upgrade::tunnel(c, upstream_upgrade, self.idle_timeout, t.url.clone()),
                    None => return Err(GatewayError::UpstreamUnavailable),
                }
                return Ok(Response::from_parts(head, Body::empty()));
            }
            let body = ResponseBody {
                inner: incoming,
                conn: resp.1.map(|s| (t.clone(), s)),
                _busy,
                idle: self.idle_timeout,
                sleep: None,
            };
            return Ok(Response::from_parts(head, Body::Upstream(body)));
        }
    }
}

enum Failure {
    Timeout,
    /// Not written to the target (it closed, and no new connection could
    /// be made): safe to send elsewhere.
    Unsent(Box<(Parts, RequestBody)>),
    Sent(hyper::Error),
}

type Sent = (Response<Incoming>, Option<http1::SendRequest<RequestBody>>);

async fn send(
    conn: Conn,
    req: Request<RequestBody>,
) -> Result<Sent, hyper::client::conn::TrySendError<Request<RequestBody>>> {
    match conn {
        // The connection goes back to the idle list once the response
        // body has been read.
        Conn::H1(mut s) => s.try_send_request(req).await.map(|r| (r, Some(s))),
        Conn::H2(mut s) => s.try_send_request(req).await.map(|r| (r, None)),
    }
}

/// The parts of a request head a retry needs again (extensions stay with
/// the first attempt: they describe the client's connection).
fn copy_head(p: &Parts) -> Parts {
    let mut r = Request::new(());
    *r.method_mut() = p.method.clone();
    *r.uri_mut() = p.uri.clone();
    *r.version_mut() = p.version;
    *r.headers_mut() = p.headers.clone();
    r.into_parts().0
}

/// Counts a request in flight on a target for as long as it lives.
pub struct InFlight(Arc<Target>);

impl InFlight {
    fn new(t: &Arc<Target>) -> Self {
        t.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(t.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An upstream's response body on its way to the client: streamed frame
/// by frame (trailers too), ended with an error after `idle` without a
/// frame, and its HTTP/1.1 connection handed back to this worker's idle
/// list when it ends.
pub struct ResponseBody {
    inner: Incoming,
    conn: Option<(Arc<Target>, http1::SendRequest<RequestBody>)>,
    _busy: InFlight,
    idle: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ResponseBody {
    /// The whole response was read: its connection may carry the next.
    fn release(&mut self) {
        if let Some((t, s)) = self.conn.take() {
            t.put_idle(s);
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // Bodiless answers (204, 304, HEAD, Content-Length: 0) are never polled.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

impl HttpBody for ResponseBody {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<bytes::Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(f)) => {
                this.sleep = None;
                // Servers stop polling once `is_end_stream` says so: the
                // connection goes back as soon as the last frame is out.
                if this.inner.is_end_stream() {
                    this.release();
                }
                Poll::Ready(Some(f.map_err(BoxError::from)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.conn = None;
                        Poll::Ready(Some(Err("the upstream paused too long in its response".into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Every pool of a gateway by name, so a reload can keep the unchanged ones.
#[derive(Default)]
pub struct Pools {
    by_name: HashMap<Arc<str>, Arc<Pool>>,
}

impl Pools {
    /// The pool for `spec`: the previous gateway's when its definition is
    /// the same (connections and health state kept), else a new one.
    pub fn get_or_build(
        &mut self,
        spec: &PoolSpec,
        previous: Option<&Pools>,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Arc<Pool>, String> {
        if let Some(p) = self.by_name.get(&spec.name) {
            return Ok(p.clone());
        }
        let kept = previous
            .and_then(|prev| prev.by_name.get(&spec.name))
            .filter(|p| p.spec == *spec)
            .cloned();
        let pool = match kept {
            Some(p) => p,
            None => Pool::new(spec, tls)?,
        };
        self.by_name.insert(spec.name.clone(), pool.clone());
        Ok(pool)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_name.values()
    }
}
