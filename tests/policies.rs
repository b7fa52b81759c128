//! Route policies (SPEC §7) against the real binary and a real upstream
//! that echoes what it receives: host routing, CORS preflights and answer
//! headers, rate limits (exact on one instance, windows recovering,
//! `RateLimit` fields, keys by header, ip behind trusted proxies and
//! client with overrides), header transforms with token claims, client and
//! claim allowlists, an oauth2 route's audience, and `check` refusing bad
//! policy settings with file:line.

mod common;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::{client, serve, Gatehouse};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Answers `{name, path, headers}` and sets headers a policy should strip
/// or keep: `server`, `x-upstream`, and a permissive CORS header.
async fn echo(name: &'static str) -> std::net::SocketAddr {
    let app = Router::new().fallback(move |req: Request| async move {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in req.headers() {
            headers
                .entry(k.as_str().to_string())
                .or_default()
                .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let mut r: Response =
            axum::Json(json!({"name": name, "path": req.uri().path(), "headers": headers})).into_response();
        let h = r.headers_mut();
        h.insert("server", HeaderValue::from_static("echo/1"));
        h.insert("x-upstream", HeaderValue::from_static("1"));
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        r
    });
    serve(app).await
}

async fn send(gh: &Gatehouse, method: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = client().request(method.parse().unwrap(), gh.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

async fn token(gh: &Gatehouse, id: &str, secret: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn hosts_choose_among_routes_of_one_path_and_the_most_specific_wins() {
    let (a, b, c) = (echo("exact").await, echo("wild").await, echo("any").await);
    let gh = Gatehouse::start(&format!(
        r#"[[apis]]
name = "exact"
path = "/api"
hosts = ["API.example.com"]
backend = {{ upstream = "http://{a}" }}

[[apis]]
name = "wild"
path = "/api"
hosts = ["*.example.com"]
backend = {{ upstream = "http://{b}" }}

[[apis]]
name = "any"
path = "/api"
backend = {{ upstream = "http://{c}" }}

[[apis]]
name = "only-org"
path = "/org"
hosts = ["*.example.org"]
backend = {{ mock = {{ body = "org" }} }}
"#
    ));
    let who = |r: Value| r["name"].as_str().unwrap().to_string();
    for (host, want) in [
        ("api.example.com", "exact"),
        ("Api.Example.COM:8443", "exact"),
        ("api.example.com.", "exact"),
        ("x.example.com", "wild"),
        ("a.b.example.com", "wild"),
        ("example.com", "any"),
        ("other.test", "any"),
    ] {
        let r = send(&gh, "GET", "/api/x", &[("host", host)]).await;
        assert_eq!(r.status(), 200, "{host}");
        assert_eq!(who(r.json().await.unwrap()), want, "Host: {host}");
    }
    // A route for other hosts only: 404 for the rest, also for the bare
    // domain a wildcard does not cover.
    assert_eq!(
        send(&gh, "GET", "/org", &[("host", "www.example.org")]).await.status(),
        200
    );
    for host in ["example.org", "www.example.com"] {
        let r = send(&gh, "GET", "/org", &[("host", host)]).await;
        assert_eq!(r.status(), 404, "{host}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    }
}

const CORS: &str = r#"cors = { origins = ["https://app.example", "https://*.apps.example"], methods = ["GET", "POST"], headers = ["authorization", "content-type", "x-trace"], expose_headers = ["x-upstream"], credentials = true, max_age = "10m" }"#;

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway_and_answers_carry_the_origin() {
    let up = echo("api").await;
    let gh = Gatehouse::start(&format!(
        r#"[[clients]]
id = "spa"
secret = "spa-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[apis]]
path = "/api"
{CORS}
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ upstream = "http://{up}" }}

[[apis]]
path = "/open"
methods = ["GET"]
cors = {{ origins = ["*"] }}
backend = {{ upstream = "http://{up}" }}
"#
    ));
    // An allowed preflight: 204, never reaching the upstream (which would
    // say 401 without a token), with every field the browser needs.
    let pre = |origin: &'static str, method: &'static str, hdrs: &'static str| {
        let gh = &gh;
        async move {
            send(
                gh,
                "OPTIONS",
                "/api/photos",
                &[
                    ("origin", origin),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", hdrs),
                ],
            )
            .await
        }
    };
    let r = pre("https://app.example", "POST", "Authorization, Content-Type").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(header(&r, "access-control-allow-methods").as_deref(), Some("GET, POST"));
    assert_eq!(
        header(&r, "access-control-allow-headers").as_deref(),
        Some("authorization, content-type, x-trace")
    );
    assert_eq!(header(&r, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("600"));
    assert!(header(&r, "vary").unwrap().contains("origin"));
    assert_eq!(header(&r, "x-upstream"), None, "a preflight never reaches the upstream");
    // Subdomain patterns.
    assert_eq!(pre("https://x.apps.example", "GET", "").await.status(), 204);
    // Disallowed origin, method or header: 403 and no CORS field.
    for (origin, method, hdrs) in [
        ("https://evil.example", "GET", ""),
        ("https://apps.example", "GET", ""),
        ("http://app.example", "GET", ""),
        ("null", "GET", ""),
        ("https://app.example", "DELETE", ""),
        ("https://app.example", "GET", "x-secret"),
    ] {
        let r = pre(origin, method, hdrs).await;
        assert_eq!(r.status(), 403, "{origin} {method} {hdrs}");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "cors_not_allowed");
    }
    // A malformed or huge Origin is just not allowed.
    let huge = format!("https://{}.example", "a".repeat(6000));
    let r = send(
        &gh,
        "OPTIONS",
        "/api/x",
        &[("origin", &huge), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(r.status(), 403);

    // The gateway's own 401 carries the CORS fields for an allowed
    // origin, so the page can read it; not for another origin.
    let r = send(&gh, "GET", "/api/photos", &[("origin", "https://app.example")]).await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").is_some());
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let r = send(&gh, "GET", "/api/photos", &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "access-control-allow-origin"), None);

    // Real answers: the origin echoed, the upstream's own `*` replaced
    // (allowed) or removed (not allowed), Vary kept for caches.
    let t = token(&gh, "spa", "spa-secret", &[]).await;
    let bearer = format!("Bearer {t}");
    let r = send(
        &gh,
        "GET",
        "/api/photos",
        &[("origin", "https://app.example"), ("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers").as_deref(),
        Some("x-upstream")
    );
    assert!(r
        .headers()
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().contains("origin")));
    let r = send(
        &gh,
        "GET",
        "/api/photos",
        &[("origin", "https://evil.example"), ("authorization", &bearer)],
    )
    .await;
    assert_eq!(
        r.status(),
        200,
        "CORS is the browser's rule: the request itself goes through"
    );
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        None,
        "the upstream's * is not passed on"
    );

    // Any origin without credentials: `*`, and the preflight comes before
    // the route's `methods` (OPTIONS is not among them).
    let r = send(
        &gh,
        "OPTIONS",
        "/open",
        &[
            ("origin", "https://anyone.example"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn rate_limits_are_exact_recover_and_say_so_in_headers() {
    let up = echo("api").await;
    let gh = Gatehouse::start(&format!(
        r#"[gateway]
trusted_proxies = ["127.0.0.1/32"]

[[apis]]
path = "/by-key"
rate_limit = {{ requests = 5, per = "2s", by = "header:x-api-key" }}
backend = {{ upstream = "http://{up}" }}

[[apis]]
path = "/by-ip"
rate_limit = {{ requests = 3, per = "1h", by = "ip" }}
backend = {{ mock = {{ body = "ok" }} }}
"#
    ));
    let key = |k: &'static str| [("x-api-key", k)];
    let mut allowed = 0;
    let mut last_ok = None;
    for _ in 0..8 {
        let r = send(&gh, "GET", "/by-key", &key("alpha")).await;
        match r.status().as_u16() {
            200 => {
                allowed += 1;
                last_ok = Some(r);
            }
            429 => {
                assert_eq!(
                    header(&r, "retry-after").as_deref(),
                    Some("1"),
                    "one interval (0.4 s) rounds up"
                );
                assert_eq!(header(&r, "ratelimit-policy").as_deref(), Some("\"default\";q=5;w=2"));
                assert!(header(&r, "ratelimit").unwrap().starts_with("\"default\";r=0;t="));
                assert_eq!(r.json::<Value>().await.unwrap()["error"], "rate_limited");
            }
            s => panic!("status {s}"),
        }
    }
    assert_eq!(allowed, 5, "exactly the burst");
    let ok = last_ok.unwrap();
    assert_eq!(header(&ok, "ratelimit").as_deref(), Some("\"default\";r=0;t=2"));
    // Another key has its own budget.
    let r = send(&gh, "GET", "/by-key", &key("beta")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit").as_deref(), Some("\"default\";r=4;t=1"));
    // The window recovers: one interval (0.4 s) gives exactly one more.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(send(&gh, "GET", "/by-key", &key("alpha")).await.status(), 200);
    assert_eq!(send(&gh, "GET", "/by-key", &key("alpha")).await.status(), 429);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut n = 0;
    for _ in 0..7 {
        if send(&gh, "GET", "/by-key", &key("alpha")).await.status() == 200 {
            n += 1;
        }
    }
    assert_eq!(n, 5, "the whole burst after the whole period");
    // A 64 KiB key is one more key, not a crash (or refused by header limits).
    let big = "k".repeat(60 * 1024);
    let s = send(&gh, "GET", "/by-key", &[("x-api-key", &big)]).await.status();
    assert!(s == 200 || s == 431, "{s}");

    // By ip behind a trusted proxy (loopback here): the right-most
    // untrusted X-Forwarded-For hop is the client.
    let ip = |xff: &'static str| [("x-forwarded-for", xff)];
    for _ in 0..3 {
        assert_eq!(
            send(&gh, "GET", "/by-ip", &ip("9.9.9.9, 198.51.100.1")).await.status(),
            200
        );
    }
    assert_eq!(
        send(&gh, "GET", "/by-ip", &ip("1.1.1.1, 198.51.100.1")).await.status(),
        429,
        "a forged left hop does not help"
    );
    assert_eq!(send(&gh, "GET", "/by-ip", &ip("198.51.100.2")).await.status(), 200);
    assert!(gh.log().lines().all(|l| !l.contains("panicked")));
}

#[tokio::test]
async fn rate_limits_by_client_with_overrides_run_after_auth() {
    let up = echo("api").await;
    let gh = Gatehouse::start(&format!(
        r#"[[clients]]
id = "small"
secret = "small-secret"
grant_types = ["client_credentials"]

[[clients]]
id = "big"
secret = "big-secret"
grant_types = ["client_credentials"]

[[apis]]
path = "/api"
rate_limit = {{ requests = 2, per = "1h", by = "client", overrides = {{ big = 6 }} }}
auth = {{ kind = "oauth2" }}
backend = {{ upstream = "http://{up}" }}
"#
    ));
    // Without a token: 401 from auth, no budget spent.
    for _ in 0..4 {
        assert_eq!(send(&gh, "GET", "/api", &[]).await.status(), 401);
    }
    let count = |t: String| {
        let gh = &gh;
        async move {
            let b = format!("Bearer {t}");
            let mut n = 0;
            for _ in 0..10 {
                if send(gh, "GET", "/api", &[("authorization", &b)]).await.status() == 200 {
                    n += 1;
                }
            }
            n
        }
    };
    assert_eq!(count(token(&gh, "small", "small-secret", &[]).await).await, 2);
    assert_eq!(count(token(&gh, "big", "big-secret", &[]).await).await, 6);
    // A new token of the same client shares the client's budget.
    assert_eq!(count(token(&gh, "small", "small-secret", &[]).await).await, 0);
}

#[tokio::test]
async fn header_transforms_fill_claims_and_protect_the_gateways_headers() {
    let up = echo("api").await;
    let gh = Gatehouse::start(&format!(
        r#"[[clients]]
id = "printer"
secret = "printer-secret"
grant_types = ["client_credentials"]

[[apis]]
path = "/api"
auth = {{ kind = "oauth2" }}
request_headers = {{ set = {{ "x-api-version" = "2", "x-caller" = "client ${{client_id}} via ${{route}}", "x-missing" = "${{claim.nope}}" }}, append = {{ "x-tag" = "gw" }}, remove = ["x-debug"] }}
response_headers = {{ set = {{ "x-served-by" = "gatehouse" }}, remove = ["server"] }}
backend = {{ upstream = "http://{up}" }}
"#
    ));
    let t = token(&gh, "printer", "printer-secret", &[]).await;
    let r = send(
        &gh,
        "GET",
        "/api/x",
        &[
            ("authorization", &format!("Bearer {t}")),
            ("x-debug", "1"),
            ("x-tag", "client"),
            ("x-missing", "forged"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-served-by").as_deref(), Some("gatehouse"));
    assert_eq!(header(&r, "server"), None);
    assert_eq!(header(&r, "x-upstream").as_deref(), Some("1"));
    let v: Value = r.json().await.unwrap();
    let h = &v["headers"];
    assert_eq!(h["x-api-version"], json!(["2"]));
    assert_eq!(h["x-caller"], json!(["client printer via /api"]));
    assert_eq!(h["x-tag"], json!(["client", "gw"]));
    assert!(h.get("x-debug").is_none());
    assert!(
        h.get("x-missing").is_none(),
        "nothing to fill: left out, and the client's copy gone"
    );
    assert_eq!(h["x-authenticated-client"], json!(["printer"]));
}

#[tokio::test]
async fn allowlists_and_the_route_audience_refuse_other_tokens() {
    let up = echo("api").await;
    let gh = Gatehouse::start(&format!(
        r#"[[clients]]
id = "printer"
secret = "printer-secret"
grant_types = ["client_credentials"]
audience = ["https://back.example/api"]

[[clients]]
id = "scanner"
secret = "scanner-secret"
grant_types = ["client_credentials"]

[[apis]]
path = "/printers"
auth = {{ kind = "oauth2", clients = ["printer"] }}
backend = {{ upstream = "http://{up}" }}

[[apis]]
path = "/claims"
auth = {{ kind = "oauth2", claims = {{ client_id = ["printer", "other"] }} }}
backend = {{ upstream = "http://{up}" }}

[[apis]]
path = "/back"
auth = {{ kind = "oauth2", audience = "https://back.example/api" }}
backend = {{ upstream = "http://{up}" }}
"#
    ));
    let printer = format!("Bearer {}", token(&gh, "printer", "printer-secret", &[]).await);
    let scanner = format!("Bearer {}", token(&gh, "scanner", "scanner-secret", &[]).await);
    for path in ["/printers", "/claims"] {
        assert_eq!(
            send(&gh, "GET", path, &[("authorization", &printer)]).await.status(),
            200,
            "{path}"
        );
        let r = send(&gh, "GET", path, &[("authorization", &scanner)]).await;
        assert_eq!(r.status(), 403, "{path}");
        let challenge = header(&r, "www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "access_denied");
    }
    // The back API takes only tokens minted for it (RFC 8707 resource).
    let r = send(&gh, "GET", "/back", &[("authorization", &scanner)]).await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").unwrap().contains("invalid_token"));
    let for_back = format!(
        "Bearer {}",
        token(
            &gh,
            "printer",
            "printer-secret",
            &[("resource", "https://back.example/api")]
        )
        .await
    );
    assert_eq!(
        send(&gh, "GET", "/back", &[("authorization", &for_back)])
            .await
            .status(),
        200
    );
}

#[test]
fn check_refuses_bad_policy_settings_with_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "[[apis]]\npath = \"/a\"\ncors = { origins = [\"*\"], credentials = true }\nbackend = { mock = {} }\n",
            "credentials",
        ),
        (
            "[[apis]]\npath = \"/a\"\ncors = { origins = [\"https://a.example/path\"] }\nbackend = { mock = {} }\n",
            "CORS origin",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrate_limit = { requests = 0, per = \"1s\" }\nbackend = { mock = {} }\n",
            "requests must be",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrate_limit = { requests = 5, per = \"1s\", by = \"cookie\" }\nbackend = { mock = {} }\n",
            "is not \"client\"",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrate_limit = { requests = 5, per = \"1s\", by = \"client\" }\nbackend = { mock = {} }\n",
            "needs an auth kind",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrate_limit = { requests = 5, per = \"1s\", colour = 1 }\nbackend = { mock = {} }\n",
            "unknown field",
        ),
        (
            "[[apis]]\npath = \"/a\"\nhosts = [\"a.example:80\"]\nbackend = { mock = {} }\n",
            "is not a host name",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrequest_headers = { set = { \"x-authenticated-userid\" = \"me\" } }\nauth = { kind = \"oauth2\" }\nbackend = { mock = {} }\n",
            "cannot be changed",
        ),
        (
            "[[apis]]\npath = \"/a\"\nrequest_headers = { set = { \"x-a\" = \"${claim}\" } }\nbackend = { mock = {} }\n",
            "is not ${claim.NAME}",
        ),
        (
            "[[apis]]\npath = \"/a\"\nhosts = [\"a.example\", \"b.example\"]\nbackend = { mock = {} }\n[[apis]]\npath = \"/a\"\nhosts = [\"a.example\"]\nbackend = { mock = {} }\n",
            "duplicate api path",
        ),
        (
            "[gateway]\nrate_limit_store = \"memcached://x\"\n",
            "rate_limit_store",
        ),
        (
            "[gateway]\nrate_limit_store = \"redis://[::1\"\n",
            "rate_limit_store",
        ),
        (
            "[gateway]\nrate_limit_store = \"store\"\nrate_limit_sync = \"1ms\"\n",
            "rate_limit_sync must be",
        ),
        (
            "[gateway]\nrate_limit_store = \"store\"\nrate_limit_fallback = \"open\"\n",
            "rate_limit_fallback",
        ),
        (
            "[gateway]\nrate_limit_store = \"store\"\n[[apis]]\npath = \"/a\"\nrate_limit = { requests = 5, per = \"1s\", burst = 2 }\nbackend = { mock = {} }\n",
            "burst needs",
        ),
        (
            "[gateway]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
            "trusted_proxies",
        ),
    ];
    for (body, want) in cases {
        common::assert_check_refuses(body, want);
    }
}

/// Headless Chromium: a page on an allowed origin reads the API's answer
/// (after the preflight its Authorization header causes, which the
/// upstream never sees); a page on another origin cannot.
#[tokio::test]
async fn a_page_on_an_allowed_origin_reads_the_api_and_another_cannot() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let options = Arc::new(AtomicU64::new(0));
    let seen = options.clone();
    let up = serve(Router::new().fallback(move |req: Request| {
        let seen = seen.clone();
        async move {
            if req.method() == axum::http::Method::OPTIONS {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            "photos of the allowed page"
        }
    }))
    .await;
    let page = || Router::new().fallback(|| async { axum::response::Html("<!doctype html><title>app</title><p>app") });
    let (good, bad) = (serve(page()).await, serve(page()).await);
    let gh = Gatehouse::start(&format!(
        r#"[[clients]]
id = "spa"
secret = "spa-secret"
grant_types = ["client_credentials"]

[[apis]]
path = "/photos"
cors = {{ origins = ["http://{good}"], headers = ["authorization", "x-trace"], expose_headers = ["ratelimit"] }}
rate_limit = {{ requests = 100, per = "1m", by = "client" }}
auth = {{ kind = "oauth2" }}
backend = {{ upstream = "http://{up}" }}
"#
    ));
    let t = token(&gh, "spa", "spa-secret", &[]).await;
    let good_url = format!("http://{good}/");
    let bad_url = format!("http://{bad}/");
    let r = common::browser_run("cors.mjs", &[&gh.url("/photos/1"), &t, &good_url, &bad_url], &gh).await;
    let allowed = &r["pages"][&good_url];
    assert_eq!(allowed["status"], 200, "{r:#}");
    assert_eq!(allowed["body"], "photos of the allowed page");
    assert!(
        allowed["ratelimit"].as_str().unwrap().starts_with("\"default\";r="),
        "exposed: {r:#}"
    );
    let refused = &r["pages"][&bad_url];
    assert!(
        refused["error"].as_str().is_some_and(|e| e.contains("Failed to fetch")),
        "the other origin must not read it: {r:#}"
    );
    assert_eq!(options.load(Ordering::SeqCst), 0, "preflights stop at the gateway");
}
