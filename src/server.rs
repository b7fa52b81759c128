//! Assembles the HTTP application and runs it with graceful shutdown.

use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::ops;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct App {
    pub gateway: Arc<Gateway>,
}

impl App {
    pub async fn build(cfg: &Config) -> Result<App, String> {
        let gateway = Arc::new(Gateway::build(cfg)?);
        Ok(App { gateway })
    }

    pub fn router(&self) -> Router {
        let ops = Router::new()
            .route("/healthz", get(ops::health::healthz))
            .route("/readyz", get(ops::health::healthz))
            .route("/metrics", get(ops::metrics::render));
        let gateway = Router::new().fallback(gateway::handle).with_state(self.gateway.clone());
        ops.merge(gateway)
    }
}

/// Binds, announces the address on stdout (tests read it), serves until
/// `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    ops::metrics::install();
    let app = App::build(&cfg).await?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, routes = app.gateway.route_count(), "gatehouse listening");
    println!("gatehouse listening on http://{addr}");
    let router = app.router();
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("gatehouse stopped");
    Ok(())
}
