//! Signing-key rotation in a running server: `rotate_keys` and `list_keys`
//! (what the admin API calls), and the task that follows the key directory
//! (rotations by the CLI or another instance, retiring keys whose
//! publication ends) and rotates on `[keys] rotate_every`.

use super::AuthServer;
use crate::config::Config;
use crate::keys::ring::WATCH_EVERY;
use crate::keys::rotation::{self, KeyInfo};
use crate::store::{DynStore, ListQuery};
use std::sync::Arc;
use std::time::Duration;

/// The longest lifetime of anything signed with the signing keys: access
/// tokens (the `[tokens]` default, and each configured or registered
/// client's own `access_ttl`) and ID tokens. Refresh tokens, codes and
/// sessions are not signed with them. A retired key stays published this
/// long (plus `rotation::GRACE`).
pub async fn max_signed_lifetime(cfg: &Config, store: &DynStore) -> Result<Duration, String> {
    let t = &cfg.tokens;
    let mut max = t.access_ttl.max(t.id_token_ttl);
    for c in &cfg.clients {
        if let Some(a) = c.access_ttl {
            max = max.max(a);
        }
    }
    let clients = store
        .list_clients(&ListQuery::ALL)
        .await
        .map_err(|e| format!("cannot list clients for their token lifetimes: {e}"))?;
    for c in clients {
        if let Some(s) = c.access_ttl {
            max = max.max(Duration::from_secs(s.max(0) as u64));
        }
    }
    Ok(max)
}

fn joined<T>(r: Result<Result<T, String>, tokio::task::JoinError>) -> Result<T, String> {
    r.map_err(|e| format!("key task failed: {e}"))?
}

impl AuthServer {
    /// Makes a new current signing key (and a new RS256 key when RS256 is
    /// kept beside the configured algorithm); the previous keys keep
    /// verifying and stay in the JWKS until their tokens have expired.
    /// This server signs with the new key as soon as this returns; other
    /// instances sharing the directory follow within `WATCH_EVERY`.
    /// Returns the new key of the configured algorithm.
    pub async fn rotate_keys(&self) -> Result<KeyInfo, String> {
        let lifetime = max_signed_lifetime(&self.cfg, &self.store).await?;
        let ring = self.keys.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                let info = rotation::rotate(ring.dir(), ring.alg(), lifetime)?;
                ring.reload()?;
                Ok(info)
            })
            .await,
        )
    }

    /// Every key in the key directory with its state (oldest first).
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, String> {
        let ring = self.keys.clone();
        joined(tokio::task::spawn_blocking(move || rotation::list(ring.dir(), ring.alg())).await)
    }

    /// Looks at the key directory every `WATCH_EVERY` until the server (or
    /// the runtime) ends: scheduled rotation and pruning first, then the
    /// keys in service follow the directory.
    pub fn spawn_key_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            // Errors are logged once each, not every tick.
            let mut last_error: Option<String> = None;
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(s) = weak.upgrade() else { return };
                match s.key_tick().await {
                    Ok(()) => last_error = None,
                    Err(e) => {
                        if last_error.as_deref() != Some(e.as_str()) {
                            tracing::error!(error = %e, "signing keys: the keys in service stay as they are");
                        }
                        last_error = Some(e);
                    }
                }
            }
        })
    }

    async fn key_tick(&self) -> Result<(), String> {
        if let Some(every) = self.cfg.keys_rotate_every {
            let ring = self.keys.clone();
            let (due, retired) = joined(
                tokio::task::spawn_blocking(move || {
                    let now = rotation::now();
                    Ok((
                        rotation::rotation_due(ring.dir(), ring.alg(), every, now)?,
                        rotation::has_retired(ring.dir(), ring.alg(), now)?,
                    ))
                })
                .await,
            )?;
            if due {
                let lifetime = max_signed_lifetime(&self.cfg, &self.store).await?;
                let ring = self.keys.clone();
                let rotated = joined(
                    tokio::task::spawn_blocking(move || {
                        rotation::rotate_if_due(ring.dir(), ring.alg(), every, lifetime)
                    })
                    .await,
                )?;
                if let Some(k) = rotated {
                    tracing::info!(kid = %k.kid, alg = %k.alg, "signing keys rotated on schedule");
                }
            } else if retired {
                let ring = self.keys.clone();
                joined(
                    tokio::task::spawn_blocking(move || {
                        crate::keys::with_dir_lock(ring.dir(), || {
                            rotation::prune_locked(ring.dir(), ring.alg(), rotation::now())
                        })
                    })
                    .await,
                )?;
            }
        }
        let ring = self.keys.clone();
        joined(tokio::task::spawn_blocking(move || ring.refresh()).await)?;
        Ok(())
    }
}
