//! The Tencent scenario end to end (SPEC §1A): an external token service signs
//! RS256 JWTs with a key made by `gatehouse keygen`; gatehouse exposes that
//! service as an authorization API route and protects business APIs with the
//! service's public JWK.

mod common;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{client, keygen, serve, Gatehouse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ISS: &str = "https://tokens.example";
const AUD: &str = "business";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A key pair written by the real `gatehouse keygen`.
#[derive(Clone)]
struct Key {
    dir: PathBuf,
    kid: String,
    enc: EncodingKey,
    public_pem: Vec<u8>,
    jwk: Value,
}

impl Key {
    fn new(dir: &Path) -> Key {
        keygen("RS256", dir);
        let jwk: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("public.jwk.json")).unwrap()).unwrap();
        Key {
            dir: dir.to_path_buf(),
            kid: jwk["kid"].as_str().unwrap().to_string(),
            enc: EncodingKey::from_rsa_pem(&std::fs::read(dir.join("private.pem")).unwrap()).unwrap(),
            public_pem: std::fs::read(dir.join("public.pem")).unwrap(),
            jwk,
        }
    }

    fn jwk_path(&self) -> String {
        self.dir.join("public.jwk.json").display().to_string()
    }

    /// RS256 with this key; `kid` in the header only when asked.
    fn sign(&self, claims: &Value, with_kid: bool) -> String {
        let mut h = Header::new(Algorithm::RS256);
        if with_kid {
            h.kid = Some(self.kid.clone());
        }
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }
}

fn good_claims() -> Value {
    json!({"sub": "alice", "iss": ISS, "aud": AUD, "iat": now(), "exp": now() + 600})
}

fn with(mut claims: Value, key: &str, v: Value) -> Value {
    claims[key] = v;
    claims
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The external token service of the Tencent guide: `/token?user=…` answers
/// a signed RS256 JWT, `/jwks.json` publishes the current public keys.
#[derive(Clone)]
struct TokenService {
    key: Arc<Mutex<Key>>,
    jwks_fetches: Arc<AtomicUsize>,
}

async fn issue(State(s): State<TokenService>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let user = q.get("user").cloned().unwrap_or_else(|| "alice".into());
    let key = s.key.lock().unwrap().clone();
    let claims = json!({"sub": user, "iss": ISS, "aud": AUD, "iat": now(), "exp": now() + 600});
    // Like the guide's Python service: no kid unless keys rotate via JWKS.
    Json(json!({"access_token": key.sign(&claims, q.contains_key("kid")), "token_type": "Bearer", "expires_in": 600}))
}

async fn jwks(State(s): State<TokenService>) -> Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let key = s.key.lock().unwrap().clone();
    Json(json!({"keys": [key.jwk]}))
}

async fn start_token_service(key: Key) -> (std::net::SocketAddr, TokenService) {
    let state = TokenService {
        key: Arc::new(Mutex::new(key)),
        jwks_fetches: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/token", get(issue).post(issue))
        .route("/jwks.json", get(jwks))
        .with_state(state.clone());
    (serve(app).await, state)
}

/// Upstream that answers the request headers it received, as JSON lists.
async fn start_echo() -> std::net::SocketAddr {
    async fn echo(headers: HeaderMap) -> Json<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &headers {
            out.entry(k.to_string())
                .or_default()
                .push(v.to_str().unwrap_or("<binary>").to_string());
        }
        Json(out)
    }
    serve(Router::new().fallback(echo)).await
}

fn business_apis(key: &Key, token_service: std::net::SocketAddr) -> String {
    let jwk = key.jwk_path();
    format!(
        r#"
# The authorization API: no auth, the external token service as upstream.
[[apis]]
name = "authorization"
path = "/token"
backend = {{ upstream = "http://{token_service}" }}

[[apis]]
name = "in-header"
path = "/work/header"
methods = ["GET"]
auth = {{ kind = "jwt", jwk = "{jwk}", location = "header" }}
backend = {{ mock = {{ body = "hello world" }} }}

[[apis]]
name = "in-query"
path = "/work/query"
auth = {{ kind = "jwt", jwk = "{jwk}", location = "query", name = "access_token" }}
backend = {{ mock = {{ body = "hello world" }} }}

[[apis]]
name = "in-cookie"
path = "/work/cookie"
auth = {{ kind = "jwt", jwk = "{jwk}", location = "cookie", name = "id_token" }}
backend = {{ mock = {{ body = "hello world" }} }}

[[apis]]
name = "strict"
path = "/strict"
auth = {{ kind = "jwt", jwk = "{jwk}", issuer = "{ISS}", audience = "{AUD}" }}
backend = {{ mock = {{ body = "hello world" }} }}
"#
    )
}

