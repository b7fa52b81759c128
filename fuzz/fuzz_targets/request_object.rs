//! Request objects (RFC 9101) as `authz::request_object` reads them at the
//! authorization and PAR endpoints: the header checks (size, compact JWS,
//! asymmetric `alg`, `typ`), the signature and claims (`iss` = the client,
//! `aud` = the issuer, `exp`, `nbf`) by `assertion::verify_claims`, then the
//! claims turned into request parameters.
//!
//! Input: a JWT; or a 0 byte then `{"h": {…header members…}, "c": {…claims…}}`,
//! which the target signs with an ES256 key of its own (the client's key
//! here), so the parameter mapping is reached with a good signature.
#![no_main]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::authz::assertion;
use gatehouse::authz::request_object::{check_header, parameters};
use gatehouse::keys::{generate, PublicKeySet, SigningAlg};
use gatehouse::token::jwks::KeyProvider;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

const CLIENT: &str = "fuzz-client";
const ISSUER: &str = "https://as.example";

struct Client {
    key: EncodingKey,
    keys: KeyProvider,
}

fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        let k = generate::generate(SigningAlg::Es256).expect("ES256 key");
        let set = PublicKeySet::from_value(&k.jwk).expect("public jwk");
        Client {
            key: EncodingKey::from_ec_pem(k.private_pem.as_bytes()).expect("PEM"),
            keys: KeyProvider::Static(Arc::new(set)),
        }
    })
}

fn signed(spec: &Value) -> Option<String> {
    let mut header = json!({"typ": "oauth-authz-req+jwt", "alg": "ES256"});
    if let (Some(h), Some(extra)) = (header.as_object_mut(), spec.get("h").and_then(Value::as_object)) {
        h.extend(extra.clone());
    }
    let claims = spec.get("c")?;
    let mut msg = URL_SAFE_NO_PAD.encode(header.to_string());
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), &client().key, Algorithm::ES256).ok()?;
    Some(format!("{msg}.{sig}"))
}

fuzz_target!(|data: &[u8]| {
    let jwt = match data.split_first() {
        Some((0, rest)) => match serde_json::from_slice::<Value>(rest).ok().as_ref().and_then(signed) {
            Some(j) => j,
            None => return,
        },
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        },
    };
    if check_header(&jwt).is_err() {
        return;
    }
    let verified = common::block_on(assertion::verify_claims(
        &client().keys,
        &jwt,
        CLIENT,
        None,
        &[ISSUER],
        &["exp", "iss", "aud"],
    ));
    let Ok(claims) = verified else { return };
    assert_eq!(claims["iss"].as_str(), Some(CLIENT), "accepted another issuer");
    if let Ok(params) = parameters(&claims, CLIENT) {
        assert!(
            params.iter().any(|(k, v)| k == "client_id" && v == CLIENT),
            "parameters without the client's client_id: {params:?}"
        );
        for (k, _) in &params {
            assert!(
                !matches!(k.as_str(), "request" | "request_uri" | "iss" | "aud" | "exp" | "jti"),
                "{k} passed as a parameter"
            );
        }
    }
});
