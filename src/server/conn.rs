//! The accept loop of one worker and what bounds each client: a connection
//! cap shared by every worker, a deadline for each request head (which also
//! closes idle keep-alive connections), a limit on header count and size
//! (431), and a longest pause between two pieces of a request body (408).
//! Like nginx's `worker_connections`, `client_header_timeout`,
//! `large_client_header_buffers` and `client_body_timeout`.

use crate::config::ServerSettings;
use crate::gateway::body::{Body as GatewayBody, RequestBody};
use crate::gateway::Live;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// State shared by every worker's accept loop.
pub struct Limits {
    settings: ServerSettings,
    slots: Arc<Semaphore>,
    /// Unix second of the last "connection limit reached" log line, so a
    /// flood is reported once a second rather than once per connection.
    last_full_log: AtomicU64,
}

impl Limits {
    pub fn new(settings: &ServerSettings) -> Arc<Self> {
        Arc::new(Limits {
            slots: Arc::new(Semaphore::new(settings.max_connections)),
            settings: settings.clone(),
            last_full_log: AtomicU64::new(0),
        })
    }

    fn refused(&self, peer: SocketAddr) {
        crate::ops::metrics::connection_refused();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_full_log.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(
                %peer,
                max_connections = self.settings.max_connections,
                "connection limit reached: closing new connections until some finish ([server] max_connections)"
            );
        }
    }
}

/// A request's whole future, boxed: hyper moves the future it is given
/// into its own slot, and the gateway's (every await point down to the
/// upstream call) is kilobytes — one allocation is cheaper than that copy.
type ServiceFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<GatewayBody>, std::convert::Infallible>> + Send + 'static>>;

/// The service every connection runs. Gateway traffic goes straight to
/// the gateway (no web framework in between, connection facts read from
/// one shared `ConnInfo`); the authorization server's, admin and
/// operations paths go through their axum router, with the peer and the
/// connection's facts as extensions and the body-pause watchdog.
fn service(
    router: Router,
    gateway: Live,
    peer: SocketAddr,
    secure: bool,
    hsts: Option<http::HeaderValue>,
    body_timeout: Duration,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<GatewayBody>,
    Error = std::convert::Infallible,
    Future = ServiceFuture,
> + Clone {
    let info = Arc::new(crate::net::ConnInfo::new(peer, secure));
    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        if !super::is_server_path(req.uri().path()) {
            let (gw, info) = (gateway.load_full(), info.clone());
            let req = req.map(|b| RequestBody::incoming(b, body_timeout));
            let hsts = hsts.clone();
            return Box::pin(async move { Ok(with_hsts(gw.serve(req, &info).await, hsts)) }) as ServiceFuture;
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(info.clone());
        req.extensions_mut().insert(crate::net::PeerIp(info.peer_ip.clone()));
        if secure {
            req.extensions_mut().insert(crate::net::Secure);
        }
        // Only requests that carry a body get the pause watchdog.
        let req = if req.body().is_end_stream() {
            req.map(Body::new)
        } else {
            req.map(|b| Body::new(ReadTimeout::new(b, body_timeout)))
        };
        let call = router.clone().oneshot(req);
        let hsts = hsts.clone();
        Box::pin(async move {
            let resp = match call.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(with_hsts(resp.map(GatewayBody::Other), hsts))
        })
    })
}

/// `[tls] hsts` on an answer over TLS, unless the upstream sent its own.
fn with_hsts<B>(mut r: http::Response<B>, hsts: Option<http::HeaderValue>) -> http::Response<B> {
    if let Some(v) = hsts {
        r.headers_mut()
            .entry(http::header::STRICT_TRANSPORT_SECURITY)
            .or_insert(v);
    }
    r
}

