//! JWT-secured authorization requests (RFC 9101): a `request` parameter
//! carrying the authorization request as a JWT signed with one of the
//! client's registered keys (`jwks` or `jwks_uri`), at the authorization
//! endpoint and at the PAR endpoint. Only asymmetric signatures (the key
//! fixes the algorithm; `none` and HMAC never verify), `iss` = the client,
//! `aud` = this issuer, `exp` required and at most an hour ahead, `nbf`
//! honoured, `jti` used once across instances (the store). When a request
//! object is given, its claims are the request's parameters and nothing
//! outside it counts (§6.3). Encrypted objects are not accepted.

use super::assertion::{self, Failure};
use super::AuthServer;
use crate::store::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Signing algorithms a request object may use (discovery's
/// `request_object_signing_alg_values_supported`).
pub const ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Largest request object accepted (bytes of the compact JWS).
pub const MAX_BYTES: usize = 16 * 1024;

/// A request object may live at most this long (`exp` - now).
const MAX_LIFETIME: i64 = 3600;

/// JWT claims that are about the object itself, not request parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Why a request object was refused: `invalid_request_object` with this
/// description, or the keys could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    Invalid(String),
    Unavailable,
}

fn invalid(d: impl Into<String>) -> ObjectError {
    ObjectError::Invalid(d.into())
}

/// What can be checked before any key is looked up: size, a compact JWS,
/// an acceptable `alg` and `typ`. (Public, like [`parameters`], for the
/// fuzz target.)
pub fn check_header(jwt: &str) -> Result<(), ObjectError> {
    if jwt.len() > MAX_BYTES {
        return Err(invalid(format!("the request object is larger than {MAX_BYTES} bytes")));
    }
    if jwt.split('.').count() != 3 {
        return Err(invalid(
            "the request object is not a signed JWT (compact JWS; encrypted objects are not accepted)",
        ));
    }
    let head = jwt.split('.').next().unwrap_or("");
    let header: Value = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("the request object's header is not base64url JSON"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGS.contains(&alg) {
        return Err(invalid(format!(
            "the request object must be signed with one of {} (not {alg:?})",
            ALGS.join(", ")
        )));
    }
    // RFC 9101 §10.8: explicit typing keeps other JWTs from passing as one.
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("oauth-authz-req+jwt") || t.eq_ignore_ascii_case("JWT") => {
            Ok(())
        }
        Some(t) => Err(invalid(format!(
            "the request object's typ must be oauth-authz-req+jwt (not {t})"
        ))),
    }
}

/// The authorization request's parameters from a request object's
/// (verified) claims: strings as they are, numbers (`max_age`) as decimal,
/// `resource` also as an array of strings. Anything else is refused, as
/// are nested `request`/`request_uri` (§4) and a `client_id` other than
/// the client's own (§5).
pub fn parameters(claims: &Value, client_id: &str) -> Result<Vec<(String, String)>, ObjectError> {
    let obj = claims
        .as_object()
        .ok_or_else(|| invalid("the request object's payload is not a JSON object"))?;
    let mut out = Vec::new();
    for (k, v) in obj {
        if JWT_CLAIMS.contains(&k.as_str()) {
            continue;
        }
        if k == "request" || k == "request_uri" {
            return Err(invalid(format!("a request object must not contain {k}")));
        }
        match (k.as_str(), v) {
            (_, Value::String(s)) => out.push((k.clone(), s.clone())),
            (_, Value::Number(n)) => out.push((k.clone(), n.to_string())),
            ("resource", Value::Array(items)) => {
                for i in items {
                    let s = i
                        .as_str()
                        .ok_or_else(|| invalid("resource in the request object must be strings"))?;
                    out.push((k.clone(), s.to_string()));
                }
            }
            _ => {
                return Err(invalid(format!(
                    "the request object's {k:?} must be a string (claims and other structured parameters are not supported)"
                )))
            }
        }
    }
    match out.iter().find(|(k, _)| k == "client_id") {
        Some((_, id)) if id == client_id => {}
        Some(_) => return Err(invalid("the request object's client_id is not the client's")),
        None => return Err(invalid("the request object has no client_id")),
    }
    Ok(out)
}

impl AuthServer {
    /// Verifies `jwt` as `client`'s request object and returns the
    /// request's parameters.
    pub async fn request_object(&self, client: &Client, jwt: &str) -> Result<Vec<(String, String)>, ObjectError> {
        check_header(jwt)?;
        let keys = self
            .client_keys(client)
            .map_err(|e| invalid(e.description().to_string()))?
            .ok_or_else(|| {
                invalid("the client registered no keys (jwks or jwks_uri) to verify request objects with")
            })?;
        let claims = assertion::verify_claims(
            &keys,
            jwt,
            &client.id,
            None,
            &[&self.cfg.issuer],
            &["exp", "iss", "aud"],
        )
        .await
        .map_err(|f| match f {
            Failure::Unavailable => ObjectError::Unavailable,
            Failure::Malformed => invalid("the request object is malformed"),
            Failure::Invalid => invalid(
                "the request object is not signed by a key of the client, has expired, is not yet valid, or its iss/aud are not the client/this issuer",
            ),
        })?;
        let now = crate::store::now();
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if exp > now + MAX_LIFETIME {
            return Err(invalid("the request object expires more than an hour from now"));
        }
        let params = parameters(&claims, &client.id)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| invalid("the request object has no jti (at most 256 characters)"))?;
        let once = format!("request-object:{}:{jti}", client.id);
        match self.store.use_once(&once, exp + assertion::LEEWAY as i64, now).await {
            Ok(true) => Ok(params),
            Ok(false) => Err(invalid("the request object was already used (jti)")),
            Err(_) => Err(ObjectError::Unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jws(header: Value) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    #[test]
    fn headers_need_an_asymmetric_alg_and_a_fitting_typ() {
        assert!(check_header(&jws(json!({"alg": "PS256", "typ": "oauth-authz-req+jwt"}))).is_ok());
        assert!(check_header(&jws(json!({"alg": "ES256"}))).is_ok());
        for bad in [
            json!({"alg": "none"}),
            json!({"alg": "HS256"}),
            json!({"alg": "ES256", "typ": "dpop+jwt"}),
            json!({"alg": "ES256", "typ": 7}),
        ] {
            assert!(check_header(&jws(bad.clone())).is_err(), "{bad}");
        }
        assert!(check_header("a.b").is_err());
        assert!(check_header("a.b.c.d.e").is_err(), "JWE");
        assert!(check_header(&"a".repeat(MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn claims_become_parameters() {
        let p = parameters(
            &json!({"iss": "c", "aud": "x", "exp": 1, "jti": "j", "client_id": "c", "scope": "openid",
                    "max_age": 60, "resource": ["https://a/", "https://b/"]}),
            "c",
        )
        .unwrap();
        assert!(p.contains(&("max_age".into(), "60".into())));
        assert_eq!(p.iter().filter(|(k, _)| k == "resource").count(), 2);
        assert!(!p.iter().any(|(k, _)| k == "iss" || k == "jti"));
        for bad in [
            json!({"client_id": "other"}),
            json!({"scope": "x"}),
            json!({"client_id": "c", "request_uri": "urn:x"}),
            json!({"client_id": "c", "claims": {"userinfo": {}}}),
            json!({"client_id": "c", "resource": [1]}),
            json!([1]),
        ] {
            assert!(parameters(&bad, "c").is_err(), "{bad}");
        }
    }
}
