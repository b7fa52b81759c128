//! Public JWKs that verifiers trust. Parsing refuses anything that is not a
//! public asymmetric key, and fixes the algorithm from the key itself so a
//! token's header can never choose it (no `alg=none`, no HS256-with-RSA-key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct PublicJwk {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
    /// The public JWK as JSON (for publishing in a JWKS).
    pub json: Value,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Members that only a private or symmetric JWK carries.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicJwk {
    pub fn from_value(v: &Value) -> Result<PublicJwk, String> {
        let obj = v.as_object().ok_or("a JWK must be a JSON object")?;
        let kty = obj.get("kty").and_then(Value::as_str).ok_or("the JWK has no \"kty\"")?;
        if kty == "oct" {
            return Err("the JWK is a symmetric (\"oct\") key, not a public key".into());
        }
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!(
                "the JWK contains private member \"{m}\": give the public key only"
            ));
        }
        let crv = obj.get("crv").and_then(Value::as_str);
        let natural = match (kty, crv) {
            ("RSA", _) => Algorithm::RS256,
            ("EC", Some("P-256")) => Algorithm::ES256,
            ("EC", Some("P-384")) => Algorithm::ES384,
            ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
            _ => return Err(format!("unsupported JWK key type {kty:?} (curve {crv:?})")),
        };
        let alg = match obj.get("alg").and_then(Value::as_str) {
            None => natural,
            Some(a) => {
                let alg: Algorithm = a.parse().map_err(|_| format!("unknown JWK \"alg\" {a:?}"))?;
                let fits = match kty {
                    "RSA" => matches!(
                        alg,
                        Algorithm::RS256
                            | Algorithm::RS384
                            | Algorithm::RS512
                            | Algorithm::PS256
                            | Algorithm::PS384
                            | Algorithm::PS512
                    ),
                    _ => alg == natural,
                };
                if !fits {
                    return Err(format!("JWK \"alg\" {a:?} does not fit a {kty} key"));
                }
                alg
            }
        };
        let jwk: Jwk = serde_json::from_value(v.clone()).map_err(|e| format!("malformed JWK: {e}"))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable JWK: {e}"))?;
        let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok(PublicJwk {
            kid,
            alg,
            key,
            json: v.clone(),
        })
    }
}

/// A set of trusted public keys, looked up by `kid`.
#[derive(Debug, Clone, Default)]
pub struct PublicKeySet {
    pub keys: Vec<PublicJwk>,
}

impl PublicKeySet {
    /// Accepts a JWKS (`{"keys":[…]}`) or a single JWK.
    pub fn from_value(v: &Value) -> Result<PublicKeySet, String> {
        match v.get("keys") {
            Some(Value::Array(keys)) => {
                let keys = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| PublicJwk::from_value(k).map_err(|e| format!("key #{i}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PublicKeySet { keys })
            }
            Some(_) => Err("\"keys\" must be an array of JWKs".into()),
            None => Ok(PublicKeySet {
                keys: vec![PublicJwk::from_value(v)?],
            }),
        }
    }

    pub fn from_json(text: &str) -> Result<PublicKeySet, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_value(&v)
    }

    /// Candidate keys for a token: by `kid` when it has one; without a kid,
    /// every key whose algorithm matches the header's.
    pub fn candidates<'a>(&'a self, kid: Option<&'a str>, alg: Algorithm) -> impl Iterator<Item = &'a PublicJwk> + 'a {
        self.keys.iter().filter(move |k| match kid {
            Some(kid) => k.kid.as_deref() == Some(kid),
            None => k.alg == alg,
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    let canonical = match s("kty")? {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e")?, s("n")?),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv")?,
            s("x")?,
            s("y")?
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv")?, s("x")?),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const N: &str = "43nSuC6lmGLogEPgFVwaaxAmPDzmZcocRB4Jed_dHc-sV7rcAcNB0iHyuGfNkfOAE2uhHVjdXuO6DBYGz4pnTwRZ5_wFrW0DlrlJQAXSvg6B2N1uda_aqySNw3rrvdh38rVG7HxFmyPbLXcpJtyfkiRNyZ1WhSpH0NciIRrFbW2mKRtOZsBGfBgmNqPGcGrMA71cuqNAQ9RMKmAF37iGXkx0tWMBQ_PL2aviHhtsiPbT3zIO7qUG3cleBHnS61kid3K8F38z9-5Hj-1zdTIP8iS4rAt4FmhvKvtOocRPYGq0W_dLLxmi4DYgIV2GJE93WyZ1EUvgRGhpcHvyT65z4w";

    #[test]
    fn tencent_public_jwk_is_accepted_as_rs256() {
        let k = PublicJwk::from_value(&json!({"e":"AQAB","kty":"RSA","n":N})).unwrap();
        assert_eq!(k.alg, Algorithm::RS256);
        assert_eq!(k.kid, None);
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        let e = PublicJwk::from_value(&json!({"e":"AQAB","kty":"RSA","n":N,"d":"AA"})).unwrap_err();
        assert!(e.contains("private member \"d\""), "{e}");
        let e = PublicJwk::from_value(&json!({"kty":"oct","k":"c2VjcmV0"})).unwrap_err();
        assert!(e.contains("symmetric"), "{e}");
    }

    #[test]
    fn alg_must_fit_the_key() {
        let e = PublicJwk::from_value(&json!({"e":"AQAB","kty":"RSA","n":N,"alg":"HS256"})).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1 example key and thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let t = thumbprint(&json!({"kty":"RSA","n":n,"e":"AQAB"})).unwrap();
        assert_eq!(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