/// Serves `listener` until `stop` turns true, then lets in-flight requests
/// finish. With `tls`, every connection is TLS and speaks what ALPN chose
/// (h2 or HTTP/1.1); without, HTTP/1.1, or also h2c when enabled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    gateway: Live,
    limits: Arc<Limits>,
    tls: Option<Arc<super::tls::Tls>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let settings = &limits.settings;
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_headers(settings.max_headers)
        .max_header_size(settings.max_header_bytes);
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(settings.header_timeout));
    let mut auto = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    auto.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_headers(settings.max_headers);
    auto.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    let (h1, h2, auto) = (Arc::new(h1), Arc::new(h2), Arc::new(auto));
    let active = Arc::new(Active::default());
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning on accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // (the guard wait_for returns must not live across the loop)
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let Ok(permit) = limits.slots.clone().try_acquire_owned() else {
            limits.refused(peer);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let svc = service(
            router.clone(),
            gateway.clone(),
            peer,
            tls.is_some(),
            tls.as_ref().and_then(|t| t.hsts.clone()),
            settings.body_timeout,
        );
        let (stop, guard) = (stop.clone(), active.enter());
        match &tls {
            None if settings.h2c => {
                let auto = auto.clone();
                tokio::spawn(async move {
                    drive(auto.serve_connection_with_upgrades(TokioIo::new(tcp), svc), stop).await;
                    drop((permit, guard));
                });
            }
            None => {
                let conn = h1.serve_connection(TokioIo::new(tcp), svc).with_upgrades();
                tokio::spawn(async move {
                    drive(conn, stop).await;
                    drop((permit, guard));
                });
            }
            Some(tls) => {
                let acceptor = tls.acceptor();
                let (h1, h2) = (h1.clone(), h2.clone());
                let handshake_limit = settings.header_timeout;
                tokio::spawn(async move {
                    // A handshake gets the header timeout too (slow TLS
                    // clients hold a connection like slow HTTP ones).
                    let stream = match tokio::time::timeout(handshake_limit, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let is_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let io = TokioIo::new(stream);
                    if is_h2 {
                        drive(h2.serve_connection(io, svc), stop).await;
                    } else {
                        drive(h1.serve_connection(io, svc).with_upgrades(), stop).await;
                    }
                    drop((permit, guard));
                });
            }
        }
    }
    drop(listener);
    active.drained().await;
    Ok(())
}

/// Connections of one worker still open (shutdown waits for them).
#[derive(Default)]
struct Active {
    open: std::sync::atomic::AtomicUsize,
    closed: tokio::sync::Notify,
}

struct ActiveGuard(Arc<Active>);

impl Active {
    fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(self.clone())
    }

    async fn drained(&self) {
        loop {
            let notified = self.closed.notified();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// A served connection that can be asked to finish what it has and close.
trait Graceful: Future {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: 'static,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves a connection until it ends; on shutdown, lets its requests in
/// flight finish and closes it.
async fn drive<C: Graceful>(conn: C, mut stop: watch::Receiver<bool>) {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {}
    }
    conn.as_mut().close_gracefully();
    let _ = conn.await;
}

/// A plain-HTTP listener that only redirects to https on `https_port`
/// (308, so a POST stays a POST).
pub async fn serve_redirect(
    listener: tokio::net::TcpListener,
    https_port: u16,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(limits.settings.header_timeout)
        .max_headers(limits.settings.max_headers)
        .max_header_size(limits.settings.max_header_bytes);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((c, _)) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // (the guard wait_for returns must not live across the loop)
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let Ok(permit) = limits.slots.clone().try_acquire_owned() else {
            continue;
        };
        let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| async move {
            Ok::<_, std::convert::Infallible>(redirect_to_https(&req, https_port))
        });
        let conn = graceful.watch(h1.serve_connection(TokioIo::new(tcp), svc));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

fn redirect_to_https(req: &http::Request<Incoming>, port: u16) -> axum::response::Response {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let Some(host) = host else {
        return crate::error::json_error(
            http::StatusCode::BAD_REQUEST,
            "invalid_request",
            "a Host header is required",
        );
    };
    let port = if port == 443 { String::new() } else { format!(":{port}") };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = format!("https://{}{port}{pq}", host.host());
    let mut r = axum::response::Response::new(Body::empty());
    *r.status_mut() = http::StatusCode::PERMANENT_REDIRECT;
    match http::HeaderValue::from_str(&target) {
        Ok(v) => {
            r.headers_mut().insert(http::header::LOCATION, v);
            r
        }
        Err(_) => crate::error::json_error(
            http::StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request target is malformed",
        ),
    }
}

pub use crate::net::{is_body_timeout, BodyTimeout};

/// A body that fails with [`BodyTimeout`] when no frame arrives within
/// `pause` of the previous one (or of the start).
struct ReadTimeout<B> {
    inner: B,
    pause: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> ReadTimeout<B> {
    fn new(inner: B, pause: Duration) -> Self {
        ReadTimeout {
            inner,
            pause,
            sleep: Box::pin(tokio::time::sleep(pause)),
        }
    }
}

impl<B> HttpBody for ReadTimeout<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.pause;
                this.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
