//! Tokens of another authorization server, checked by RFC 7662
//! introspection (`auth = { kind = "introspection" }`).
//!
//! An answer is cached for `cache` and never past the token's `exp`, an
//! inactive one for `cache` too (so a flood of made-up tokens costs the
//! other server one call each per period, not one per request). Concurrent
//! misses for one token wait on one call. The other server down, slow
//! (`timeout`) or answering something that is not an RFC 7662 answer:
//! `AuthError::Unavailable` (503) for a token not cached, and nothing is
//! cached; a cached verdict stands until it expires. The client
//! authenticates with `client_secret_basic` or `private_key_jwt` (RFC 7523:
//! a fresh assertion per call, `aud` the other server's issuer).

use super::jwt::{now_secs, verified, Verified};
use crate::error::{AuthError, InvalidToken};
use crate::net::HttpClient;
use axum::body::Body;
use base64::Engine as _;
use http::HeaderName;
use http_body_util::{BodyExt, Limited};
use moka::sync::Cache;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Larger answers are refused (an RFC 7662 answer is a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How the gateway proves itself to the other server.
pub enum ClientAuth {
    Secret {
        id: String,
        secret: String,
    },
    PrivateKeyJwt {
        id: String,
        key: jsonwebtoken::EncodingKey,
        alg: jsonwebtoken::Algorithm,
        /// The assertion's `aud`: the other server's issuer.
        audience: String,
    },
}

#[derive(Clone)]
enum Answer {
    Active(Arc<Verified>),
    Inactive,
}

/// Active answers live until `min(cache, exp)`, inactive ones `cache`.
struct Lifetime(Duration);
impl moka::Expiry<Arc<str>, Answer> for Lifetime {
    fn expire_after_create(&self, _k: &Arc<str>, v: &Answer, _at: Instant) -> Option<Duration> {
        Some(match v {
            Answer::Active(v) => self.0.min(Duration::from_secs(v.exp.saturating_sub(now_secs()))),
            Answer::Inactive => self.0,
        })
    }
}

pub struct Introspector {
    url: String,
    client: HttpClient,
    auth: ClientAuth,
    timeout: Duration,
    max_token_bytes: usize,
    forward: Vec<(String, HeaderName)>,
    answers: Cache<Arc<str>, Answer>,
    /// One call per token at a time: the misses behind the first wait for
    /// its answer.
    calls: moka::future::Cache<Arc<str>, Answer>,
}

pub struct IntrospectorSettings {
    pub url: String,
    pub auth: ClientAuth,
    pub cache: Duration,
    pub timeout: Duration,
    pub cache_entries: u64,
    pub max_token_bytes: usize,
    pub forward: Vec<(String, HeaderName)>,
}

impl Introspector {
    pub fn new(s: IntrospectorSettings, client: HttpClient) -> Introspector {
        Introspector {
            url: s.url,
            client,
            auth: s.auth,
            timeout: s.timeout,
            max_token_bytes: s.max_token_bytes,
            forward: s.forward,
            answers: Cache::builder()
                .max_capacity(s.cache_entries)
                .expire_after(Lifetime(s.cache))
                .build(),
            // An entry lasts while its call does (removed when it ends).
            calls: moka::future::Cache::builder().max_capacity(s.cache_entries).build(),
        }
    }

    pub fn forwarded(&self) -> &[(String, HeaderName)] {
        &self.forward
    }

    fn verdict(answer: Answer) -> Result<Arc<Verified>, AuthError> {
        match answer {
            Answer::Active(v) if v.exp > now_secs() => Ok(v),
            Answer::Active(_) => Err(AuthError::Invalid(InvalidToken::Expired)),
            Answer::Inactive => Err(AuthError::Invalid(InvalidToken::Revoked)),
        }
    }

    /// The verdict if it is cached.
    pub fn cached(&self, token: &str) -> Option<Result<Arc<Verified>, AuthError>> {
        if token.len() > self.max_token_bytes {
            return Some(Err(AuthError::Invalid(InvalidToken::TooLarge)));
        }
        self.answers.get(token).map(Self::verdict)
    }

    /// Cached, or asked (once, whoever else is waiting for the same token).
    pub async fn check(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        if let Some(v) = self.cached(token) {
            return v;
        }
        let key: Arc<str> = token.into();
        let answer = self
            .calls
            .try_get_with(key.clone(), async {
                let a = self.ask(token).await?;
                self.answers.insert(key.clone(), a.clone());
                Ok::<_, AuthError>(a)
            })
            .await
            // `ask` fails only as Unavailable.
            .map_err(|_: Arc<AuthError>| AuthError::Unavailable);
        // The answer lives on in `answers` (for as long as it may); the
        // call's entry only joined the waiters.
        self.calls.invalidate(&key).await;
        Self::verdict(answer?)
    }

    /// The RFC 7662 request for `token`, with the client's credentials.
    fn request(&self, token: &str) -> Result<http::Request<Body>, AuthError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token);
        form.append_pair("token_type_hint", "access_token");
        let mut req = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json");
        match &self.auth {
            ClientAuth::Secret { id, secret } => {
                // RFC 6749 §2.3.1: each part form-encoded, then base64.
                let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
                req = req.header(http::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            ClientAuth::PrivateKeyJwt { id, key, alg, audience } => {
                let now = now_secs();
                let claims = serde_json::json!({
                    "iss": id, "sub": id, "aud": audience, "iat": now, "exp": now + 60, "jti": jti(),
                });
                let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::new(*alg), &claims, key).map_err(|e| {
                    tracing::warn!(error = %e, "introspection: could not sign the client assertion");
                    AuthError::Unavailable
                })?;
                form.append_pair("client_id", id);
                form.append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                );
                form.append_pair("client_assertion", &jwt);
            }
        }
        req.body(Body::from(form.finish())).map_err(|_| AuthError::Unavailable)
    }

    async fn ask(&self, token: &str) -> Result<Answer, AuthError> {
        let req = self.request(token)?;
        let unavailable = |why: String| {
            tracing::warn!(url = %self.url, error = %why, "introspection failed; answering 503");
            AuthError::Unavailable
        };
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| unavailable(format!("no answer in {:?}", self.timeout)))?
            .map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("status {}", resp.status())));
        }
        let body = tokio::time::timeout(self.timeout, Limited::new(resp.into_body(), MAX_ANSWER_BYTES).collect())
            .await
            .map_err(|_| unavailable("the answer's body did not arrive in time".into()))?
            .map_err(|e| unavailable(e.to_string()))?
            .to_bytes();
        parse(&body, &self.forward).map_err(unavailable)
    }
}

