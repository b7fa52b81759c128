//! Client authentication at the token, revocation and introspection
//! endpoints: `client_secret_basic`, `client_secret_post`, or `none` for
//! public clients (RFC 6749 §2.3); `private_key_jwt` and `client_secret_jwt`
//! (RFC 7523 §2.2, OIDC Core §9) by a signed client assertion.

use super::form::Form;
use super::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::Client;
use crate::token::jwks::KeyProvider;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

pub const METHODS: [&str; 5] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
];

/// Algorithms of client assertions (discovery's
/// `token_endpoint_auth_signing_alg_values_supported`): HS256 for
/// `client_secret_jwt`, the asymmetric ones a registered JWK may carry for
/// `private_key_jwt`.
pub const ASSERTION_ALGS: [&str; 10] = [
    "HS256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// RFC 7523 §2.2 `client_assertion_type`.
pub const JWT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A client assertion may live at most this long (`exp` - now).
const MAX_ASSERTION_LIFETIME: i64 = 3600;

fn bad(description: &'static str) -> OAuthError {
    OAuthError::InvalidClient { description }
}

/// Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
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
    // Each part is one form-urlencoded value: a raw '&' in it is data, not
    // the start of another pair ('=' after the first already is).
    let decode = |s: &str| -> String {
        // Nothing to decode (the usual case): no second copy.
        if !s.contains(['%', '+']) {
            return s.to_string();
        }
        form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
            .map(|(_, v)| v.into_owned())
            .next()
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// What a request presents to authenticate its client.
enum Presented<'a> {
    /// RFC 7523 `client_assertion`.
    Assertion(&'a str),
    /// A secret (Basic or form), or none: a public client.
    Secret(Option<String>),
}

/// The client id a request claims and what it presents to prove it.
fn presented<'a>(
    headers: &HeaderMap,
    form: &'a Form,
    max_assertion_bytes: usize,
) -> Result<(String, Presented<'a>), OAuthError> {
    let basic = basic_credentials(headers)?;
    if let Some(kind) = form.get("client_assertion_type") {
        if basic.is_some() || form.get("client_secret").is_some() {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        if kind != JWT_ASSERTION_TYPE {
            return Err(bad("unsupported client_assertion_type"));
        }
        let assertion = form.require("client_assertion")?;
        if assertion.len() > max_assertion_bytes {
            return Err(bad("the client assertion is too large"));
        }
        let id = super::assertion::unverified_claim(assertion, "sub")
            .ok_or_else(|| bad("the client assertion is not a JWT with a sub"))?;
        if form.get("client_id").is_some_and(|f| f != id) {
            return Err(bad("client_id differs from the client assertion"));
        }
        return Ok((id, Presented::Assertion(assertion)));
    }
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method, not two".into(),
        )),
        (Some((id, _)), Some(form_id), None) if id != form_id => Err(OAuthError::InvalidRequest(
            "client_id differs from the authenticated client".into(),
        )),
        (Some((id, secret)), _, None) => Ok((id, Presented::Secret(Some(secret)))),
        (None, Some(id), secret) => Ok((id.to_string(), Presented::Secret(secret.map(str::to_owned)))),
        (None, None, _) => Err(bad("client authentication is required")),
    }
}

impl AuthServer {
    pub async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, OAuthError> {
        if let Some(c) = self.clients.get(id) {
            return Ok(Some(c));
        }
        // Requests that miss together (the entry expired under load) wait
        // for one store read.
        let key = id.to_string();
        self.client_loads
            .load(&key, || async {
                let c = self.store.get_client(id).await?.map(Arc::new);
                if let Some(c) = &c {
                    self.clients.insert(key.clone(), c.clone());
                }
                Ok(c)
            })
            .await
    }

