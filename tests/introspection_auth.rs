//! `auth = { kind = "introspection" }`: a second gatehouse plays the other
//! authorization server (opaque tokens, RFC 7662 at /api/oauth/introspect),
//! behind a small counting proxy that can also go down, hang or answer
//! garbage. The gateway accepts its tokens, asks once per token per cache
//! period (concurrent misses included), sees a revocation when the cache
//! time is up, never trusts an answer past the token's `exp`, and answers
//! 503 for tokens it has not seen while the other server is unusable.

mod common;

use axum::extract::State;
use axum::response::IntoResponse;
use common::{client, serve, Gatehouse};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OK: u8 = 0;
const DOWN: u8 = 1;
const HANG: u8 = 2;
const GARBAGE: u8 = 3;

#[derive(Clone)]
struct Proxy {
    to: String,
    calls: Arc<AtomicU32>,
    mode: Arc<AtomicU8>,
}

/// Forwards the introspection POST to the other server, counting calls.
async fn forward(State(p): State<Proxy>, headers: axum::http::HeaderMap, body: String) -> axum::response::Response {
    p.calls.fetch_add(1, Ordering::SeqCst);
    match p.mode.load(Ordering::SeqCst) {
        DOWN => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return "late".into_response();
        }
        GARBAGE => return ([("content-type", "application/json")], r#"{"ok":1}"#).into_response(),
        _ => {}
    }
    let r = client()
        .post(&p.to)
        .header("authorization", headers["authorization"].to_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, [("content-type", "application/json")], text).into_response()
}

struct Setup {
    other: Gatehouse,
    gw: Gatehouse,
    proxy: Proxy,
    as_url: String,
}

async fn setup(cache: &str) -> Setup {
    let other = Gatehouse::start_full(
        r#"listen = "127.0.0.1:0"
issuer = "http://other-as.test"

[store]
url = "memory://"

[tokens]
access_format = "opaque"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["client_credentials"]
scopes = ["photos", "videos"]

[[clients]]
id = "brief"
secret = "brief-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]
access_ttl = "2s"

[[clients]]
id = "gateway"
secret = "gateway-secret"
grant_types = ["client_credentials"]
"#,
    );
    let proxy = Proxy {
        to: other.url("/api/oauth/introspect"),
        calls: Arc::new(AtomicU32::new(0)),
        mode: Arc::new(AtomicU8::new(OK)),
    };
    let addr = serve(axum::Router::new().fallback(forward).with_state(proxy.clone())).await;
    let gw = Gatehouse::start(&format!(
        r#"[[apis]]
path = "/photos"
auth = {{ kind = "introspection", url = "http://{addr}/introspect", client_id = "gateway", client_secret = "gateway-secret", scopes = ["photos"], cache = "{cache}", timeout = "1s", forward_claims = {{ client_id = "x-client" }} }}
backend = {{ mock = {{ body = "photos" }} }}

[[apis]]
path = "/videos"
auth = {{ kind = "introspection", url = "http://{addr}/introspect", client_id = "gateway", client_secret = "gateway-secret", scopes = ["videos"], cache = "{cache}" }}
backend = {{ mock = {{ body = "videos" }} }}
"#
    ));
    let as_url = other.url("");
    Setup {
        other,
        gw,
        proxy,
        as_url,
    }
}

async fn token(s: &Setup, id: &str, secret: &str, scope: &str) -> String {
    s.other.cc_token(id, secret, scope).await
}

async fn call(s: &Setup, path: &str, token: &str) -> reqwest::Response {
    client().get(s.gw.url(path)).bearer_auth(token).send().await.unwrap()
}

