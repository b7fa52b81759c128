//! JWT verification against trusted public keys, for the gateway's `jwt`
//! and `oauth2` routes and the authorization server alike. The algorithm
//! comes from the key, never from the token header. Verified tokens are
//! cached until they expire, so the hot path is a hash lookup instead of an
//! RSA verification.

use super::jwks::KeyProvider;
use crate::error::{AuthError, InvalidToken};
use http::{HeaderName, HeaderValue};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use moka::sync::Cache;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A token whose signature and claims have been checked.
#[derive(Debug)]
pub struct Verified {
    pub exp: u64,
    pub claims: Map<String, Value>,
    pub scopes: Vec<String>,
    /// Headers to send upstream, computed once per token.
    pub forward: Vec<(HeaderName, HeaderValue)>,
}

impl Verified {
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Expire cache entries when their token expires.
struct UntilExp;
impl moka::Expiry<Arc<str>, Arc<Verified>> for UntilExp {
    fn expire_after_create(&self, _k: &Arc<str>, v: &Arc<Verified>, _at: Instant) -> Option<Duration> {
        Some(Duration::from_secs(v.exp.saturating_sub(now_secs())))
    }
}

/// Verifies JWTs with one key provider and one set of claim rules.
pub struct JwtVerifier {
    keys: KeyProvider,
    /// One `Validation` per algorithm, built once.
    validations: Vec<(Algorithm, Validation)>,
    leeway: u64,
    forward: Vec<(String, HeaderName)>,
    cache: Cache<Arc<str>, Arc<Verified>>,
    pub max_token_bytes: usize,
    /// Required `typ` header (RFC 9068 `at+jwt`); None: any.
    typ: Option<String>,
    /// An issuer is configured: `iss` must be one string.
    issuer_required: bool,
}

/// Refuses a JWS whose protected header carries `crit` (RFC 7515
/// §4.1.11: extensions we would have to understand; `crit: []` is invalid
/// too) or `b64` (RFC 7797 unencoded payloads, only meaningful with
/// `crit`). jsonwebtoken ignores both, so the header is read here once
/// more (uncached path only).
fn refuse_extensions(token: &str) -> Result<(), AuthError> {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| AuthError::Invalid(InvalidToken::Malformed))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid(InvalidToken::Malformed))?;
    if header.contains_key("crit") || header.contains_key("b64") {
        return Err(AuthError::Invalid(InvalidToken::CriticalHeader));
    }
    Ok(())
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

pub struct VerifierRules<'a> {
    pub issuer: Option<&'a str>,
    pub audience: &'a [String],
    pub leeway: Duration,
    pub forward: Vec<(String, HeaderName)>,
    pub cache_entries: u64,
    pub max_token_bytes: usize,
    pub required_claims: &'a [&'a str],
    /// `typ` header value required (`application/` prefix optional); None: any.
    pub typ: Option<&'a str>,
}