    /// Which client is calling, proven by the method it registered for.
    /// A secret or assertion is throttled per client and address, per
    /// client and per address (`[throttle.client_secrets]`, counted in the
    /// store so every instance sees the same failures): once locked, even
    /// the right secret is refused with 429 until the window passes, so a
    /// guess that happens to be right is never confirmed.
    pub async fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &Form,
        ip: IpAddr,
    ) -> Result<Arc<Client>, OAuthError> {
        let (id, presented) = presented(headers, form, self.cfg.gateway.max_token_bytes)?;
        let guarded = !matches!(presented, Presented::Secret(None));
        if guarded {
            if let Some(retry_after) = self.client_throttle.check(&id, ip).await? {
                return Err(OAuthError::ClientThrottled { retry_after });
            }
        }
        let r = match presented {
            Presented::Assertion(a) => self.client_from_assertion(&id, a).await,
            Presented::Secret(secret) => self.client_from_secret(&id, secret).await,
        };
        match &r {
            Err(OAuthError::InvalidClient { .. }) if guarded => self.client_throttle.failure(&id, ip).await?,
            Ok(_) if guarded => self.client_throttle.success(&id, ip).await?,
            _ => {}
        }
        r
    }

    /// `client_secret_basic`, `client_secret_post` or `none`. Whenever a
    /// secret is presented and is not this client's, the answer costs one
    /// argon2 verification and reads the same, whether the client is
    /// unknown, has a generated (fast) secret, a hand-chosen one or none at
    /// all: neither the time nor the words tell which ids exist.
    async fn client_from_secret(&self, id: &str, secret: Option<String>) -> Result<Arc<Client>, OAuthError> {
        let refused = |secret: Option<String>| async move {
            if let Some(s) = secret {
                secrets::verify_password_queued(secrets::dummy_hash().to_string(), s).await;
            }
            Err(bad("unknown client or bad credentials"))
        };
        let Some(client) = self.client(id).await? else {
            return match secret {
                Some(_) => refused(secret).await,
                None => Err(bad("client authentication is required")),
            };
        };
        let assertion_only = client.meta.token_endpoint_auth_method.as_deref() == Some("client_secret_jwt")
            || (client.secret_hash.is_none() && !client.is_public());
        match (&client.secret_hash, secret) {
            // The point of client_secret_jwt is that the secret never travels;
            // a private_key_jwt client must send its assertion.
            (_, None) if assertion_only => Err(bad("this client authenticates with a client assertion")),
            (_, Some(s)) if assertion_only => refused(Some(s)).await,
            (None, None) => Ok(client),
            (None, Some(s)) => refused(Some(s)).await,
            (Some(_), None) => Err(bad("client authentication is required")),
            (Some(hash), Some(secret)) => {
                if self.secret_ok(&client.id, hash, &secret).await {
                    Ok(client)
                } else if secrets::is_fast_hash(hash) {
                    refused(Some(secret)).await
                } else {
                    Err(bad("unknown client or bad credentials"))
                }
            }
        }
    }

    /// RFC 7523 §2.2/§3 client assertions: for `private_key_jwt` a JWT the
    /// client signed with a key it registered (`jwks` or `jwks_uri`), for
    /// `client_secret_jwt` one MACed (HS256) with its secret; `iss` = `sub`
    /// = its id, `aud` naming the token endpoint or the issuer, `exp` soon,
    /// `jti` used once (in the store, so on every instance).
    async fn client_from_assertion(&self, id: &str, assertion: &str) -> Result<Arc<Client>, OAuthError> {
        use super::assertion;
        let client = self
            .client(id)
            .await?
            .ok_or_else(|| bad("unknown client or bad credentials"))?;
        let keys = match client.meta.token_endpoint_auth_method.as_deref() {
            Some("private_key_jwt") => self
                .client_keys(&client)?
                .ok_or_else(|| bad("the client has no registered keys"))?,
            Some("client_secret_jwt") => self.client_secret_key(&client, assertion)?,
            _ => {
                return Err(bad(
                    "the client is not registered for private_key_jwt or client_secret_jwt",
                ))
            }
        };
        let token_url = self.token_endpoint();
        let claims = assertion::verify(&keys, assertion, id, Some(id), &[&token_url, &self.cfg.issuer])
            .await
            .map_err(|f| match f {
                assertion::Failure::Unavailable => OAuthError::TemporarilyUnavailable,
                assertion::Failure::Malformed => bad("the client assertion is malformed"),
                assertion::Failure::Invalid => {
                    bad("the client assertion is not validly signed, expired or not for this server")
                }
            })?;
        let now = crate::store::now();
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if exp > now + MAX_ASSERTION_LIFETIME {
            return Err(bad("the client assertion expires too far in the future"));
        }
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| bad("the client assertion has no jti"))?;
        let once = format!("client-assertion:{id}:{jti}");
        if !self.store.use_once(&once, exp + assertion::LEEWAY as i64, now).await? {
            return Err(bad("the client assertion was already used"));
        }
        Ok(client)
    }

    /// `client_secret_jwt`: the client's secret (opened from its sealed
    /// copy) as the only key, HS256 only, under the `kid` the assertion
    /// names if any (there is just one secret to try).
    fn client_secret_key(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<crate::token::jwks::KeyProvider, OAuthError> {
        use crate::keys::{PublicJwk, PublicKeySet};
        let sealed = client.meta.client_secret_sealed.as_deref().ok_or_else(|| {
            tracing::warn!(client = %client.id, "client_secret_jwt client has no sealed secret; register it again");
            bad("the client has no usable secret for client_secret_jwt")
        })?;
        let secret = self.secret_box.open(&client.id, sealed).ok_or_else(|| {
            tracing::error!(client = %client.id, "cannot open the sealed client secret (another [keys].dir key?)");
            bad("the client has no usable secret for client_secret_jwt")
        })?;
        let kid = jsonwebtoken::decode_header(assertion)
            .map_err(|_| bad("the client assertion is malformed"))?
            .kid;
        // An empty secret is refused by jsonwebtoken (and never issued here).
        let key = jsonwebtoken::DecodingKey::from_secret(&secret)
            .map_err(|_| bad("the client has no usable secret for client_secret_jwt"))?;
        let key = PublicJwk {
            kid,
            alg: jsonwebtoken::Algorithm::HS256,
            key,
            json: serde_json::Value::Null,
        };
        Ok(crate::token::jwks::KeyProvider::Static(Arc::new(PublicKeySet {
            keys: vec![key],
        })))
    }

    /// The client's registered public keys (`jwks`, else `jwks_uri`), for
    /// its assertions and request objects; None: it registered none.
    pub fn client_keys(&self, client: &Client) -> Result<Option<KeyProvider>, OAuthError> {
        Ok(Some(match (&client.meta.jwks, &client.meta.jwks_uri) {
            (Some(set), _) => KeyProvider::Static(Arc::new(
                crate::keys::PublicKeySet::from_value(set)
                    .map_err(|_| bad("the client's registered jwks is unusable"))?,
            )),
            (None, Some(uri)) => KeyProvider::Remote(self.client_jwks(uri)?),
            (None, None) => return Ok(None),
        }))
    }

    /// The fetcher of a client's `jwks_uri`, shared by its requests. The
    /// URI is checked by the outbound guard again (the policy may have
    /// changed since it was registered), fetched in its normalised form,
    /// and every address it resolves to is checked at connect time.
    fn client_jwks(&self, uri: &str) -> Result<Arc<crate::token::jwks::RemoteJwks>, OAuthError> {
        if let Some(r) = self.client_jwks.get(uri) {
            return Ok(r);
        }
        let parsed = self.outbound.policy().check_url(uri).map_err(|e| {
            tracing::warn!(uri, reason = %e, "a client's jwks_uri is refused by the outbound guard");
            bad("the client's jwks_uri is not allowed")
        })?;
        let r = Arc::new(crate::token::jwks::RemoteJwks::new(
            parsed.to_string(),
            self.outbound.client(),
            std::time::Duration::from_secs(10),
        ));
        self.client_jwks.insert(uri.to_string(), r.clone());
        Ok(r)
    }

    /// Remembers a hand-chosen secret as verified against `stored`: the
    /// config's clear secrets are hashed at start, so their first request
    /// need not verify what was just hashed (it would stall a cold start:
    /// every connection waits for that one argon2).
    pub(super) async fn remember_secret(&self, client_id: &str, stored: &str, secret: &str) {
        if !secrets::is_fast_hash(stored) {
            self.verified_secrets
                .insert(verified_secret_key(client_id, secret), Arc::from(stored))
                .await;
        }
    }

    /// Verifies a secret. Generated secrets (one SHA-256) are checked every
    /// time. Argon2-hashed (hand-chosen) ones take tens of milliseconds, so
    /// a success is remembered: under a digest of the client and what was
    /// presented (never the secret itself), the stored hash it verified
    /// against, so a changed secret (another stored hash) misses. Entries
    /// leave only when unused for an hour (or for room), never on a timer,
    /// so a busy client never sees its entry expire under load; requests
    /// that miss together (a cold start with 64 connections) wait for one
    /// verification instead of each starting their own. Wrong secrets
    /// presented together share one verification too, and are not kept.
    async fn secret_ok(&self, client_id: &str, stored: &str, presented: &str) -> bool {
        if secrets::is_fast_hash(stored) {
            return secrets::verify_fast_secret(stored, presented);
        }
        let key = verified_secret_key(client_id, presented);
        match self.verified_secrets.get(&key).await {
            Some(v) if *v == *stored => return true,
            Some(_) => self.verified_secrets.invalidate(&key).await,
            None => {}
        }
        self.verified_secrets
            .try_get_with(key, async {
                if secrets::verify_password_queued(stored.to_string(), presented.to_string()).await {
                    Ok(Arc::<str>::from(stored))
                } else {
                    Err(())
                }
            })
            .await
            .is_ok_and(|v| *v == *stored)
    }
}