fn calls(s: &Setup) -> u32 {
    s.proxy.calls.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_of_another_server_are_introspected_once_per_period() {
    let s = setup("2s").await;
    let t = token(&s, "app", "app-secret", "photos").await;
    // 20 requests at once for a token never seen: one call.
    let all: Vec<_> = (0..20)
        .map(|_| {
            let url = s.gw.url("/photos/1");
            let t = t.clone();
            tokio::spawn(async move { client().get(url).bearer_auth(t).send().await.unwrap().status() })
        })
        .collect();
    for a in all {
        assert_eq!(a.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(calls(&s), 1, "concurrent misses share one call");
    let r = call(&s, "/photos/1", &t).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "photos");
    assert_eq!(calls(&s), 1, "cached");
    // Scope the token lacks: 403 with the RFC 6750 challenge.
    let r = call(&s, "/videos/1", &t).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    // A made-up token: 401, and asked about once per period, not per request.
    for _ in 0..5 {
        let r = call(&s, "/photos/1", "made-up-token").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }
    // One for /videos (its own cache) and one for the made-up token.
    assert_eq!(calls(&s), 3);

    // Revoked at the other server: still accepted until the cache time is
    // up, then refused.
    let r = client()
        .post(format!("{}/api/oauth/revoke", s.as_url))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", t.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        call(&s, "/photos/1", &t).await.status(),
        StatusCode::OK,
        "within the cache time"
    );
    let revoked_at = Instant::now();
    loop {
        let st = call(&s, "/photos/1", &t).await.status();
        if st == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(st, StatusCode::OK);
        assert!(revoked_at.elapsed() < Duration::from_secs(4), "revocation never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_never_trusted_past_the_tokens_exp() {
    let s = setup("30s").await;
    // access_ttl 2 s, cache 30 s.
    let t = token(&s, "brief", "brief-secret", "photos").await;
    assert_eq!(call(&s, "/photos/1", &t).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = call(&s, "/photos/1", &t).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_server_means_503_for_tokens_not_seen() {
    let s = setup("30s").await;
    let seen = token(&s, "app", "app-secret", "photos").await;
    assert_eq!(call(&s, "/photos/1", &seen).await.status(), StatusCode::OK);
    for (mode, what) in [(DOWN, "down"), (GARBAGE, "garbage"), (HANG, "hanging")] {
        s.proxy.mode.store(mode, Ordering::SeqCst);
        let fresh = token(&s, "app", "app-secret", "photos").await;
        let started = Instant::now();
        let r = call(&s, "/photos/1", &fresh).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: the 1 s timeout holds"
        );
        // A token answered before is still accepted from the cache.
        assert_eq!(call(&s, "/photos/1", &seen).await.status(), StatusCode::OK, "{what}");
        // Nothing was cached from the failure: back to normal, accepted.
        s.proxy.mode.store(OK, Ordering::SeqCst);
        assert_eq!(call(&s, "/photos/1", &fresh).await.status(), StatusCode::OK, "{what}");
    }
}

/// private_key_jwt: the gateway signs an assertion per call with its own
/// key (gatehouse keygen, P-256), which the other server knows from the
/// client's `jwks`; an assertion is never reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_authenticates_with_private_key_jwt() {
    let other_dir = tempfile::tempdir().unwrap();
    let keys = common::keygen("ES256", &other_dir.path().join("gw-key"));
    let jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("public.jwk.json")).unwrap()).unwrap();
    let inline: Vec<String> = jwk
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let other = Gatehouse::start_in(
        other_dir,
        &format!(
            r#"listen = "127.0.0.1:0"
issuer = "http://other-as.test"

[store]
url = "memory://"

[tokens]
access_format = "opaque"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[clients]]
id = "gateway"
token_endpoint_auth_method = "private_key_jwt"
jwks = {{ keys = [{{ {} }}] }}
grant_types = ["client_credentials"]
"#,
            inline.join(", ")
        ),
    );
    let gw = Gatehouse::start(&format!(
        r#"[[apis]]
path = "/photos"
auth = {{ kind = "introspection", url = "{}", issuer = "http://other-as.test", client_id = "gateway", private_key = "{}", scopes = ["photos"], cache = "1ms" }}
backend = {{ mock = {{ body = "photos" }} }}
"#,
        other.url("/api/oauth/introspect"),
        keys.join("private.pem").display()
    ));
    let t = &other.cc_token("app", "app-secret", "photos").await;
    // Each call (the cache is 1 ms) carries a fresh assertion: a reused
    // jti would be refused by the other server, and the gateway say 503.
    for _ in 0..3 {
        let r = client().get(gw.url("/photos/1")).bearer_auth(t).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", gw.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        client()
            .get(gw.url("/photos/1"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn check_refuses_bad_introspection_settings() {
    let cases = [
        (
            r#"auth = { kind = "introspection", client_id = "g", client_secret = "s" }"#,
            "needs url",
        ),
        (
            r#"auth = { kind = "introspection", url = "ftp://as/x", client_id = "g", client_secret = "s" }"#,
            "is not an http(s) URL",
        ),
        (
            r#"auth = { kind = "introspection", url = "https://as/x", client_secret = "s" }"#,
            "needs client_id",
        ),
        (
            r#"auth = { kind = "introspection", url = "https://as/x", client_id = "g" }"#,
            "exactly one of client_secret and private_key",
        ),
        (
            r#"auth = { kind = "introspection", url = "https://as/x", client_id = "g", client_secret = "s", jwks_uri = "https://k" }"#,
            "does not take",
        ),
        (
            r#"auth = { kind = "introspection", url = "https://as/x", client_id = "g", private_key = "missing.pem" }"#,
            "private_key",
        ),
        (
            r#"auth = { kind = "oauth2", url = "https://as/x" }"#,
            "of auth kind \"introspection\" only",
        ),
    ];
    for (auth, want) in cases {
        common::assert_check_refuses(
            &format!("[[apis]]\npath = \"/a\"\n{auth}\nbackend = {{ mock = {{}} }}\n"),
            want,
        );
    }
}
