//! Client authentication at the token, revocation and introspection
//! endpoints: `client_secret_basic`, `client_secret_post`, or `none` for
//! public clients (RFC 6749 §2.3).

use super::form::Form;
use super::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

fn bad(description: &'static str) -> OAuthError {
    OAuthError::InvalidClient { description }
}

/// Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| bad("malformed Authorization header"))?;
    let Some((scheme, b64)) = v.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = STANDARD
        .decode(b64.trim())
        .map_err(|_| bad("malformed Basic credentials"))?;
    let raw = String::from_utf8(raw).map_err(|_| bad("malformed Basic credentials"))?;
    let (id, secret) = raw.split_once(':').ok_or_else(|| bad("malformed Basic credentials"))?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .next()
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

impl AuthServer {
    pub async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        if let Some(c) = self.clients.get(id) {
            return Ok(Some(c));
        }
        match self.store.get_client(id).await? {
            Some(c) => {
                let c = Arc::new(c);
                self.clients.insert(id.to_string(), c.clone());
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    /// Which client is calling, proven by the method it registered for.
    pub async fn authenticate_client(&self, headers: &HeaderMap, form: &Form) -> Result<Arc<Client>, OAuthError> {
        let basic = basic_credentials(headers)?;
        let (id, secret) = match (basic, form.get("client_id"), form.get("client_secret")) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::InvalidRequest(
                    "use one client authentication method, not two".into(),
                ))
            }
            (Some((id, _)), Some(form_id), None) if id != form_id => {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the authenticated client".into(),
                ))
            }
            (Some((id, secret)), _, None) => (id, Some(secret)),
            (None, Some(id), secret) => (id.to_string(), secret.map(str::to_owned)),
            (None, None, _) => return Err(bad("client authentication is required")),
        };
        let client = self
            .client(&id)
            .await?
            .ok_or_else(|| bad("unknown client or bad credentials"))?;
        match (&client.secret_hash, secret) {
            (None, None) => Ok(client),
            (None, Some(_)) => Err(bad("a public client has no secret")),
            (Some(_), None) => Err(bad("client authentication is required")),
            (Some(hash), Some(secret)) => {
                if self.secret_ok(&client.id, hash, &secret).await {
                    Ok(client)
                } else {
                    Err(bad("unknown client or bad credentials"))
                }
            }
        }
    }

    /// Verifies a secret; argon2-hashed (hand-chosen) secrets are slow to
    /// check, so a success is remembered (keyed by a digest of what was
    /// presented, never the secret itself) for the cache lifetime.
    async fn secret_ok(&self, client_id: &str, stored: &str, presented: &str) -> bool {
        let mut h = Sha256::new();
        h.update(client_id.as_bytes());
        h.update([0]);
        h.update(stored.as_bytes());
        h.update([0]);
        h.update(presented.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if self.verified_secrets.contains_key(&key) {
            return true;
        }
        let ok = if secrets::is_fast_hash(stored) {
            secrets::verify_client_secret(stored, presented)
        } else {
            // argon2 takes tens of milliseconds: off the worker thread, so a
            // flood of wrong secrets cannot stall other requests.
            let (stored, presented) = (stored.to_string(), presented.to_string());
            tokio::task::spawn_blocking(move || secrets::verify_client_secret(&stored, &presented))
                .await
                .unwrap_or(false)
        };
        if ok {
            self.verified_secrets.insert(key, ());
        }
        ok
    }
}
