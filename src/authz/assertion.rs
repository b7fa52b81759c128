//! RFC 7523 JWT assertions, read the same way by the JWT bearer grant and
//! by `private_key_jwt` client authentication: the issuer (or subject) is
//! read unverified only to choose the keys; then the signature, with the
//! algorithm the key fixes (never `none`, never HMAC with a public key),
//! `iss`, `aud` (the token endpoint URL or the issuer), `exp` and `nbf`
//! with a small leeway.

use crate::token::jwks::KeyProvider;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY: u64 = 30;

pub enum Failure {
    /// Not a compact JWS at all.
    Malformed,
    /// Bad signature, wrong claims, expired, not for us.
    Invalid,
    /// The keys could not be fetched.
    Unavailable,
}

/// A string claim of the payload, before any check (to pick keys only).
pub fn unverified_claim(assertion: &str, name: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&json).ok()?;
    v.get(name)?.as_str().map(str::to_owned)
}

/// The verified claims of `assertion` from `iss` (and, when given, about
/// `sub`), addressed to one of `audiences`, signed with one of `keys`
/// (refetched once for an unknown `kid`). `exp`, `iss`, `aud` and `sub`
/// are required.
pub async fn verify(
    keys: &KeyProvider,
    assertion: &str,
    iss: &str,
    sub: Option<&str>,
    audiences: &[&str],
) -> Result<Value, Failure> {
    verify_claims(keys, assertion, iss, sub, audiences, &["exp", "iss", "aud", "sub"]).await
}

/// [`verify`] with another set of required claims (a request object has
/// no `sub`).
pub async fn verify_claims(
    keys: &KeyProvider,
    assertion: &str,
    iss: &str,
    sub: Option<&str>,
    audiences: &[&str],
    required: &[&str],
) -> Result<Value, Failure> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Failure::Malformed)?;
    let mut set = keys.current().await.map_err(|()| Failure::Unavailable)?;
    if let Some(kid) = header.kid.as_deref() {
        if !set.has_kid(kid) && keys.refresh_for_unknown_kid(&set).await {
            set = keys.current().await.map_err(|()| Failure::Unavailable)?;
        }
    }
    let mut rules = jsonwebtoken::Validation::new(header.alg);
    rules.leeway = LEEWAY;
    rules.validate_nbf = true;
    rules.set_issuer(&[iss]);
    rules.sub = sub.map(str::to_owned);
    rules.set_audience(audiences);
    rules.set_required_spec_claims(required);
    // The key fixes the algorithm: a header naming another one (HS256 with
    // an RSA key, `none`) matches no candidate.
    let claims = set
        .candidates(header.kid.as_deref(), header.alg)
        .filter(|k| k.alg == header.alg)
        .find_map(|k| jsonwebtoken::decode::<Value>(assertion, &k.key, &rules).ok())
        .map(|d| d.claims)
        .ok_or(Failure::Invalid)?;
    // jsonwebtoken skips an `nbf` it cannot read as a u64 (a string, a
    // number beyond u64): such an assertion is refused, not taken as valid.
    if let Some(nbf) = claims.get("nbf") {
        let now = crate::store::now().saturating_add(LEEWAY as i64) as f64;
        if !nbf.as_f64().is_some_and(|n| n <= now) {
            return Err(Failure::Invalid);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PublicJwk, PublicKeySet};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
    use serde_json::json;
    use std::sync::Arc;

    /// Found by fuzz/fuzz_targets/client_assertion.rs: an `nbf` beyond u64
    /// was skipped, so an assertion was accepted before it was valid.
    #[tokio::test]
    async fn unreadable_or_future_nbf_is_refused() {
        let secret = b"a-client-secret-of-32-bytes-or-more";
        let keys = KeyProvider::Static(Arc::new(PublicKeySet {
            keys: vec![PublicJwk {
                kid: None,
                alg: Algorithm::HS256,
                key: DecodingKey::from_secret(secret).unwrap(),
                json: Value::Null,
            }],
        }));
        let now = crate::store::now();
        let token = |nbf: Value| {
            let c = json!({"iss": "c", "sub": "c", "aud": "https://as/token", "exp": now + 60, "nbf": nbf});
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &c,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        let check = |t: String| {
            let keys = &keys;
            async move { verify(keys, &t, "c", Some("c"), &["https://as/token"]).await.is_ok() }
        };
        assert!(check(token(json!(now))).await);
        assert!(check(token(json!(now as f64 + 0.5))).await);
        assert!(!check(token(json!(now + 600))).await);
        assert!(!check(token(json!(4.1e94))).await);
        assert!(!check(token(json!("0"))).await);
    }
}
