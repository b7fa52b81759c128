//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101)
//! against the real binary: request objects made by jwcrypto
//! (tests/interop/request_object.py) for every refusal — unsigned, HMAC,
//! another key, expired, wrong audience, no or replayed `jti`, another
//! client's — PAR with every client authentication method, single use,
//! clients and servers that require PAR, sealed forms that cannot be
//! altered; and panva's openid-client/oauth4webapi driving PAR, JAR and
//! both together through the login and consent pages
//! (tests/interop/panva/par.mjs).

mod common;

use common::jwcrypto::Jwcrypto;
use common::web::{hidden_fields, Browser};
use common::Gatehouse;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

const CB: &str = "http://127.0.0.1:9000/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92IZVOxRxwmf2bQ9nMlUWtJw64_s";
/// BASE64URL(SHA-256(VERIFIER)).
const CHALLENGE: &str = "UDzg7DBxMzKI63QhKTK2K7AeZbTozPdz8x7zZx-FgkI";

/// Request objects signed by jwcrypto (tests/interop/request_object.py).
trait RequestObjects {
    /// (private JWK, public JWK)
    fn signing_key(&mut self, kty: &str, kid: &str) -> (Value, Value);
    fn sign(&mut self, key: &Value, claims: Value, extra: Value) -> String;
}

impl RequestObjects for Jwcrypto {
    fn signing_key(&mut self, kty: &str, kid: &str) -> (Value, Value) {
        let r = self.ask(json!({"new_key": kty, "kid": kid}));
        (r["key"].clone(), r["public"].clone())
    }

