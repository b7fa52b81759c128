//! RFC 7523 JWT bearer grant: assertions signed by a trusted issuer's key
//! (an inline JWKS file, or a jwks_uri fetched over HTTP) are exchanged for
//! access tokens; every RFC 7523 §3 rule is checked, with replays refused.

mod common;

use axum::routing::get;
use common::{client, keygen, serve, Gatehouse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const IDP: &str = "https://idp.example";
const SVC_IDP: &str = "https://services.example";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Signer {
    key: EncodingKey,
    kid: String,
    public_pem: Vec<u8>,
}

impl Signer {
    fn new(dir: &std::path::Path) -> (Signer, Value) {
        keygen("RS256", dir);
        let jwk: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("public.jwk.json")).unwrap()).unwrap();
        let key = EncodingKey::from_rsa_pem(&std::fs::read(dir.join("private.pem")).unwrap()).unwrap();
        let s = Signer {
            key,
            kid: jwk["kid"].as_str().unwrap().to_string(),
            public_pem: std::fs::read(dir.join("public.pem")).unwrap(),
        };
        (s, jwk)
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }
}

async fn exchange(gh: &Gatehouse, assertion: &str) -> (u16, Value) {
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", GRANT), ("assertion", assertion), ("scope", "api")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_grant_follows_rfc7523() {
    let dir = tempfile::tempdir().unwrap();
    let (idp, idp_jwk) = Signer::new(&dir.path().join("idp"));
    std::fs::write(dir.path().join("idp.jwks.json"), json!({"keys": [idp_jwk]}).to_string()).unwrap();
    // A second issuer whose keys are fetched from its jwks_uri, and whose
    // assertions name clients.
    let (svc, svc_jwk) = Signer::new(&dir.path().join("svc"));
    let jwks = json!({"keys": [svc_jwk]});
    let jwks_addr =
        serve(axum::Router::new().route("/jwks", get(move || async move { axum::Json(jwks.clone()) }))).await;

    let gh = Gatehouse::start_in(
        dir,
        &format!(
            r#"{}
[[trusted_issuers]]
issuer = "{IDP}"
jwks_file = "idp.jwks.json"
max_assertion_lifetime = "1h"

[[trusted_issuers]]
issuer = "{SVC_IDP}"
jwks_uri = "http://{jwks_addr}/jwks"
subject = "client"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["{GRANT}"]
scopes = ["api"]

[[clients]]
id = "svc-b"
secret = "svc-b-secret"
grant_types = ["client_credentials"]

[[users]]
username = "alice"
password = "wonderland"
"#,
            common::PRELUDE
        ),
    );
    let token_url = gh.url("/api/oauth/token");
    let claims = |extra: Value| {
        let mut c = json!({"iss": IDP, "sub": "alice", "aud": token_url, "iat": now(), "exp": now() + 300, "jti": format!("j-{}", rand_id())});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };

    // A valid assertion: a token for alice, issued to the client.
    let good = idp.sign(&claims(json!({})));
    let (s, t) = exchange(&gh, &good).await;
    assert_eq!(s, 200, "{t}");
    assert!(t.get("refresh_token").is_none());
    let at = t["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            at.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (payload["sub"].as_str(), payload["client_id"].as_str()),
        (Some("alice"), Some("app"))
    );
    assert_eq!(payload["scope"], "api");

    // The same assertion again: its jti is spent.
    let (s, t) = exchange(&gh, &good).await;
    assert_eq!((s, t["error"].as_str()), (400, Some("invalid_grant")), "{t}");

    // The issuer URL as audience is accepted too.
    let (s, t) = exchange(&gh, &idp.sign(&claims(json!({"aud": gh.url("")})))).await;
    assert_eq!(s, 200, "{t}");

    // Every §3 rule.
    let hs_with_public_key = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(idp.kid.clone());
        jsonwebtoken::encode(
            &h,
            &claims(json!({})),
            &EncodingKey::from_secret(&idp.public_pem).unwrap(),
        )
        .unwrap()
    };
    let none_alg = {
        let b64 = |v: &Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims(json!({})))
        )
    };
    let (other, _) = Signer::new(&tempfile::tempdir().unwrap().path().join("x"));
    for (what, assertion) in [
        ("expired", idp.sign(&claims(json!({"exp": now() - 120})))),
        (
            "exp beyond max_assertion_lifetime",
            idp.sign(&claims(json!({"exp": now() + 7200}))),
        ),
        ("no exp", idp.sign(&claims(json!({"exp": null})))),
        (
            "wrong audience",
            idp.sign(&claims(json!({"aud": "https://elsewhere.example/token"}))),
        ),
        ("no audience", idp.sign(&claims(json!({"aud": null})))),
        (
            "unknown issuer",
            idp.sign(&claims(json!({"iss": "https://evil.example"}))),
        ),
        ("unknown user", idp.sign(&claims(json!({"sub": "mallory"})))),
        ("no sub", idp.sign(&claims(json!({"sub": null})))),
        ("no jti", idp.sign(&claims(json!({"jti": null})))),
        ("nbf in the future", idp.sign(&claims(json!({"nbf": now() + 600})))),
        ("iat in the future", idp.sign(&claims(json!({"iat": now() + 600})))),
        ("signed by another key", other.sign(&claims(json!({})))),
        ("HS256 keyed with the public key", hs_with_public_key),
        ("alg none", none_alg),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let (s, t) = exchange(&gh, &assertion).await;
        assert_eq!((s, t["error"].as_str()), (400, Some("invalid_grant")), "{what}: {t}");
    }
    // No assertion at all.
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", GRANT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The second issuer: keys from its jwks_uri, sub names a client.
    let c = json!({"iss": SVC_IDP, "sub": "svc-b", "aud": token_url, "exp": now() + 60, "jti": "svc-1"});
    let (s, t) = exchange(&gh, &svc.sign(&c)).await;
    assert_eq!(s, 200, "{t}");
    let c = json!({"iss": SVC_IDP, "sub": "alice", "aud": token_url, "exp": now() + 60, "jti": "svc-2"});
    let (s, t) = exchange(&gh, &svc.sign(&c)).await;
    assert_eq!(
        (s, t["error"].as_str()),
        (400, Some("invalid_grant")),
        "alice is no client: {t}"
    );

    // Discovery lists the grant.
    let d: Value = client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == GRANT));
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) ^ (now() as u64) << 20
}

