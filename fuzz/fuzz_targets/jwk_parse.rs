//! JWK / JWKS parsing: `PublicKeySet::from_json` (JWKS documents from
//! `jwks_uri`, `jwks_file`, inline keys) and `PublicJwk::from_value`.
//! Properties: only public asymmetric keys are accepted, the algorithm fits
//! the key type, and parsing is deterministic.
#![no_main]

use gatehouse::keys::jwk::thumbprint;
use gatehouse::keys::{PublicJwk, PublicKeySet};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn check_key(k: &PublicJwk) {
    let obj = k.json.as_object().expect("an accepted JWK is an object");
    for m in PRIVATE_MEMBERS {
        assert!(!obj.contains_key(m), "accepted a JWK with private member {m}");
    }
    let kty = obj["kty"].as_str().expect("kty is a string");
    let crv = obj.get("crv").and_then(Value::as_str);
    use Algorithm::*;
    let fits = match (kty, crv) {
        ("RSA", _) => matches!(k.alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        ("EC", Some("P-256")) => k.alg == ES256,
        ("EC", Some("P-384")) => k.alg == ES384,
        ("OKP", Some("Ed25519")) => k.alg == EdDSA,
        _ => false,
    };
    assert!(fits, "alg {:?} accepted for kty {kty:?} crv {crv:?}", k.alg);
    assert_eq!(k.kid.as_deref(), obj.get("kid").and_then(Value::as_str));
    let again = PublicJwk::from_value(&k.json).expect("an accepted JWK parses again");
    assert_eq!((again.alg, again.kid), (k.alg, k.kid.clone()));
    let _ = thumbprint(&k.json);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(set) = PublicKeySet::from_json(text) {
        for k in &set.keys {
            check_key(k);
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = thumbprint(&v);
        if let Ok(k) = PublicJwk::from_value(&v) {
            check_key(&k);
        }
        // Each member of a JWKS on its own, as a rotated key would arrive.
        if let Some(Value::Array(keys)) = v.get("keys") {
            for k in keys {
                if let Ok(k) = PublicJwk::from_value(k) {
                    check_key(&k);
                }
            }
        }
    }
});
