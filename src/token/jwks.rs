//! Where verification keys come from: fixed at start (inline or file), or a
//! JWKS URL fetched on first use, refreshed when stale, and refetched at
//! once when a token names an unknown `kid` (a key rotated at the issuer).
//! Unknown-kid refetches draw from a token bucket (a burst of
//! `REFETCH_BURST`, then one per `min_refresh`), so garbage kids cannot make
//! us hammer the key server; concurrent requests share one fetch.

use crate::keys::PublicKeySet;
use crate::outbound::Fetcher;
use axum::body::Body;
use http_body_util::{BodyExt, Limited};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// JWKS documents larger than this are refused.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Unknown-kid refetches allowed back to back before the rate applies.
const REFETCH_BURST: f64 = 2.0;
/// Even without unknown kids, keys are refetched this often.
const MAX_AGE: Duration = Duration::from_secs(300);

pub enum KeyProvider {
    Static(Arc<PublicKeySet>),
    Remote(Arc<RemoteJwks>),
    /// The authorization server's own keys, as they are in service now
    /// (they change with a key rotation).
    Own(Arc<crate::keys::ring::KeyRing>),
}

impl KeyProvider {
    /// The current key set; for a remote set, fetched if never fetched or stale.
    pub async fn current(&self) -> Result<Arc<PublicKeySet>, ()> {
        match self {
            KeyProvider::Static(k) => Ok(k.clone()),
            KeyProvider::Remote(r) => r.current().await,
            KeyProvider::Own(r) => Ok(r.load().public.clone()),
        }
    }

    /// Called when a token names a kid that `seen` lacks: true when newer
    /// keys are available (fetched now, or by a concurrent request).
    pub async fn refresh_for_unknown_kid(&self, seen: &Arc<PublicKeySet>) -> bool {
        match self {
            KeyProvider::Static(_) => false,
            KeyProvider::Remote(r) => r.refresh_if_allowed(seen).await,
            KeyProvider::Own(r) => r.refresh_for_unknown_kid(seen).await,
        }
    }
}

pub struct RemoteJwks {
    uri: String,
    client: Fetcher,
    min_refresh: Duration,
    keys: RwLock<Option<Arc<PublicKeySet>>>,
    /// Unknown-kid refetch budget: (tokens, when last refilled).
    budget: Mutex<(f64, Instant)>,
    last_success: Mutex<Option<Instant>>,
    /// One fetch at a time; waiters reuse its result.
    fetching: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    /// `client`: the plain client for operator-configured URIs, the
    /// outbound guard's for client-registered ones.
    pub fn new(uri: String, client: impl Into<Fetcher>, min_refresh: Duration) -> Self {
        RemoteJwks {
            uri,
            client: client.into(),
            min_refresh,
            keys: RwLock::new(None),
            budget: Mutex::new((REFETCH_BURST, Instant::now())),
            last_success: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Arc<PublicKeySet>> {
        self.keys.read().ok().and_then(|k| k.clone())
    }

    fn fresh(&self) -> bool {
        matches!(self.last_success.lock().ok().and_then(|t| *t), Some(t) if t.elapsed() < MAX_AGE)
    }

    async fn current(&self) -> Result<Arc<PublicKeySet>, ()> {
        if let Some(k) = self.cached() {
            if self.fresh() {
                return Ok(k);
            }
        }
        let _guard = self.fetching.lock().await;
        if let (Some(k), true) = (self.cached(), self.fresh()) {
            return Ok(k);
        }
        match self.fetch().await {
            Ok(k) => Ok(k),
            // A stale set is better than none while the key server is down.
            Err(()) => self.cached().ok_or(()),
        }
    }

    async fn refresh_if_allowed(&self, seen: &Arc<PublicKeySet>) -> bool {
        let _guard = self.fetching.lock().await;
        // Someone fetched while we waited for the lock: use their result.
        if self.cached().is_some_and(|k| !Arc::ptr_eq(&k, seen)) {
            return true;
        }
        if !self.take_refetch_token() {
            return false;
        }
        self.fetch().await.is_ok()
    }

    fn take_refetch_token(&self) -> bool {
        let Ok(mut b) = self.budget.lock() else {
            return false;
        };
        let (tokens, at) = *b;
        let now = Instant::now();
        let rate = self.min_refresh.as_secs_f64().max(1e-3);
        let tokens = (tokens + now.duration_since(at).as_secs_f64() / rate).min(REFETCH_BURST);
        if tokens < 1.0 {
            *b = (tokens, now);
            return false;
        }
        *b = (tokens - 1.0, now);
        true
    }

    async fn fetch(&self) -> Result<Arc<PublicKeySet>, ()> {
        let set = match self.download().await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::warn!(uri = %self.uri, error = %e, "JWKS fetch failed");
                return Err(());
            }
        };
        tracing::info!(uri = %self.uri, keys = set.keys.len(), "JWKS fetched");
        if let Ok(mut k) = self.keys.write() {
            *k = Some(set.clone());
        }
        if let Ok(mut t) = self.last_success.lock() {
            *t = Some(Instant::now());
        }
        Ok(set)
    }

    async fn download(&self) -> Result<PublicKeySet, String> {
        let req = http::Request::get(&self.uri)
            .header(http::header::ACCEPT, "application/jwk-set+json, application/json")
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
        PublicKeySet::from_json(text)
    }
}
