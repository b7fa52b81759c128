//! Hot reload: SIGHUP re-reads the config file. Routes and their policies
//! (the whole gateway) are rebuilt and swapped in at once; clients and
//! users are written to the store. Requests in flight finish on the
//! gateway they started with, and open connections stay open. A config
//! that does not load is refused with its file:line in the log, and the
//! running one keeps serving. Everything else (listen address, store,
//! [keys] settings, token settings, [server] limits) needs a restart; the
//! keys in the key directory are followed without one (`authz/keys.rs`).

use crate::authz::AuthServer;
use crate::config::Config;
use crate::gateway::{Gateway, Live};
use std::path::PathBuf;
use std::sync::Arc;

/// Reloads `path` into the running server; an error leaves it untouched.
pub async fn reload(path: &std::path::Path, gateway: &Live, authz: &Arc<AuthServer>) -> Result<usize, String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    let previous = gateway.load_full();
    let next =
        Gateway::build(&cfg, Some(&authz.tokens), Some(&previous)).map_err(|e| format!("{}: {e}", path.display()))?;
    authz.seed(&cfg.clients, &cfg.users).await?;
    let routes = next.route_count();
    gateway.store(Arc::new(next));
    Ok(routes)
}

/// Reloads on every SIGHUP until the runtime ends (no-op without a file:
/// the embedded demo has nothing to re-read).
pub fn spawn_on_hangup(path: Option<PathBuf>, gateway: Live, authz: Arc<AuthServer>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let Some(path) = &path else {
                tracing::warn!("SIGHUP: no config file to reload (embedded demo)");
                continue;
            };
            match reload(path, &gateway, &authz).await {
                Ok(routes) => {
                    crate::ops::metrics::config_reload(true);
                    tracing::info!(config = %path.display(), routes, "config reloaded");
                }
                Err(e) => {
                    crate::ops::metrics::config_reload(false);
                    tracing::error!(error = %e, "config not reloaded; the running config stays in use");
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (path, gateway, authz);
}
