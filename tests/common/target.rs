//! Upstream targets for pool tests: real HTTP servers on loopback, each on
//! a runtime of its own so a test can kill one outright (every socket
//! closed at once, as when a process dies).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct Counters {
    /// Requests of any kind but health checks.
    pub hits: AtomicU64,
    pub posts: AtomicU64,
    pub health_checks: AtomicU64,
    /// What `/healthz` answers: true 200, false 500.
    pub healthy: AtomicBool,
    /// `/healthz` never answers while set.
    pub health_hangs: AtomicBool,
    /// Every answer but /healthz is this status while set (0: 200).
    pub status: AtomicU64,
}

pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    rt: Option<tokio::runtime::Runtime>,
}

async fn whoami(State((name, c)): State<(String, Arc<Counters>)>, req: Request) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    if req.method() == axum::http::Method::POST {
        c.posts.fetch_add(1, Ordering::SeqCst);
        // Read the body, so a POST really reached us.
        let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
    }
    let status = c.status.load(Ordering::SeqCst);
    let mut r = Response::new(Body::from(name));
    if status != 0 {
        *r.status_mut() = StatusCode::from_u16(status as u16).unwrap();
    }
    r
}

async fn slow(State((name, c)): State<(String, Arc<Counters>)>) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    name.into_response()
}

async fn health(State((_, c)): State<(String, Arc<Counters>)>) -> Response {
    c.health_checks.fetch_add(1, Ordering::SeqCst);
    if c.health_hangs.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if c.healthy.load(Ordering::SeqCst) {
        "ok".into_response()
    } else {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

impl Target {
    /// A target answering its `name` on every path, `/healthz` for checks
    /// and `/slow` after 30 s.
    pub fn start(name: &str) -> Target {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let counters = Arc::new(Counters::default());
        counters.healthy.store(true, Ordering::SeqCst);
        let state = (name.to_string(), counters.clone());
        let app = Router::new()
            .route("/healthz", get(health))
            .route("/slow", any(slow))
            .fallback(whoami)
            .with_state(state);
        // Bound here (no runtime needed), served on the target's own runtime.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let _ = axum::serve(listener, app).await;
        });
        Target {
            name: name.to_string(),
            addr,
            counters,
            rt: Some(rt),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops at once: the listener and every connection close.
    pub fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    pub fn hits(&self) -> u64 {
        self.counters.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill();
    }
}
