//! JWT introspection responses (RFC 9701) against the real binary: a
//! resource server that sends `Accept: application/token-introspection+jwt`
//! gets the RFC 7662 answer inside a JWT signed by a key of the JWKS, which
//! Python jwcrypto (not this project's code) verifies; without the header
//! the answer stays plain JSON, and errors stay RFC 6749 JSON.

mod common;

use common::jwcrypto::Jwcrypto;
use common::{client, Gatehouse};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ISSUER: &str = "http://gatehouse.test";
const JWT_TYPE: &str = "application/token-introspection+jwt";

fn config() -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "memory://"

[tokens]
signing_alg = "ES256"

[keys]
dir = "keys"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["password", "refresh_token"]
scopes = ["photos"]

# Resource servers: RS256 answers (the RFC 9701 §6 default) and ES256 ones.
[[clients]]
id = "rs"
secret = "rs-secret"
grant_types = ["client_credentials"]

[[clients]]
id = "rs-es"
secret = "rs-es-secret"
grant_types = ["client_credentials"]
introspection_signed_response_alg = "ES256"

[[users]]
username = "alice"
password = "wonderland"
"#
    )
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn introspect(gh: &Gatehouse, who: (&str, &str), accept: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut req = client()
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth(who.0, Some(who.1))
        .form(form);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: r.text().await.unwrap(),
    }
}

/// The signed answer for `token`, verified by jwcrypto with the JWKS, next
/// to the plain one; asserts what RFC 9701 §5 asks of the JWT.
async fn both(
    gh: &Gatehouse,
    jwcrypto: &mut Jwcrypto,
    jwks: &Value,
    who: (&str, &str),
    token: &str,
    alg: &str,
) -> Value {
    let plain = introspect(gh, who, None, &[("token", token)]).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert_eq!(plain.content_type, "application/json");
    let plain: Value = serde_json::from_str(&plain.body).unwrap();

    let signed = introspect(gh, who, Some(JWT_TYPE), &[("token", token)]).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(signed.content_type, JWT_TYPE);
    let (header, claims) = jwcrypto
        .verify(jwks, &signed.body)
        .unwrap_or_else(|e| panic!("jwcrypto refused the introspection JWT: {e}: {}", signed.body));
    assert_eq!(header["typ"], "token-introspection+jwt", "{header}");
    assert_eq!(header["alg"], alg, "{header}");
    let kid = header["kid"].as_str().expect("a kid");
    assert!(
        jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid),
        "kid {kid} is not in the JWKS"
    );
    assert_eq!(claims["iss"], ISSUER, "{claims}");
    assert_eq!(claims["aud"], who.0, "{claims}");
    let iat = claims["iat"].as_i64().expect("iat");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((iat - now).abs() < 60, "iat {iat}, now {now}");
    // §5/§8.1: the token's own claims only inside token_introspection.
    for k in ["sub", "exp", "scope", "active"] {
        assert!(claims.get(k).is_none(), "top-level {k} in {claims}");
    }
    assert_eq!(
        claims["token_introspection"], plain,
        "the signed answer differs from the plain one"
    );
    assert_eq!(claims.as_object().unwrap().len(), 4, "{claims}");
    plain
}

#[tokio::test]
async fn signed_introspection_answers_verify_and_match_the_plain_ones() {
    let gh = Gatehouse::start_full(&config());
    let http = client();
    let mut jwcrypto = Jwcrypto::verifier();

    let disco: Value = http
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = &disco["introspection_signing_alg_values_supported"];
    assert!(
        algs.as_array()
            .is_some_and(|a| a.contains(&json!("RS256")) && a.contains(&json!("ES256"))),
        "{algs}"
    );
    let jwks: Value = http
        .get(gh.url("/api/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let tokens: Value = http
        .post(gh.url("/api/oauth/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "photos"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("an access token");
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");

    // An active access token, default RS256.
    let rs = ("rs", "rs-secret");
    let a = both(&gh, &mut jwcrypto, &jwks, rs, access, "RS256").await;
    assert_eq!(a["active"], true);
    assert_eq!(a["client_id"], "app");
    assert_eq!(a["sub"], "alice");
    assert_eq!(a["scope"], "photos");
    // An active refresh token.
    let r = both(&gh, &mut jwcrypto, &jwks, rs, refresh, "RS256").await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_use"], "refresh_token");
    // Inactive: exactly {"active":false}, signed too.
    let i = both(&gh, &mut jwcrypto, &jwks, rs, "not-a-token-at-all", "RS256").await;
    assert_eq!(i, json!({"active": false}));

    // The client that registered ES256 gets ES256 answers (RFC 9701 §6).
    let rs_es = ("rs-es", "rs-es-secret");
    let a = both(&gh, &mut jwcrypto, &jwks, rs_es, access, "ES256").await;
    assert_eq!(a["sub"], "alice");
    let i = both(&gh, &mut jwcrypto, &jwks, rs_es, "nope", "ES256").await;
    assert_eq!(i, json!({"active": false}));

    // Revoked: inactive in both forms.
    let revoke = http
        .post(gh.url("/api/oauth/revoke"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let r = both(&gh, &mut jwcrypto, &jwks, rs, refresh, "RS256").await;
    assert_eq!(r, json!({"active": false}));

    // The verifier really verifies: a changed signature is refused.
    let signed = introspect(&gh, rs, Some(JWT_TYPE), &[("token", access)]).await.body;
    let (head, sig) = signed.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(jwcrypto.verify(&jwks, &tampered).is_err());

    // Accept lists with other types still choose the JWT; q=0 refuses it.
    let listed = introspect(
        &gh,
        rs,
        Some("application/json;q=0.9, application/token-introspection+jwt"),
        &[("token", access)],
    )
    .await;
    assert_eq!(listed.content_type, JWT_TYPE);
    let refused = introspect(
        &gh,
        rs,
        Some("application/token-introspection+jwt;q=0, application/json"),
        &[("token", access)],
    )
    .await;
    assert_eq!(refused.content_type, "application/json");
}

#[tokio::test]
async fn errors_stay_json_when_a_jwt_is_asked_for() {
    let gh = Gatehouse::start_full(&config());
    // Wrong credentials: RFC 6749 §5.2 invalid_client, 401 with a challenge.
    let r = client()
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth("rs", Some("wrong"))
        .header("accept", JWT_TYPE)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // No token: invalid_request.
    let a = introspect(&gh, ("rs", "rs-secret"), Some(JWT_TYPE), &[]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.content_type, "application/json");
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["error"], "invalid_request");
}
