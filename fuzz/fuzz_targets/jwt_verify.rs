//! Compact JWS/JWT parse + verify as the gateway does it: `JwtVerifier`
//! (header JSON, base64url, signature, claims, cache) and `JwtAuth`
//! (Authorization header → verifier → scopes), with a static key set: the
//! RS256, ES256 and EdDSA keys of fuzz/keys/jwks.json (the seed tokens are
//! signed with them) and an ES256 key made at start.
//!
//! Input: a token; or a 0 byte then claims JSON, which the target signs
//! with its own key so the claim checks are reached with a good signature.
#![no_main]

mod common;

use gatehouse::config::{JwtSpec, KeySource, TokenLocation};
use gatehouse::error::AuthError;
use gatehouse::gateway::policy::auth::jwt::JwtAuth;
use gatehouse::keys::signer::SigningKeys;
use gatehouse::keys::{PublicKeySet, SigningAlg};
use gatehouse::token::jwks::KeyProvider;
use gatehouse::token::{now_secs, JwtVerifier, VerifierRules};
use http::header::AUTHORIZATION;
use http::HeaderName;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const ISSUER: &str = "https://issuer.example";
const LEEWAY: u64 = 30;

struct Fixture {
    set: Arc<PublicKeySet>,
    signer: SigningKeys,
    verifier: JwtVerifier,
    policy: JwtAuth,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = common::scratch("jwt");
        let signer = SigningKeys::load_or_create(&dir, SigningAlg::Es256).expect("signing key");
        let _ = std::fs::remove_dir_all(&dir);
        let mut set = PublicKeySet::from_json(include_str!("../keys/jwks.json")).expect("fuzz/keys/jwks.json");
        set.keys.extend(signer.public.keys.iter().cloned());
        let set = Arc::new(set);
        let audience = vec!["api".to_string()];
        let forward = vec![
            ("sub".to_string(), HeaderName::from_static("x-user")),
            ("scope".to_string(), HeaderName::from_static("x-scope")),
        ];
        let verifier = JwtVerifier::new(
            KeyProvider::Static(set.clone()),
            VerifierRules {
                issuer: Some(ISSUER),
                audience: &audience,
                leeway: Duration::from_secs(LEEWAY),
                forward: forward.clone(),
                cache_entries: 10_000,
                max_token_bytes: 8192,
                required_claims: &["exp"],
                typ: None,
            },
        );
        let spec = JwtSpec {
            keys: KeySource::Static(set.clone()),
            issuer: Some(ISSUER.into()),
            audience,
            location: TokenLocation::Header(AUTHORIZATION),
            leeway: Duration::from_secs(LEEWAY),
            jwks_min_refresh: Duration::from_secs(10),
            forward_claims: forward,
            scopes: vec!["read".into()],
        };
        let policy = JwtAuth::with_keys(&spec, KeyProvider::Static(set.clone()), 10_000, 8192);
        Fixture {
            set,
            signer,
            verifier,
            policy,
        }
    })
}

fn has_audience(claims: &serde_json::Map<String, Value>, want: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}

fn check(token: &str) {
    let f = fixture();
    let first = common::block_on(f.verifier.verify(token));
    // The second answer may come from the cache: it must be the same.
    let second = common::block_on(f.verifier.verify(token));
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a.claims, b.claims),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("verify changed its mind: {first:?} then {second:?}"),
    }
    if let Ok(v) = &first {
        let header = jsonwebtoken::decode_header(token).expect("an accepted token has a header");
        assert!(
            f.set
                .keys
                .iter()
                .any(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid)),
            "accepted a token whose header names no key of ours: {header:?}"
        );
        let exp = v
            .claims
            .get("exp")
            .and_then(Value::as_f64)
            .expect("accepted a token without a numeric exp");
        assert!(exp + LEEWAY as f64 >= now_secs() as f64, "accepted an expired token");
        if let Some(nbf) = v.claims.get("nbf").and_then(Value::as_f64) {
            assert!(nbf <= (now_secs() + LEEWAY) as f64, "accepted a token before its nbf");
        }
        assert_eq!(v.claims.get("iss").and_then(Value::as_str), Some(ISSUER));
        assert!(has_audience(&v.claims, "api"), "accepted a token for another audience");
    }
    // The same token through the gateway policy.
    if token.is_empty() || token.contains(char::is_whitespace) || token.starts_with("id_token=") {
        return;
    }
    let Ok(req) = http::Request::builder()
        .uri("/api")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(())
    else {
        return;
    };
    let (parts, ()) = req.into_parts();
    let by_policy = common::block_on(f.policy.verify(&parts));
    match (&first, &by_policy) {
        (Err(AuthError::Invalid(_)), Err(AuthError::Invalid(_))) => {}
        (Ok(v), Ok(w)) => assert_eq!(v.claims, w.claims),
        _ => panic!("verifier and policy disagree: {first:?} / {by_policy:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, claims)) => {
            let Ok(claims) = serde_json::from_slice::<Value>(claims) else {
                return;
            };
            let Ok(token) = fixture().signer.sign("JWT", &claims) else {
                return;
            };
            check(&token);
        }
        _ => {
            if let Ok(token) = std::str::from_utf8(data) {
                check(token);
            }
        }
    }
});