    fn sign(&mut self, key: &Value, claims: Value, extra: Value) -> String {
        self.ask_with(json!({"key": key, "claims": claims}), extra)["jwt"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A JWK as a TOML inline table.
fn toml_jwk(k: &Value) -> String {
    let members: Vec<String> = k
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| format!("{n} = {v}"))
        .collect();
    format!("{{ {} }}", members.join(", "))
}

fn config(public: &Value, extra: &str) -> String {
    let jwks = format!("{{ keys = [ {} ] }}", toml_jwk(public));
    format!(
        r#"
[tokens]
signing_alg = "ES256"
{extra}

[[clients]]
id = "rp"
secret = "rp-secret"
redirect_uris = ["{CB}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "photos"]
audience = ["https://photos.example/", "https://print.example/"]
jwks = {jwks}

[[clients]]
id = "strict"
token_endpoint_auth_method = "private_key_jwt"
redirect_uris = ["{CB}", "http://127.0.0.1:9000/other"]
grant_types = ["authorization_code"]
scopes = ["openid", "photos"]
require_pushed_authorization_requests = true
jwks = {jwks}

[[clients]]
id = "spa"
public = true
redirect_uris = ["{CB}"]
grant_types = ["authorization_code"]
scopes = ["openid", "photos"]

[[users]]
username = "alice"
password = "wonderland"
"#
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn push(gh: &Gatehouse, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut r = common::client().post(gh.url("/api/oauth/par")).form(form);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn code_request(client: &str) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CB),
        ("scope", "openid photos"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn token(gh: &Gatehouse, code: &str) -> (StatusCode, Value) {
    let r = common::client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("rp", Some("rp-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A client assertion (private_key_jwt) for `strict` at `aud`.
fn assertion(jose: &mut Jwcrypto, key: &Value, aud: &str) -> String {
    let n = now();
    jose.sign(
        key,
        json!({"iss": "strict", "sub": "strict", "aud": aud, "exp": n + 60, "iat": n,
               "jti": format!("a-{}", rand_id())}),
        json!({"header": {"typ": "JWT"}}),
    )
}

fn rand_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test]
async fn pushed_requests_are_validated_single_use_and_required_where_configured() {
    let mut jose = Jwcrypto::start("request_object.py");
    let (key, public) = jose.signing_key("EC", "k1");
    let gh = Gatehouse::start(&config(&public, ""));
    let issuer = format!("http://{}", gh.addr);

    // Discovery says what is served.
    let d: Value = common::client()
        .get(gh.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        json!(format!("{issuer}/api/oauth/par"))
    );
    assert_eq!(d["require_pushed_authorization_requests"], json!(false));
    assert_eq!(d["request_parameter_supported"], json!(true));
    assert_eq!(d["request_uri_parameter_supported"], json!(false));
    assert!(d["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("PS256")));

    // client_secret_basic, with a resource indicator.
    let mut req = code_request("rp");
    req.push(("resource", "https://print.example/"));
    let (s, p) = push(&gh, Some(("rp", "rp-secret")), &req).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let uri = p["request_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{uri}");
    assert_eq!(p["expires_in"], json!(60));

    // The browser brings only client_id and request_uri; other query
    // parameters do not count.
    let b = Browser::new(&gh);
    let login = b
        .authorize(&[("client_id", "rp"), ("request_uri", &uri), ("scope", "profile")])
        .await;
    assert!(login.is_login(), "{}", login.html);
    let fields = hidden_fields(&login.html);
    assert!(
        fields.iter().any(|(k, v)| k == "scope" && v == "openid photos"),
        "{fields:?}"
    );

    // The sealed form cannot be altered on its way through sign-in.
    let tampered = b
        .submit(
            &login,
            &[
                ("scope", "openid photos profile"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("action", "login"),
            ],
            &["scope"],
        )
        .await;
    assert_eq!(tampered.status, StatusCode::BAD_REQUEST, "{}", tampered.html);
    assert!(tampered.html.contains("altered"), "{}", tampered.html);

    let consent = b.login(&login, "alice", "wonderland").await;
    let back = b.allow(&consent).await.redirect_params();
    assert_eq!(back["state"], "st-1");
    assert_eq!(back["iss"], issuer);
    let (s, t) = token(&gh, &back["code"]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["aud"],
        json!(["https://print.example/"])
    );

    // Single use: the same URI again is refused, on the client's redirect URI.
    let again = b.authorize(&[("client_id", "rp"), ("request_uri", &uri)]).await;
    let e = again.redirect_params();
    assert_eq!(e["error"], "invalid_request_uri", "{e:?}");
    // Unknown, foreign-looking, or another client's.
    let (_, p2) = push(&gh, Some(("rp", "rp-secret")), &code_request("rp")).await;
    let uri2 = p2["request_uri"].as_str().unwrap();
    for (client, u) in [
        ("rp", "urn:ietf:params:oauth:request_uri:nope"),
        ("rp", "https://evil.example/request.jwt"),
        ("spa", uri2),
    ] {
        let r = Browser::new(&gh)
            .authorize(&[("client_id", client), ("request_uri", u)])
            .await;
        assert_eq!(r.redirect_params()["error"], "invalid_request_uri", "{client} {u}");
    }
    // …and the other client's attempt did not spend it.
    let ok = Browser::new(&gh)
        .authorize(&[("client_id", "rp"), ("request_uri", uri2)])
        .await;
    assert!(ok.is_login(), "{}", ok.html);

    // Errors come back from the PAR endpoint itself, as JSON.
    let mut bad_scope = code_request("rp");
    bad_scope[3] = ("scope", "openid admin");
    let bad_redirect: Vec<_> = code_request("rp")
        .into_iter()
        .map(|(k, v)| {
            if k == "redirect_uri" {
                (k, "https://evil.example/cb")
            } else {
                (k, v)
            }
        })
        .collect();
    let mut bad_resource = code_request("rp");
    bad_resource.push(("resource", "https://evil.example/"));
    let mut nested = code_request("rp");
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    for (form, want) in [
        (bad_scope, "invalid_scope"),
        (bad_redirect, "invalid_request"),
        (bad_resource, "invalid_target"),
        (nested, "invalid_request"),
    ] {
        let (s, e) = push(&gh, Some(("rp", "rp-secret")), &form).await;
        assert_eq!((s, e["error"].as_str()), (StatusCode::BAD_REQUEST, Some(want)), "{e}");
    }
    let (s, e) = push(&gh, Some(("rp", "wrong")), &code_request("rp")).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (s, _) = push(&gh, None, &code_request("rp")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // client_secret_post, and a public client (none) with PKCE.
    let mut post = code_request("rp");
    post.push(("client_secret", "rp-secret"));
    assert_eq!(push(&gh, None, &post).await.0, StatusCode::CREATED);
    let (s, p) = push(&gh, None, &code_request("spa")).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");

    // A client that must push: its plain request is refused, a pushed one
    // (private_key_jwt at the PAR endpoint) works.
    let plain = Browser::new(&gh).authorize(&code_request("strict")).await;
    let e = plain.redirect_params();
    assert_eq!(e["error"], "invalid_request");
    assert!(e["error_description"].contains("pushed"), "{e:?}");
    let a = assertion(&mut jose, &key, &format!("{issuer}/api/oauth/token"));
    let mut pk = code_request("strict");
    pk.push((
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ));
    pk.push(("client_assertion", &a));
    let (s, p) = push(&gh, None, &pk).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let b = Browser::new(&gh);
    let login = b
        .authorize(&[
            ("client_id", "strict"),
            ("request_uri", p["request_uri"].as_str().unwrap()),
        ])
        .await;
    assert!(login.is_login(), "{}", login.html);
    // Without its seal the form is a plain request again, which is refused.
    let unsealed = b
        .submit(
            &login,
            &[("username", "alice"), ("password", "wonderland"), ("action", "login")],
            &["sealed"],
        )
        .await;
    assert_eq!(unsealed.redirect_params()["error"], "invalid_request");
    // Sign-in and consent keep the pushed standing (the form is sealed).
    let consent = b.login(&login, "alice", "wonderland").await;
    assert!(consent.is_consent(), "{}", consent.html);
    let back = b.allow(&consent).await.redirect_params();
    assert!(back.contains_key("code"), "{back:?}");
}

#[tokio::test]
async fn server_wide_par_requirement() {
    let mut jose = Jwcrypto::start("request_object.py");
    let (_, public) = jose.signing_key("EC", "k1");
    let gh = Gatehouse::start(&config(&public, "require_pushed_authorization_requests = true"));
    let d: Value = common::client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["require_pushed_authorization_requests"], json!(true));
    let e = Browser::new(&gh).authorize(&code_request("rp")).await.redirect_params();
    assert_eq!(e["error"], "invalid_request");
    let (s, p) = push(&gh, Some(("rp", "rp-secret")), &code_request("rp")).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let login = Browser::new(&gh)
        .authorize(&[("client_id", "rp"), ("request_uri", p["request_uri"].as_str().unwrap())])
        .await;
    assert!(login.is_login(), "{}", login.html);
}

#[tokio::test]
async fn request_objects_are_verified_and_alone_count() {
    let mut jose = Jwcrypto::start("request_object.py");
    let (key, public) = jose.signing_key("EC", "k1");
    let (other, _) = jose.signing_key("EC", "k1");
    let gh = Gatehouse::start(&config(&public, ""));
    let issuer = format!("http://{}", gh.addr);
    let n = now();
    let base = |jti: &str| {
        json!({"iss": "rp", "aud": issuer, "exp": n + 300, "nbf": n - 5, "iat": n, "jti": jti,
               "client_id": "rp", "response_type": "code", "redirect_uri": CB, "scope": "openid photos",
               "state": "from-object", "nonce": "n-1", "code_challenge": CHALLENGE,
               "code_challenge_method": "S256", "max_age": 600,
               "resource": ["https://photos.example/", "https://print.example/"]})
    };
    // A good one: its parameters, not the query's, make the request.
    let jwt = jose.sign(&key, base("j-1"), json!({}));
    let b = Browser::new(&gh);
    let login = b
        .authorize(&[
            ("client_id", "rp"),
            ("request", &jwt),
            ("state", "from-query"),
            ("scope", "profile"),
        ])
        .await;
    assert!(login.is_login(), "{}", login.html);
    let consent = b.login(&login, "alice", "wonderland").await;
    let back = b.allow(&consent).await.redirect_params();
    assert_eq!(back["state"], "from-object");
    let (s, t) = token(&gh, &back["code"]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["aud"],
        json!(["https://photos.example/", "https://print.example/"])
    );
    assert_eq!(t["scope"], "openid photos");

    // Every refusal is invalid_request_object, sent to the redirect URI.
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = base(&rand_id());
        f(&mut c);
        c
    };
    let expired = with(&|c| {
        c["exp"] = json!(n - 120);
        c["nbf"] = json!(n - 200);
    });
    let wrong_aud = with(&|c| c["aud"] = json!("https://other.example"));
    let wrong_iss = with(&|c| c["iss"] = json!("spa"));
    let no_jti = with(&|c| {
        c.as_object_mut().unwrap().remove("jti");
    });
    let not_yet = with(&|c| c["nbf"] = json!(n + 600));
    let too_long = with(&|c| c["exp"] = json!(n + 7200));
    let foreign_client = with(&|c| c["client_id"] = json!("spa"));
    let nested = with(&|c| c["request_uri"] = json!("urn:ietf:params:oauth:request_uri:x"));
    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", jwt.clone()),
        ("another key", jose.sign(&other, base(&rand_id()), json!({}))),
        (
            "unsigned",
            jose.ask(json!({"alg": "none", "claims": base(&rand_id())}))["jwt"]
                .as_str()
                .unwrap()
                .into(),
        ),
        (
            "HMAC",
            jose.sign(
                &json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}),
                base(&rand_id()),
                json!({"alg": "HS256"}),
            ),
        ),
        (
            "typ",
            jose.sign(&key, base(&rand_id()), json!({"header": {"typ": "dpop+jwt"}})),
        ),
        ("expired", jose.sign(&key, expired, json!({}))),
        ("wrong aud", jose.sign(&key, wrong_aud, json!({}))),
        ("wrong iss", jose.sign(&key, wrong_iss, json!({}))),
        ("no jti", jose.sign(&key, no_jti, json!({}))),
        ("nbf ahead", jose.sign(&key, not_yet, json!({}))),
        ("exp too far", jose.sign(&key, too_long, json!({}))),
        ("client_id", jose.sign(&key, foreign_client, json!({}))),
        ("nested request_uri", jose.sign(&key, nested, json!({}))),
        ("garbage", "a.b.c".into()),
    ];
    for (what, jwt) in cases {
        let r = Browser::new(&gh)
            .authorize(&[("client_id", "rp"), ("request", &jwt)])
            .await;
        let e = r.redirect_params();
        assert_eq!(e["error"], "invalid_request_object", "{what}: {e:?}");
    }

    // The same object pushed (JAR at PAR), then used by request_uri.
    let jwt = jose.sign(&key, base(&rand_id()), json!({}));
    let (s, p) = push(
        &gh,
        Some(("rp", "rp-secret")),
        &[("request", &jwt), ("scope", "profile")],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let b = Browser::new(&gh);
    let login = b
        .authorize(&[("client_id", "rp"), ("request_uri", p["request_uri"].as_str().unwrap())])
        .await;
    assert!(login.is_login(), "{}", login.html);
    // Consent is remembered from the first flow: straight back with a code.
    let back = b.login(&login, "alice", "wonderland").await.redirect_params();
    let (s, t) = token(&gh, &back["code"]).await;
    assert_eq!((s, t["scope"].as_str()), (StatusCode::OK, Some("openid photos")), "{t}");
    // A bad object at the PAR endpoint is a JSON error there.
    let stale = jose.sign(&other, base(&rand_id()), json!({}));
    let (s, e) = push(&gh, Some(("rp", "rp-secret")), &[("request", &stale)]).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request_object")),
        "{e}"
    );
}

#[test]
fn openid_client_and_oauth4webapi_push_and_sign_requests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/panva");
    assert!(
        std::path::Path::new(dir).join("node_modules/openid-client").exists(),
        "run ./test.sh (it installs openid-client and oauth4webapi from npm)"
    );
    let mut jose = Jwcrypto::start("request_object.py");
    let (key, public) = jose.signing_key("EC", "k1");
    let gh = Gatehouse::start(&config(&public, ""));
    let out = Command::new("node")
        .arg("par.mjs")
        .current_dir(dir)
        .env("ISSUER", format!("http://{}", gh.addr))
        .env("PRIVATE_JWK", key.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "{stdout}\n{stderr}\n--- gatehouse log ---\n{}",
        gh.log()
    );
}