fn toml_inline(v: &Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {}", v))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// RFC 7523 §2.2 private_key_jwt at the token and introspection endpoints,
/// with keys registered inline or at a jwks_uri; every failure is a 401
/// invalid_client with a challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_client_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (inline, inline_jwk) = Signer::new(&dir.path().join("inline"));
    let (remote, remote_jwk) = Signer::new(&dir.path().join("remote"));
    let jwks = json!({"keys": [remote_jwk]});
    let jwks_addr =
        serve(axum::Router::new().route("/jwks", get(move || async move { axum::Json(jwks.clone()) }))).await;
    // The key server is on loopback: the operator allows it (client
    // jwks_uris go through the outbound guard).
    let gh = Gatehouse::start(&format!(
        r#"
[outbound]
allow_networks = ["127.0.0.1/32"]

[[clients]]
id = "pkj"
token_endpoint_auth_method = "private_key_jwt"
jwks = {{ keys = [{}] }}
grant_types = ["client_credentials"]
scopes = ["api"]

[[clients]]
id = "pkj-remote"
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "http://{jwks_addr}/jwks"
grant_types = ["client_credentials"]
scopes = ["api"]
"#,
        toml_inline(&inline_jwk)
    ));
    let token_url = gh.url("/api/oauth/token");
    let assertion = |s: &Signer, id: &str, extra: Value| {
        let mut c =
            json!({"iss": id, "sub": id, "aud": token_url, "exp": now() + 60, "jti": format!("a-{}", rand_id())});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        s.sign(&c)
    };
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let url = gh.url(path);
        async move {
            let r = client().post(url).form(&form).send().await.unwrap();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), www, r.json::<Value>().await.unwrap())
        }
    };
    let cc = |a: String| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a),
        ]
    };

    let a = assertion(&inline, "pkj", json!({}));
    let (s, _, t) = post("/api/oauth/token", cc(a.clone())).await;
    assert_eq!(s, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    // Replay of the same assertion.
    let (s, www, t) = post("/api/oauth/token", cc(a)).await;
    assert_eq!((s, t["error"].as_str()), (401, Some("invalid_client")), "{t}");
    assert!(www.is_some());
    // Keys from the jwks_uri.
    let (s, _, t) = post("/api/oauth/token", cc(assertion(&remote, "pkj-remote", json!({})))).await;
    assert_eq!(s, 200, "{t}");
    // Introspection authenticated the same way.
    let mut f = cc(assertion(&inline, "pkj", json!({})));
    f[0] = ("token", access);
    let (s, _, t) = post("/api/oauth/introspect", f).await;
    assert_eq!((s, t["active"].as_bool()), (200, Some(true)), "{t}");

    for (what, a) in [
        (
            "wrong audience",
            assertion(&inline, "pkj", json!({"aud": "https://elsewhere.example"})),
        ),
        ("expired", assertion(&inline, "pkj", json!({"exp": now() - 120}))),
        (
            "lives too long",
            assertion(&inline, "pkj", json!({"exp": now() + 7200})),
        ),
        (
            "iss differs from sub",
            assertion(&inline, "pkj", json!({"iss": "someone"})),
        ),
        ("another client's key", assertion(&remote, "pkj", json!({}))),
        ("unknown client", assertion(&inline, "nobody", json!({}))),
    ] {
        let (s, www, t) = post("/api/oauth/token", cc(a)).await;
        assert_eq!((s, t["error"].as_str()), (401, Some("invalid_client")), "{what}: {t}");
        assert!(www.is_some(), "{what}: 401 without a challenge");
    }
    // Naming the client without proving it is not enough.
    let (s, _, t) = post(
        "/api/oauth/token",
        vec![("grant_type", "client_credentials".into()), ("client_id", "pkj".into())],
    )
    .await;
    assert_eq!((s, t["error"].as_str()), (401, Some("invalid_client")), "{t}");
    // Two methods at once.
    let r = client()
        .post(&token_url)
        .basic_auth("pkj", Some("x"))
        .form(&cc(assertion(&inline, "pkj", json!({}))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let d: Value = client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "private_key_jwt"));
}
