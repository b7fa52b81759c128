//! RFC 7523 assertion JWTs as `authz::assertion` reads them for the JWT
//! bearer grant, `private_key_jwt` and `client_secret_jwt`: the unverified
//! `iss`/`sub` peek that picks the keys, then `verify` (header, algorithm
//! fixed by the key, signature, iss/sub/aud/exp/nbf). Keys: those of
//! fuzz/keys/jwks.json (RS256, ES256, EdDSA; the jwt_verify seeds are signed
//! with them) and an HS256 secret as a `client_secret_jwt` client has.
//!
//! Input: a JWT; or a 0 byte then claims JSON, which the target MACs with
//! the HS256 secret so the claim checks are reached with a good signature.
#![no_main]

mod common;

use gatehouse::authz::assertion::{self, LEEWAY};
use gatehouse::keys::{PublicJwk, PublicKeySet};
use gatehouse::token::jwks::KeyProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

const SECRET: &[u8] = b"fuzz-client-secret-0123456789abcdef";
const CLIENT: &str = "fuzz-client";
const TOKEN: &str = "https://as.example/api/oauth/token";

fn keys() -> &'static KeyProvider {
    static K: OnceLock<KeyProvider> = OnceLock::new();
    K.get_or_init(|| {
        let mut set = PublicKeySet::from_json(include_str!("../keys/jwks.json")).expect("fuzz/keys/jwks.json");
        set.keys.push(PublicJwk {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(SECRET).expect("SECRET"),
            json: Value::Null,
        });
        KeyProvider::Static(Arc::new(set))
    })
}

fn has_audience(claims: &Value) -> bool {
    let ok = |v: &Value| matches!(v.as_str(), Some(TOKEN | "https://as.example"));
    match &claims["aud"] {
        Value::Array(a) => a.iter().any(ok),
        v => ok(v),
    }
}

fn check(token: &str) {
    // As client authentication does: sub picks the client, iss = sub.
    let Some(sub) = assertion::unverified_claim(token, "sub") else {
        return;
    };
    let audiences = [TOKEN, "https://as.example"];
    let r = common::block_on(assertion::verify(keys(), token, &sub, Some(&sub), &audiences));
    if let Ok(claims) = r {
        assert_eq!(claims["iss"].as_str(), Some(sub.as_str()));
        assert_eq!(claims["sub"].as_str(), Some(sub.as_str()));
        assert!(has_audience(&claims), "accepted another audience: {claims}");
        let exp = claims["exp"].as_f64().expect("accepted a token without a numeric exp");
        let now = gatehouse::store::now() as f64;
        assert!(exp + LEEWAY as f64 >= now, "accepted an expired assertion");
        if let Some(nbf) = claims["nbf"].as_f64() {
            assert!(nbf <= now + LEEWAY as f64, "accepted an assertion before its nbf");
        }
        let header = jsonwebtoken::decode_header(token).expect("an accepted token has a header");
        assert_ne!(header.alg, Algorithm::HS384, "the HS256 key verified another algorithm");
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, claims)) => {
            let Ok(mut claims) = serde_json::from_slice::<Value>(claims) else {
                return;
            };
            if let Some(o) = claims.as_object_mut() {
                o.entry("sub").or_insert_with(|| CLIENT.into());
            }
            let Ok(token) = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET).expect("SECRET"),
            ) else {
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
