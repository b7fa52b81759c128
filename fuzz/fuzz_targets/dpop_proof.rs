//! DPoP proofs (RFC 9449) as `token::dpop::verify` reads them at the token
//! endpoint, userinfo and the gateway: the header (typ, alg, the embedded
//! jwk), the signature by that jwk, the claims (jti, htm, htu normalised,
//! iat window, ath), then the nonce check of `token::dpop::Nonces`.
//!
//! Input: a proof (the seeds are real proofs by jwcrypto); or a 0 byte then
//! `{"h": {…header members…}, "c": {…claims…}}`, which the target signs with
//! an ES256 key of its own (its public jwk in the header unless `h` gives
//! one), so the claim checks are reached with a good signature.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gatehouse::keys::{generate, SigningAlg};
use gatehouse::token::dpop::{self, Expect, Nonces};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::OnceLock;

const HTU: &str = "https://as.example/api/oauth/token";
const NOW: i64 = 1_767_225_600;

struct Signer {
    key: EncodingKey,
    jwk: Value,
}

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let k = generate::generate(SigningAlg::Es256).expect("ES256 key");
        let mut jwk = k.jwk.clone();
        if let Some(o) = jwk.as_object_mut() {
            o.remove("kid");
            o.remove("use");
            o.remove("alg");
        }
        Signer {
            key: EncodingKey::from_ec_pem(k.private_pem.as_bytes()).expect("PEM"),
            jwk,
        }
    })
}

fn nonces() -> &'static Nonces {
    static N: OnceLock<Nonces> = OnceLock::new();
    N.get_or_init(|| Nonces::new(|l| l.to_vec(), 300))
}

fn signed(spec: &Value) -> Option<String> {
    let s = signer();
    let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": s.jwk});
    if let (Some(h), Some(extra)) = (header.as_object_mut(), spec.get("h").and_then(Value::as_object)) {
        h.extend(extra.clone());
    }
    let claims = spec.get("c")?;
    let mut msg = URL_SAFE_NO_PAD.encode(header.to_string());
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = jsonwebtoken::crypto::sign(msg.as_bytes(), &s.key, Algorithm::ES256).ok()?;
    Some(format!("{msg}.{sig}"))
}

fuzz_target!(|data: &[u8]| {
    let proof = match data.split_first() {
        Some((0, rest)) => match serde_json::from_slice::<Value>(rest).ok().as_ref().and_then(signed) {
            Some(p) => p,
            None => return,
        },
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        },
    };
    for token in [None, Some("an-access-token")] {
        let expect = Expect {
            method: "POST",
            url: HTU,
            access_token: token,
            now: NOW,
        };
        if let Ok(p) = dpop::verify(&proof, &expect) {
            // What a caller does next must not panic either.
            let _ = nonces().check(p.nonce.as_deref(), NOW);
            let _ = (p.replay_id(), p.replay_until());
            assert!(!p.jkt.is_empty());
        }
    }
    let _ = dpop::normalise_htu(&proof);
    let _ = dpop::scheme_token(&proof);
});
