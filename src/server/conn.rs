//! The accept loop of one worker and what bounds each client: a connection
//! cap shared by every worker, a deadline for each request head (which also
//! closes idle keep-alive connections), a limit on header count and size
//! (431), and a longest pause between two pieces of a request body (408).
//! Like nginx's `worker_connections`, `client_header_timeout`,
//! `large_client_header_buffers` and `client_body_timeout`.

use crate::config::ServerSettings;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
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

/// Serves `listener` until `stop` turns true, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.settings.header_timeout)
        .max_headers(limits.settings.max_headers)
        .max_header_size(limits.settings.max_header_bytes);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok(permit) = limits.slots.clone().try_acquire_owned() else {
            limits.refused(peer);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let body_timeout = limits.settings.body_timeout;
        let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // Only requests that carry a body get the pause watchdog.
            let req = if req.body().is_end_stream() {
                req.map(Body::new)
            } else {
                req.map(|b| Body::new(ReadTimeout::new(b, body_timeout)))
            };
            router.clone().oneshot(req)
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), svc));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The error a request body yields when the client pauses too long; the
/// endpoints answer it with 408.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client paused too long while sending the request body")
    }
}

impl std::error::Error for BodyTimeout {}

/// True when `err` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = Some(err);
    while let Some(x) = e {
        if x.is::<BodyTimeout>() {
            return true;
        }
        e = x.source();
    }
    false
}

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