async fn body(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn tencent_scenario_token_through_gateway_then_hello_world_in_every_location() {
    let keys = tempfile::tempdir().unwrap();
    let key = Key::new(keys.path());
    let (ts, _) = start_token_service(key.clone()).await;
    let gh = Gatehouse::start(&business_apis(&key, ts));
    let c = client();

    // The token comes through the gateway's authorization API route.
    let r = c.post(gh.url("/token?user=bob")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.split('.').count(), 3);

    let cases = [
        c.get(gh.url("/work/header")).bearer_auth(&token),
        c.get(gh.url("/work/header/sub/path"))
            .header("Authorization", format!("Bearer id_token=\"{token}\"")),
        c.get(gh.url(&format!("/work/query?x=1&access_token={token}"))),
        c.get(gh.url("/work/cookie"))
            .header("Cookie", format!("theme=dark; id_token={token}; lang=en")),
        c.get(gh.url("/strict")).bearer_auth(&token),
    ];
    for rb in cases {
        let req = rb.build().unwrap();
        let url = req.url().clone();
        let (status, text) = body(c.execute(req).await.unwrap()).await;
        assert_eq!((status, text.as_str()), (200, "hello world"), "{url}");
    }

    // The token is only good where it is looked for.
    let r = c.get(gh.url("/work/query")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(gh.url(&format!("/work/header?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

fn challenge(description: &str) -> String {
    format!("Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{description}\"")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_get_401_with_rfc6750_challenges() {
    let keys = tempfile::tempdir().unwrap();
    let key = Key::new(&keys.path().join("good"));
    let other = Key::new(&keys.path().join("other"));
    let (ts, _) = start_token_service(key.clone()).await;
    let gh = Gatehouse::start(&business_apis(&key, ts));
    let c = client();
    let url = gh.url("/strict");

    // Sanity: the good token passes the strict route, with and without kid.
    for with_kid in [false, true] {
        let r = c
            .get(&url)
            .bearer_auth(key.sign(&good_claims(), with_kid))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // No token: 401 and a challenge with no error code (RFC 6750 §3.1).
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");

    let now = now();
    // Same claims, signed by another key that claims our kid.
    let mut forged_header = Header::new(Algorithm::RS256);
    forged_header.kid = Some(key.kid.clone());
    let bad_signature = jsonwebtoken::encode(&forged_header, &good_claims(), &other.enc).unwrap();
    // Payload swapped after signing: the signature no longer matches.
    let good = key.sign(&good_claims(), true);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(good_claims(), "sub", json!("admin"))),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good_claims())
    );
    // HS256 with the RSA public key as the HMAC secret (alg confusion),
    // with and without our kid.
    let hs_key = EncodingKey::from_secret(&key.public_pem).unwrap();
    let hs_plain = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good_claims(), &hs_key).unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(key.kid.clone());
    let hs_kid = jsonwebtoken::encode(&hs_header, &good_claims(), &hs_key).unwrap();
    let mut unknown_kid_header = Header::new(Algorithm::RS256);
    unknown_kid_header.kid = Some("no-such-key".into());
    let unknown_kid = jsonwebtoken::encode(&unknown_kid_header, &good_claims(), &key.enc).unwrap();
    let huge = format!("{}.{}.{}", "e".repeat(100), "a".repeat(32 * 1024), "s".repeat(300));

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            key.sign(&with(good_claims(), "exp", json!(now - 120)), true),
            "the access token expired",
        ),
        (
            "not yet valid",
            key.sign(&with(good_claims(), "nbf", json!(now + 300)), true),
            "the access token is not valid yet",
        ),
        ("bad signature", bad_signature, "the access token signature is invalid"),
        ("tampered payload", tampered, "the access token signature is invalid"),
        ("alg=none", alg_none, "the access token is malformed"),
        (
            "HS256 with the RSA public key",
            hs_plain,
            "the access token algorithm is not allowed",
        ),
        (
            "HS256 with the RSA public key and our kid",
            hs_kid,
            "the access token algorithm is not allowed",
        ),
        (
            "wrong iss",
            key.sign(&with(good_claims(), "iss", json!("https://evil.example")), true),
            "the access token issuer is not accepted",
        ),
        (
            "wrong aud",
            key.sign(&with(good_claims(), "aud", json!("someone-else")), true),
            "the access token audience is not accepted",
        ),
        (
            "no exp",
            key.sign(&json!({"sub": "alice", "iss": ISS, "aud": AUD}), true),
            "the access token lacks a required claim",
        ),
        (
            "unknown kid",
            unknown_kid,
            "the access token was signed by an unknown key",
        ),
        ("garbage", "not-a-jwt".into(), "the access token is malformed"),
        ("garbage with dots", "a.b.c".into(), "the access token is malformed"),
        ("32 KiB", huge, "the access token is too large"),
    ];
    for (what, token, description) in cases {
        let r = c.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            challenge(description),
            "{what}"
        );
        let j: Value = r.json().await.unwrap();
        assert_eq!(j["error"], "invalid_token", "{what}");
    }

    // A 32 KiB Authorization header that is not even a bearer token (heads
    // beyond [server] max_header_bytes, 64 KiB, get 431 before any policy).
    let r = c
        .get(&url)
        .header("Authorization", format!("Basic {}", "A".repeat(32 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        challenge("the access token is malformed")
    );

    // A token in the query on the cookie route is "no token", not a bad one.
    let r = c
        .get(gh.url(&format!("/work/cookie?access_token={good}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");

    // Rejections were counted by reason.
    let m = c.get(gh.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for reason in [
        "missing",
        "expired",
        "bad_signature",
        "algorithm_not_allowed",
        "too_large",
    ] {
        assert!(
            m.lines().any(|l| l.starts_with("gatehouse_auth_failures_total{")
                && l.contains("route=\"strict\"")
                && l.contains(&format!("reason=\"{reason}\""))),
            "no auth failure counted for {reason}:\n{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_uri_is_refetched_on_unknown_kid_and_rate_limited() {
    let keys = tempfile::tempdir().unwrap();
    let first = Key::new(&keys.path().join("k1"));
    let second = Key::new(&keys.path().join("k2"));
    assert_ne!(first.kid, second.kid);
    let (ts, svc) = start_token_service(first.clone()).await;
    // The default jwks_min_refresh (10 s): a rotation right after the first
    // fetch must still be picked up at once.
    let gh = Gatehouse::start(&format!(
        r#"
[[apis]]
name = "token"
path = "/token"
backend = {{ upstream = "http://{ts}" }}

[[apis]]
name = "rotating"
path = "/rotating"
auth = {{ kind = "jwt", jwks_uri = "http://{ts}/jwks.json" }}
backend = {{ mock = {{}} }}
"#
    ));
    let c = client();
    let token = |kid: bool| {
        let c = c.clone();
        let url = gh.url(if kid { "/token?kid=1" } else { "/token" });
        async move {
            let j: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            j["access_token"].as_str().unwrap().to_string()
        }
    };

    let t1 = token(true).await;
    let r = c.get(gh.url("/rotating")).bearer_auth(&t1).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello world");
    assert_eq!(svc.jwks_fetches.load(Ordering::SeqCst), 1);

    // The service rotates to a new key with a new kid, immediately; twenty
    // requests with the new kid arrive together and share one refetch.
    *svc.key.lock().unwrap() = second.clone();
    let t2 = token(true).await;
    assert!(t2 != t1);
    let calls = (0..20).map(|_| {
        let (c, url, t2) = (c.clone(), gh.url("/rotating"), t2.clone());
        async move { c.get(url).bearer_auth(&t2).send().await.unwrap().status() }
    });
    for status in futures_util::future::join_all(calls).await {
        assert_eq!(
            status, 200,
            "the gateway should refetch the JWKS for the new kid at once"
        );
    }
    assert_eq!(
        svc.jwks_fetches.load(Ordering::SeqCst),
        2,
        "concurrent requests share one fetch"
    );

    // Garbage kids: what is left of the burst (one refetch), then nothing
    // until the bucket refills (one per jwks_min_refresh).
    let mut h = Header::new(Algorithm::RS256);
    for i in 0..5 {
        h.kid = Some(format!("bogus-{i}"));
        let t = jsonwebtoken::encode(&h, &good_claims(), &second.enc).unwrap();
        let r = c.get(gh.url("/rotating")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["www-authenticate"].to_str().unwrap(),
            challenge("the access token was signed by an unknown key")
        );
    }
    assert_eq!(svc.jwks_fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_claims_reach_upstream_and_client_copies_are_replaced() {
    let keys = tempfile::tempdir().unwrap();
    let key = Key::new(keys.path());
    let echo = start_echo().await;
    let gh = Gatehouse::start(&format!(
        r#"
[[apis]]
name = "echo"
path = "/echo"
auth = {{ kind = "jwt", jwk = "{}", forward_claims = {{ sub = "X-Auth-Sub", aud = "X-Auth-Aud" }} }}
backend = {{ upstream = "http://{echo}" }}
"#,
        key.jwk_path()
    ));
    let c = client();
    let r = c
        .get(gh.url("/echo/me"))
        .bearer_auth(key.sign(&good_claims(), false))
        .header("X-Auth-Sub", "root")
        .header("X-Auth-Aud", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["x-auth-sub"], json!(["alice"]));
    assert_eq!(h["x-auth-aud"], json!([AUD]));

    // A token without the claim: the client's header still never passes.
    let r = c
        .get(gh.url("/echo/me"))
        .bearer_auth(key.sign(&json!({"exp": now() + 60, "aud": AUD}), false))
        .header("X-Auth-Sub", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert!(h.get("x-auth-sub").is_none(), "{h}");
    assert_eq!(h["x-auth-aud"], json!([AUD]));

    // Without a token the request does not reach the upstream.
    let r = c
        .get(gh.url("/echo/me"))
        .header("X-Auth-Sub", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_is_404_json_and_wrong_method_is_405_with_allow() {
    let keys = tempfile::tempdir().unwrap();
    let key = Key::new(keys.path());
    let gh = Gatehouse::start(&format!(
        r#"
[[apis]]
path = "/work"
methods = ["GET", "head"]
auth = {{ kind = "jwt", jwk = "{}" }}
backend = {{ mock = {{}} }}

[[apis]]
path = "/work/open"
backend = {{ mock = {{ status = 201, body = "open", headers = {{ x-mock = "1" }} }} }}
"#,
        key.jwk_path()
    ));
    let c = client();
    for path in ["/nowhere", "/workers", "/"] {
        let r = c.get(gh.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let j: Value = r.json().await.unwrap();
        assert_eq!(j["error"], "not_found");
    }
    // Method is checked before auth: no token needed to learn it is wrong.
    let r = c.post(gh.url("/work/x")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["error"], "method_not_allowed");
    // Longest prefix wins: /work/open has its own (open) backend.
    let r = c.delete(gh.url("/work/open/1")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-mock"], "1");
    assert_eq!(r.text().await.unwrap(), "open");
    let r = c.get(gh.url("/work")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics() {
    let gh = Gatehouse::start(
        r#"
[[apis]]
name = "hello"
path = "/hello"
auth = { kind = "jwt", jwk = { kty = "RSA", e = "AQAB", n = "43nSuC6lmGLogEPgFVwaaxAmPDzmZcocRB4Jed_dHc-sV7rcAcNB0iHyuGfNkfOAE2uhHVjdXuO6DBYGz4pnTwRZ5_wFrW0DlrlJQAXSvg6B2N1uda_aqySNw3rrvdh38rVG7HxFmyPbLXcpJtyfkiRNyZ1WhSpH0NciIRrFbW2mKRtOZsBGfBgmNqPGcGrMA71cuqNAQ9RMKmAF37iGXkx0tWMBQ_PL2aviHhtsiPbT3zIO7qUG3cleBHnS61kid3K8F38z9-5Hj-1zdTIP8iS4rAt4FmhvKvtOocRPYGq0W_dLLxmi4DYgIV2GJE93WyZ1EUvgRGhpcHvyT65z4w" } }
backend = { mock = {} }

[[apis]]
name = "open"
path = "/open"
backend = { mock = {} }
"#,
    );
    let c = client();
    for (p, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = c.get(gh.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert_eq!(r.json::<Value>().await.unwrap()["status"], status, "{p}");
    }
    assert_eq!(c.get(gh.url("/open")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(gh.url("/hello")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(gh.url("/nope")).send().await.unwrap().status(), 404);
    let r = c.get(gh.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let m = r.text().await.unwrap();
    let has = |prefix: &str, parts: &[&str]| {
        m.lines()
            .any(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has("gatehouse_requests_total{", &["route=\"open\"", "status=\"200\""]),
        "{m}"
    );
    assert!(
        has("gatehouse_requests_total{", &["route=\"hello\"", "status=\"401\""]),
        "{m}"
    );
    assert!(has("gatehouse_requests_total{", &["status=\"404\""]), "{m}");
    assert!(
        has(
            "gatehouse_auth_failures_total{",
            &["route=\"hello\"", "reason=\"missing\""]
        ),
        "{m}"
    );
    assert!(
        has("gatehouse_request_duration_seconds_bucket{", &["route=\"open\""]),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_future_exp_is_served_from_the_cache_without_overflow() {
    let keys = tempfile::tempdir().unwrap();
    let key = Key::new(keys.path());
    let gh = Gatehouse::start(&format!(
        "[[apis]]\npath = \"/x\"\nauth = {{ kind = \"jwt\", jwk = \"{}\" }}\nbackend = {{ mock = {{}} }}\n",
        key.jwk_path()
    ));
    let c = client();
    let t = key.sign(&json!({"sub": "alice", "exp": u64::MAX}), true);
    // The second request is answered from the verified-token cache.
    for _ in 0..3 {
        let r = c.get(gh.url("/x")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}
