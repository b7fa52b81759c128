//! Assembles the HTTP application and runs it with graceful shutdown.

use crate::authz::{endpoints, AuthServer};
use crate::config::Config;
use crate::gateway::{self, Gateway};
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
    pub gateway: Arc<Gateway>,
    pub authz: Arc<AuthServer>,
    pub store: DynStore,
}

impl App {
    pub async fn build(cfg: Config) -> Result<App, String> {
        let cfg = Arc::new(cfg);
        let store = store::open(&cfg.store.url).await.map_err(|e| e.to_string())?;
        let (dir, alg) = (cfg.keys_dir.clone(), cfg.tokens.signing_alg);
        // RSA key generation on first start takes a moment: keep it off the
        // async workers.
        let (keys, session_key) = tokio::task::spawn_blocking(move || {
            Ok::<_, String>((
                SigningKeys::load_or_create(&dir, alg)?,
                SessionKey::load_or_create(&dir)?,
            ))
        })
        .await
        .map_err(|e| e.to_string())??;
        let authz = Arc::new(AuthServer::new(cfg.clone(), store.clone(), Arc::new(keys), session_key));
        authz.seed_from_config().await?;
        let gateway = Arc::new(Gateway::build(&cfg, Some(&authz))?);
        Ok(App { gateway, authz, store })
    }

    pub fn router(&self) -> Router {
        let ops = Router::new()
            .route("/healthz", get(ops::health::healthz))
            .route("/readyz", get(readyz).with_state(self.store.clone()))
            .route("/metrics", get(ops::metrics::render));
        let gateway = Router::new().fallback(gateway::handle).with_state(self.gateway.clone());
        ops.merge(endpoints::router(self.authz.clone())).merge(gateway)
    }
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

/// Binds, announces the address on stdout (tests read it), serves until
/// `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(mut cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    ops::metrics::install();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // An issuer derived from an ephemeral listen port is fixed once bound.
    if cfg.listen.port() == 0 && cfg.issuer == format!("http://{}", cfg.listen) {
        cfg.issuer = format!("http://{addr}");
    }
    let purge_every = cfg.store.purge_every;
    let app = App::build(cfg).await?;
    let purger = store::purge::spawn_purger(app.store.clone(), purge_every);
    tracing::info!(%addr, routes = app.gateway.route_count(), "gatehouse listening");
    println!("gatehouse listening on http://{addr}");
    let router = app.router();
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| e.to_string());
    purger.abort();
    served?;
    tracing::info!("gatehouse stopped");
    Ok(())
}