impl JwtVerifier {
    pub fn new(keys: KeyProvider, rules: VerifierRules<'_>) -> Self {
        // jsonwebtoken checks `iss` and `aud` only when the token has them:
        // a configured issuer or audience must also be a required claim.
        let mut required = rules.required_claims.to_vec();
        if rules.issuer.is_some() {
            required.push("iss");
        }
        if !rules.audience.is_empty() {
            required.push("aud");
        }
        let validations = ASYMMETRIC
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.leeway = rules.leeway.as_secs();
                v.validate_nbf = true;
                v.validate_exp = true;
                v.set_required_spec_claims(&required);
                if let Some(iss) = rules.issuer {
                    v.set_issuer(&[iss]);
                }
                if rules.audience.is_empty() {
                    v.validate_aud = false;
                } else {
                    v.set_audience(rules.audience);
                }
                (*alg, v)
            })
            .collect();
        JwtVerifier {
            keys,
            validations,
            leeway: rules.leeway.as_secs(),
            forward: rules.forward,
            cache: Cache::builder()
                .max_capacity(rules.cache_entries)
                .expire_after(UntilExp)
                .build(),
            max_token_bytes: rules.max_token_bytes,
            typ: rules.typ.map(str::to_owned),
            issuer_required: rules.issuer.is_some(),
        }
    }

    /// The verdict on `token` when it is known without verifying (too
    /// large, or in the cache); None: `verify` must decide.
    pub fn cached(&self, token: &str) -> Option<Result<Arc<Verified>, AuthError>> {
        if token.len() > self.max_token_bytes {
            return Some(Err(AuthError::Invalid(InvalidToken::TooLarge)));
        }
        let v = self.cache.get(token)?;
        // saturating: a token may carry exp = u64::MAX.
        if v.exp.saturating_add(self.leeway) >= now_secs() {
            return Some(Ok(v));
        }
        self.cache.invalidate(token);
        Some(Err(AuthError::Invalid(InvalidToken::Expired)))
    }

    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        if let Some(r) = self.cached(token) {
            return r;
        }
        let verified = Arc::new(self.verify_uncached(token).await?);
        self.cache.insert(Arc::from(token), verified.clone());
        Ok(verified)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid(InvalidToken::Malformed))?;
        refuse_extensions(token)?;
        if let Some(want) = &self.typ {
            let got = header.typ.as_deref().unwrap_or("");
            let got = got.strip_prefix("application/").unwrap_or(got);
            if !got.eq_ignore_ascii_case(want) {
                return Err(AuthError::Invalid(InvalidToken::Malformed));
            }
        }
        let mut keys = self.keys.current().await.map_err(|()| AuthError::Unavailable)?;
        if let Some(kid) = header.kid.as_deref() {
            if !keys.has_kid(kid) {
                if self.keys.refresh_for_unknown_kid(&keys).await {
                    keys = self.keys.current().await.map_err(|()| AuthError::Unavailable)?;
                }
                if !keys.has_kid(kid) {
                    return Err(AuthError::Invalid(InvalidToken::UnknownKey));
                }
            }
        }
        let mut last = InvalidToken::UnknownKey;
        for key in keys.candidates(header.kid.as_deref(), header.alg) {
            // The key decides the algorithm; a header that disagrees is refused.
            if key.alg != header.alg {
                last = InvalidToken::AlgorithmNotAllowed;
                continue;
            }
            let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == key.alg) else {
                last = InvalidToken::AlgorithmNotAllowed;
                continue;
            };
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation) {
                Ok(data) => {
                    // jsonwebtoken also takes an array of issuers; RFC 7519
                    // §4.1.1 says a string, and an array would let one token
                    // claim several issuers at once.
                    if self.issuer_required && !matches!(data.claims.get("iss"), Some(Value::String(_))) {
                        return Err(AuthError::Invalid(InvalidToken::WrongIssuer));
                    }
                    // jsonwebtoken 12 refuses an `nbf` it cannot read as a u64
                    // itself (InvalidClaimFormat, so Malformed); 9 skipped it.
                    // Kept so that the rule does not hang on the crate's version.
                    if let Some(nbf) = data.claims.get("nbf") {
                        match nbf.as_f64() {
                            Some(n) if n <= now_secs().saturating_add(self.leeway) as f64 => {}
                            Some(_) => return Err(AuthError::Invalid(InvalidToken::NotYetValid)),
                            None => return Err(AuthError::Invalid(InvalidToken::Malformed)),
                        }
                    }
                    return Ok(self.accept(data.claims));
                }
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => return Err(AuthError::Invalid(InvalidToken::Expired)),
                        ErrorKind::ImmatureSignature => return Err(AuthError::Invalid(InvalidToken::NotYetValid)),
                        ErrorKind::InvalidIssuer => return Err(AuthError::Invalid(InvalidToken::WrongIssuer)),
                        ErrorKind::InvalidAudience => return Err(AuthError::Invalid(InvalidToken::WrongAudience)),
                        ErrorKind::MissingRequiredClaim(_) => {
                            return Err(AuthError::Invalid(InvalidToken::MissingClaim))
                        }
                        ErrorKind::InvalidSignature => InvalidToken::BadSignature,
                        ErrorKind::InvalidAlgorithm => InvalidToken::AlgorithmNotAllowed,
                        _ => InvalidToken::Malformed,
                    }
                }
            }
        }
        // No key without a kid matched the header's algorithm: the token
        // asked for an algorithm none of our keys uses.
        if header.kid.is_none() && last == InvalidToken::UnknownKey && !keys.keys.is_empty() {
            last = InvalidToken::AlgorithmNotAllowed;
        }
        Err(AuthError::Invalid(last))
    }

    /// The (claim, header) pairs this verifier forwards upstream.
    pub fn forwarded(&self) -> &[(String, HeaderName)] {
        &self.forward
    }

    pub fn accept(&self, claims: Map<String, Value>) -> Verified {
        verified(claims, &self.forward)
    }
}