/// Whether `body` is an RFC 7662 answer, and an active one (fuzzing).
pub fn read_answer(body: &[u8]) -> Result<bool, String> {
    parse(body, &[]).map(|a| matches!(a, Answer::Active(_)))
}

/// A fresh assertion id: 128 random bits, hex.
fn jti() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An RFC 7662 answer: `active` must be a boolean; an active answer's
/// members are the token's claims (`exp`, `scope`, `client_id`, `sub`, …).
fn parse(body: &[u8], forward: &[(String, HeaderName)]) -> Result<Answer, String> {
    let v: Map<String, Value> = serde_json::from_slice(body).map_err(|e| format!("not a JSON object: {e}"))?;
    match v.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(Answer::Inactive),
        _ => return Err("no boolean \"active\" member".into()),
    }
    // Numeric dates, if given, must be numbers: a string `exp` would be
    // read as "never expires".
    for k in ["exp", "iat", "nbf"] {
        if v.get(k).is_some_and(|x| !x.is_number()) {
            return Err(format!("{k} is not a number"));
        }
    }
    let mut claims = v;
    claims.remove("active");
    let verdict = verified(claims, forward);
    if let Some(nbf) = verdict.claims.get("nbf").and_then(Value::as_u64) {
        if nbf > now_secs() {
            return Ok(Answer::Inactive);
        }
    }
    Ok(Answer::Active(Arc::new(verdict)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        let fwd = vec![("sub".to_string(), HeaderName::from_static("x-user"))];
        match parse(br#"{"active":true,"sub":"alice","scope":"a b","exp":4000000000}"#, &fwd) {
            Ok(Answer::Active(v)) => {
                assert_eq!(v.scopes, vec!["a", "b"]);
                assert_eq!(v.exp, 4_000_000_000);
                assert_eq!(v.forward[0].1, "alice");
                assert!(!v.claims.contains_key("active"));
            }
            _ => panic!("active"),
        }
        assert!(matches!(parse(br#"{"active":false}"#, &fwd), Ok(Answer::Inactive)));
        // Not RFC 7662: no verdict at all (503), not "inactive".
        for bad in [
            &br#"{"active":"true"}"#[..],
            br#"{}"#,
            br#"[true]"#,
            br#"<html>"#,
            br#"{"active":true,"exp":"soon"}"#,
        ] {
            assert!(parse(bad, &fwd).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // No exp: good until the cache period ends.
        match parse(br#"{"active":true}"#, &fwd) {
            Ok(Answer::Active(v)) => assert_eq!(v.exp, u64::MAX),
            _ => panic!(),
        }
        assert!(matches!(
            parse(br#"{"active":true,"nbf":9999999999}"#, &fwd),
            Ok(Answer::Inactive)
        ));
    }
}