/// Where a verified secret is remembered: a digest of the client and the
/// secret presented, so the secret itself is never kept.
fn verified_secret_key(client_id: &str, presented: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(presented.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::basic_credentials;
    use http::header::AUTHORIZATION;
    use http::{HeaderMap, HeaderValue};

    fn basic(raw: &str) -> HeaderMap {
        use base64::Engine;
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
        h.insert(AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    fn creds(raw: &str) -> (String, String) {
        basic_credentials(&basic(raw)).unwrap().unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(creds("printer:s3cret"), ("printer".into(), "s3cret".into()));
        assert_eq!(creds("a%3Ab:c%3Ad:e"), ("a:b".into(), "c:d:e".into()));
        assert_eq!(creds("caf%C3%A9+x:s%20p"), ("café x".into(), "s p".into()));
        assert!(basic_credentials(&basic("nocolon")).is_err());
    }

    /// Found by fuzz/fuzz_targets/basic_auth.rs: each part was decoded as a
    /// whole form, so a raw '&' cut it short (`id&x:secret` authenticated
    /// as client `id`).
    #[test]
    fn basic_credentials_decode_the_whole_value() {
        assert_eq!(creds("id&x=1:sec&ret"), ("id&x=1".into(), "sec&ret".into()));
        assert_eq!(creds("a=b:=c"), ("a=b".into(), "=c".into()));
    }
}