/// Accepted claims as a verdict: expiry, scopes (`scope` or `scp`) and the
/// (claim, header) pairs of `forward` that the claims have.
pub fn verified(claims: Map<String, Value>, forward: &[(String, HeaderName)]) -> Verified {
    // A NumericDate may have a fraction (RFC 7519 §2): rounded down, not
    // read as "never", which would keep the token cached for good.
    let exp = claims
        .get("exp")
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        })
        .unwrap_or(u64::MAX);
    let scopes = match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => {
            s.split_whitespace().map(str::to_owned).collect()
        }
        (None, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let forward = forward
        .iter()
        .filter_map(|(claim, header)| {
            let text = match claims.get(claim)? {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
                other => other.to_string(),
            };
            Some((header.clone(), HeaderValue::from_str(&text).ok()?))
        })
        .collect();
    Verified {
        exp,
        claims,
        scopes,
        forward,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::signer::SigningKeys;
    use crate::keys::SigningAlg;
    use serde_json::json;

    /// Found by fuzz/fuzz_targets/jwt_verify.rs: jsonwebtoken checks `iss`
    /// and `aud` only when the token carries them, so a well-signed token
    /// without them passed a configured issuer and audience.
    #[tokio::test]
    async fn configured_issuer_and_audience_are_required_claims() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path(), SigningAlg::Es256).unwrap();
        let audience = vec!["api".to_string()];
        let verifier = JwtVerifier::new(
            KeyProvider::Static(keys.public.clone()),
            VerifierRules {
                issuer: Some("https://issuer.example"),
                audience: &audience,
                leeway: Duration::from_secs(0),
                forward: Vec::new(),
                cache_entries: 10,
                max_token_bytes: 8192,
                required_claims: &["exp"],
                typ: None,
            },
        );
        let exp = now_secs() + 600;
        let good = json!({"iss": "https://issuer.example", "aud": "api", "exp": exp});
        assert!(verifier.verify(&keys.sign("JWT", &good).unwrap()).await.is_ok());
        for missing in ["iss", "aud"] {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(missing);
            let r = verifier.verify(&keys.sign("JWT", &claims).unwrap()).await;
            assert_eq!(
                r.unwrap_err(),
                AuthError::Invalid(InvalidToken::MissingClaim),
                "a token without {missing} was accepted"
            );
        }
    }

    fn verifier(keys: &SigningKeys) -> JwtVerifier {
        JwtVerifier::new(
            KeyProvider::Static(keys.public.clone()),
            VerifierRules {
                issuer: None,
                audience: &[],
                leeway: Duration::from_secs(0),
                forward: Vec::new(),
                cache_entries: 10,
                max_token_bytes: 8192,
                required_claims: &["exp"],
                typ: None,
            },
        )
    }

    /// Found by fuzz/fuzz_targets/jwt_verify.rs: an `nbf` beyond u64 (or a
    /// string) was skipped by jsonwebtoken 9, so the token was accepted
    /// before it was valid. Since jsonwebtoken 12 such an `nbf` is a claim
    /// of the wrong format: refused as malformed.
    #[tokio::test]
    async fn unreadable_nbf_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path(), SigningAlg::Es256).unwrap();
        let v = verifier(&keys);
        let exp = now_secs() + 600;
        for (nbf, want) in [
            (json!(22222222222222222222.0), InvalidToken::Malformed),
            (json!(1e300), InvalidToken::Malformed),
            (json!("tomorrow"), InvalidToken::Malformed),
        ] {
            let t = keys.sign("JWT", &json!({"exp": exp, "nbf": nbf})).unwrap();
            assert_eq!(v.verify(&t).await.unwrap_err(), AuthError::Invalid(want), "nbf {nbf}");
        }
        let t = keys.sign("JWT", &json!({"exp": exp, "nbf": 1.5})).unwrap();
        assert!(v.verify(&t).await.is_ok());
    }

    /// Issue 24 (9, 10): `crit` and `b64` headers are refused (RFC 7515
    /// §4.1.11), and with an issuer configured `iss` must be a string.
    #[tokio::test]
    async fn critical_headers_and_array_issuers_are_refused() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path(), SigningAlg::Es256).unwrap();
        let v = JwtVerifier::new(
            KeyProvider::Static(keys.public.clone()),
            VerifierRules {
                issuer: Some("https://issuer.example"),
                audience: &[],
                leeway: Duration::from_secs(0),
                forward: Vec::new(),
                cache_entries: 10,
                max_token_bytes: 8192,
                required_claims: &["exp"],
                typ: None,
            },
        );
        let exp = now_secs() + 600;
        let claims = json!({"iss": "https://issuer.example", "exp": exp});
        let kid = keys.public.keys[0].kid.clone().unwrap();
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        for extra in [
            json!({"crit": ["urn:example:unknown"], "urn:example:unknown": 1}),
            json!({"crit": []}),
            json!({"crit": ["exp"]}),
            json!({"b64": false, "crit": ["b64"]}),
            json!({"b64": false}),
        ] {
            let mut h = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
            h.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let t = keys.sign_with_header(&b64(&h), &claims).unwrap();
            assert_eq!(
                v.verify(&t).await.unwrap_err(),
                AuthError::Invalid(InvalidToken::CriticalHeader),
                "{extra}"
            );
        }
        let plain = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        assert!(v
            .verify(&keys.sign_with_header(&b64(&plain), &claims).unwrap())
            .await
            .is_ok());
        let arr = json!({"iss": ["https://issuer.example", "https://evil.example"], "exp": exp});
        assert_eq!(
            v.verify(&keys.sign_with_header(&b64(&plain), &arr).unwrap())
                .await
                .unwrap_err(),
            AuthError::Invalid(InvalidToken::WrongIssuer)
        );
    }

    /// A fractional `exp` (RFC 7519 NumericDate) was read as "never expires"
    /// by the cache, so a cached token stayed accepted after it expired.
    #[tokio::test]
    async fn fractional_exp_bounds_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path(), SigningAlg::Es256).unwrap();
        let exp = now_secs() + 600;
        let t = keys.sign("JWT", &json!({"exp": exp as f64 + 0.5})).unwrap();
        assert_eq!(verifier(&keys).verify(&t).await.unwrap().exp, exp);
    }
}
