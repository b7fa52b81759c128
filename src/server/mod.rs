//! Assembles the HTTP application and runs it.
//!
//! Like nginx workers (and Pingora's per-thread services), every worker
//! thread runs its own single-threaded runtime with its own listener on the
//! same port (SO_REUSEPORT) and its own upstream connection pools: a request
//! never hops threads. A separate control runtime runs start-up,
//! housekeeping and signal handling. Shutdown stops accepting and lets
//! in-flight requests finish.

pub mod conn;
pub mod reload;
pub mod tls;

use crate::authz::{endpoints, AuthServer};
use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::keys::ring::KeyRing;
use crate::keys::session::SessionKey;
use crate::keys::signer::SigningKeys;
use crate::ops;
use crate::store::{self, DynStore};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct App {
    pub gateway: gateway::Live,
    pub authz: Arc<AuthServer>,
    pub store: DynStore,
}

impl App {
    pub async fn build(cfg: Config) -> Result<App, String> {
        let cfg = Arc::new(cfg);
        let store = store::open(&cfg.store).await.map_err(|e| e.to_string())?;
        let (dir, alg) = (cfg.keys_dir.clone(), cfg.tokens.signing_alg);
        // RSA key generation on first start takes a moment: keep it off the
        // async workers.
        let (keys, session_key) = tokio::task::spawn_blocking(move || {
            crate::keys::with_dir_lock(&dir, || {
                Ok((
                    KeyRing::new(dir.clone(), alg, SigningKeys::load_or_create(&dir, alg)?),
                    SessionKey::load_or_create(&dir)?,
                ))
            })
        })
        .await
        .map_err(|e| e.to_string())??;
        let authz = Arc::new(AuthServer::new(
            cfg.clone(),
            store.clone(),
            Arc::new(keys),
            session_key,
        )?);
        authz.seed_from_config().await?;
        authz.follow_changes();
        let gateway = Arc::new(arc_swap::ArcSwap::from_pointee(Gateway::build(
            &cfg,
            Some(&authz.tokens),
            None,
        )?));
        Ok(App { gateway, authz, store })
    }

    pub fn router(&self) -> Router {
        let ops = Router::new()
            .route("/healthz", get(ops::health::healthz))
            .route("/readyz", get(readyz).with_state(self.store.clone()))
            .route("/metrics", get(ops::metrics::render));
        let gateway = Router::new().fallback(gateway::handle).with_state(self.gateway.clone());
        // The access log and server spans of these endpoints (the
        // gateway's own are in Gateway::serve).
        ops.merge(endpoints::router(self.authz.clone()))
            .merge(crate::admin::router(&self.authz))
            .layer(axum::middleware::from_fn(ops::observe::layer))
            .merge(gateway)
    }
}

/// Paths the authorization server, the admin console and the operations
/// endpoints answer (through their axum router); everything else is
/// gateway traffic and goes to the gateway directly. New endpoints must
/// live under one of these prefixes. A path here that no endpoint takes
/// still reaches the gateway through the router's fallback, so routing
/// is exactly what the merged router would do.
pub fn is_server_path(path: &str) -> bool {
    let p = path.as_bytes();
    p.starts_with(b"/api/oauth/")
        || p.starts_with(b"/api/openid/")
        || p.starts_with(b"/.well-known/")
        || p == b"/admin"
        || p.starts_with(b"/admin/")
        || matches!(p, b"/healthz" | b"/readyz" | b"/metrics")
}

/// Ready when the store answers.
async fn readyz(State(store): State<DynStore>) -> Response {
    match store.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "store unreachable"})),
            )
                .into_response()
        }
    }
}

/// A listening socket that other workers may bind too (SO_REUSEPORT).
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Runs gatehouse until `shutdown` resolves. Blocks the calling thread.
pub fn serve(mut cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-control")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let first = reuseport_listener(cfg.listen).map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = first.local_addr().map_err(|e| e.to_string())?;
    // An issuer derived from an ephemeral listen port is fixed once bound.
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    if cfg.listen.port() == 0 && cfg.issuer == format!("{scheme}://{}", cfg.listen) {
        cfg.issuer = format!("{scheme}://{addr}");
    }
    let tls = match &cfg.tls {
        Some(t) => Some(tls::Tls::new(t).map_err(|e| format!("[tls]: {e}"))?),
        None => None,
    };
    let redirect = match cfg.tls.as_ref().and_then(|t| t.redirect_listen) {
        Some(a) => Some(reuseport_listener(a).map_err(|e| format!("cannot listen on {a}: {e}"))?),
        None => None,
    };
    let workers = cfg.workers;
    let purge_every = cfg.store.purge_every;
    let source = cfg.source.clone();
    let server_settings = cfg.server.clone();
    let traffic_view = cfg.admin.is_some();
    let (app, purger) = control.block_on(async {
        ops::metrics::install();
        ops::metrics::watch_runtime();
        if traffic_view {
            ops::traffic::spawn();
        }
        ops::memory::spawn_trim();
        let app = App::build(cfg).await?;
        let purger = store::purge::spawn_purger(app.store.clone(), purge_every);
        Ok::<_, String>((app, purger))
    })?;
    let mut listeners = vec![first];
    for _ in 1..workers {
        listeners.push(reuseport_listener(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
    }
    let router = app.router();
    let limits = conn::Limits::new(&server_settings);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut threads = Vec::with_capacity(workers);
    for (i, l) in listeners.into_iter().enumerate() {
        let router = router.clone();
        let gateway = app.gateway.clone();
        let limits = limits.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        let t = std::thread::Builder::new()
            .name(format!("gatehouse-worker-{i}"))
            .spawn(move || -> Result<(), String> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    ops::metrics::watch_runtime();
                    ops::memory::spawn_trim();
                    let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
                    conn::serve(listener, router, gateway, limits, tls, stop).await
                })
            })
            .map_err(|e| e.to_string())?;
        threads.push(t);
    }
    {
        let _guard = control.enter();
        if let Some(t) = &tls {
            t.spawn_watcher();
        }
        app.authz.spawn_key_watcher();
        reload::spawn_on_hangup(source, app.gateway.clone(), app.authz.clone());
    }
    if let Some(l) = redirect {
        let (limits, stop) = (limits.clone(), stop_rx.clone());
        let local = l.local_addr().map_err(|e| e.to_string())?;
        control.spawn(async move {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => {
                    let _ = conn::serve_redirect(l, addr.port(), limits, stop).await;
                }
                Err(e) => tracing::error!(error = %e, "redirect listener failed"),
            }
        });
        tracing::info!(%local, "redirecting plain HTTP to https");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, workers, routes = app.gateway.load().route_count(), tls = tls.is_some(), "gatehouse listening");
    println!("gatehouse listening on {scheme}://{addr}");
    control.block_on(shutdown);
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err("a worker thread panicked".to_string()),
        }
    }
    purger.abort();
    tracing::info!("gatehouse stopped");
    result
}
