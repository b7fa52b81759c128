//! The device authorization grant (RFC 8628) end to end against the real
//! binary: the device authorization endpoint, the verification page
//! (driven here by a cookie-keeping HTTP client; the real-browser run with
//! oauth4webapi polling is tests/device_browser.rs), every polling answer,
//! user-code throttling per address and overall, the Rust `oauth2` crate
//! through examples/device.rs, and single use across two instances sharing
//! PostgreSQL.

mod common;

#[allow(dead_code)]
#[path = "../examples/device.rs"]
mod device_example;

use common::web::{hidden_fields, Browser, Page};
use common::Gatehouse;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn config(extra_tokens: &str) -> String {
    format!(
        r#"[tokens]
device_poll_interval = "2s"
{extra_tokens}

[[clients]]
id = "tv"
name = "Living Room TV"
public = true
grant_types = ["{DEVICE_GRANT}", "refresh_token"]
scopes = ["openid", "profile", "photos"]

[[clients]]
id = "box"
secret = "box-secret"
grant_types = ["{DEVICE_GRANT}"]
scopes = ["photos"]

[[clients]]
id = "web"
secret = "web-secret"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code"]
scopes = ["photos"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

/// POST the device authorization request; (status, JSON).
async fn authorize_device(gh: &Gatehouse, form: &[(&str, &str)]) -> (u16, Value) {
    let r = common::client()
        .post(gh.url("/api/oauth/device_authorization"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn poll(gh: &Gatehouse, client_id: &str, device_code: &str) -> (u16, Value) {
    let r = common::client()
        .post(gh.url("/api/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A browser on the verification page, from a given local address.
struct DevicePage<'a> {
    b: Browser<'a>,
}

impl<'a> DevicePage<'a> {
    fn new(gh: &'a Gatehouse, from: Option<IpAddr>) -> Self {
        let mut b = Browser::new(gh);
        if let Some(ip) = from {
            b.http = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(ip)
                .build()
                .unwrap();
        }
        DevicePage { b }
    }

    async fn open(&self, query: &str) -> Page {
        let url = format!("{}{query}", self.b.gh.url("/api/oauth/device"));
        Browser::page(self.b.http.get(url).send().await.unwrap()).await
    }

    async fn post(&self, page: &Page, extra: &[(&str, &str)]) -> Page {
        let mut form: Vec<(String, String)> = hidden_fields(&page.html)
            .into_iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Browser::page(
            self.b
                .http
                .post(self.b.gh.url("/api/oauth/device"))
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn enter(&self, typed: &str) -> Page {
        let start = self.open("").await;
        assert_eq!(start.status, 200, "{}", start.html);
        assert!(start.html.contains("id=\"user_code\""), "{}", start.html);
        self.post(&start, &[("user_code", typed), ("action", "code")]).await
    }

    /// Enter the code, sign in, and decide; the last page.
    async fn decide(&self, typed: &str, decision: &str) -> Page {
        let login = self.enter(typed).await;
        assert!(login.is_login(), "{} {}", login.status, login.html);
        assert!(login.html.contains("Living Room TV") || login.html.contains("box"));
        let consent = self
            .post(
                &login,
                &[("username", "alice"), ("password", "wonderland"), ("action", "login")],
            )
            .await;
        assert!(consent.is_consent(), "{} {}", consent.status, consent.html);
        self.post(&consent, &[("decision", decision)]).await
    }
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_else(|| panic!("no error in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_every_polling_answer_and_single_use() {
    let gh = Gatehouse::start(&config(""));
    let http = common::client();

    // Discovery names the endpoint and the grant.
    let d: Value = http
        .get(gh.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["device_authorization_endpoint"],
        gh.url("/api/oauth/device_authorization")
    );
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == DEVICE_GRANT));

    // The device authorization response (RFC 8628 §3.2).
    let (st, a) = authorize_device(&gh, &[("client_id", "tv"), ("scope", "openid photos")]).await;
    assert_eq!(st, 200, "{a}");
    let user_code = a["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(a["verification_uri"], gh.url("/api/oauth/device"));
    assert_eq!(
        a["verification_uri_complete"],
        format!("{}?user_code={user_code}", gh.url("/api/oauth/device"))
    );
    assert_eq!(a["interval"], 2);
    assert_eq!(a["expires_in"], 600);
    let device_code = a["device_code"].as_str().unwrap().to_string();

    // authorization_pending, then slow_down when polled at once again,
    // with the interval raised by 5 s (kept: the next early poll too).
    let (st, p) = poll(&gh, "tv", &device_code).await;
    assert_eq!((st, error_of(&p)), (400, "authorization_pending"), "{p}");
    let (st, p) = poll(&gh, "tv", &device_code).await;
    assert_eq!((st, error_of(&p)), (400, "slow_down"), "{p}");
    assert_eq!(p["interval"], 7);
    // Another client cannot poll (or burn) this code.
    let r = http
        .post(gh.url("/api/oauth/token"))
        .basic_auth("box", Some("box-secret"))
        .form(&[("grant_type", DEVICE_GRANT), ("device_code", device_code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(&r.json().await.unwrap()), "invalid_grant");

    // The user: the code typed in lower case without the dash, sign-in,
    // consent naming the client and its scopes, Allow.
    let page = DevicePage::new(&gh, None);
    let login = page.enter(&user_code.replace('-', "").to_lowercase()).await;
    assert!(login.is_login(), "{}", login.html);
    assert!(login.html.contains("Living Room TV"));
    let consent = page
        .post(
            &login,
            &[("username", "alice"), ("password", "wonderland"), ("action", "login")],
        )
        .await;
    assert!(consent.is_consent(), "{}", consent.html);
    assert!(consent.html.contains("Living Room TV wants to:"));
    assert!(consent.html.contains("View your photos") && consent.html.contains("Confirm who you are"));
    assert!(consent.html.contains(&user_code), "the code is shown to compare");
    // No CSRF token, no decision.
    let forged = page
        .post(
            &consent,
            &[("csrf_token", "x".repeat(43).as_str()), ("decision", "allow")],
        )
        .await;
    assert_eq!(forged.status, 400);
    let (_, p) = poll(&gh, "tv", &device_code).await;
    assert!(matches!(error_of(&p), "authorization_pending" | "slow_down"), "{p}");
    let done = page.post(&consent, &[("decision", "allow")]).await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.html.contains("id=\"done\""), "{}", done.html);

    // Tokens, once (waiting out the raised interval).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (st, t) = poll(&gh, "tv", &device_code).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "openid photos");
    assert!(t["id_token"].is_string() && t["refresh_token"].is_string());
    let access = t["access_token"].as_str().unwrap();
    let api = http.get(gh.url("/photos")).bearer_auth(access).send().await.unwrap();
    assert_eq!(api.status(), 200);
    let info: Value = http
        .get(gh.url("/api/openid/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "alice");

    // Polled after use: invalid_grant, and what it gave is revoked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (st, p) = poll(&gh, "tv", &device_code).await;
    assert_eq!((st, error_of(&p)), (400, "invalid_grant"), "{p}");
    assert!(p["error_description"].as_str().unwrap().contains("already used"));
    let r = http
        .post(gh.url("/api/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "tv"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the replay revoked the grant");
    // The used code is no longer accepted on the page either.
    let again = DevicePage::new(&gh, None).enter(&user_code).await;
    assert_eq!(again.status, 400);
    assert!(again.html.contains("not valid"), "{}", again.html);

    // Denied: access_denied (a confidential client this time).
    let r = http
        .post(gh.url("/api/oauth/device_authorization"))
        .basic_auth("box", Some("box-secret"))
        .form(&[("scope", "photos")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    let denied = DevicePage::new(&gh, None)
        .decide(b["user_code"].as_str().unwrap(), "deny")
        .await;
    assert!(denied.html.contains("id=\"denied\""), "{}", denied.html);
    let r = http
        .post(gh.url("/api/oauth/token"))
        .basic_auth("box", Some("box-secret"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", b["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(&r.json().await.unwrap()), "access_denied");

    // Bad requests at the device authorization endpoint.
    for (form, want) in [
        (
            vec![("client_id", "web"), ("client_secret", "web-secret")],
            "unauthorized_client",
        ),
        (vec![("client_id", "tv"), ("scope", "admin")], "invalid_scope"),
        (vec![("client_id", "nobody")], "invalid_client"),
        (vec![("client_id", "box")], "invalid_client"),
    ] {
        let (st, e) = authorize_device(&gh, &form).await;
        assert!(st == 400 || st == 401, "{form:?}: {st} {e}");
        assert_eq!(error_of(&e), want, "{form:?}");
    }
    // …and at the token endpoint.
    let (st, e) = poll(&gh, "tv", "not-a-device-code").await;
    assert_eq!((st, error_of(&e)), (400, "invalid_grant"));
    let (st, e) = poll(&gh, "tv", &"x".repeat(10_000)).await;
    assert_eq!((st, error_of(&e)), (400, "invalid_grant"));
    let r = http
        .post(gh.url("/api/oauth/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", "tv")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(&r.json().await.unwrap()), "invalid_request");
    // Malformed codes on the page: a clear message, no look-up.
    for typed in ["ABCD-EFGH", "BCDF", "BCDF-GHJK-LMNP", "<script>"] {
        let p = DevicePage::new(&gh, None).enter(typed).await;
        assert_eq!(p.status, 400, "{typed}");
        assert!(p.html.contains("8-letter code"), "{typed}: {}", p.html);
        assert!(!p.html.contains("<script>"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_expires() {
    let gh = Gatehouse::start(&config("device_code_ttl = \"10s\""));
    let (_, a) = authorize_device(&gh, &[("client_id", "tv")]).await;
    assert_eq!(a["expires_in"], 10);
    let code = a["device_code"].as_str().unwrap();
    let (_, p) = poll(&gh, "tv", code).await;
    assert_eq!(error_of(&p), "authorization_pending");
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (st, p) = poll(&gh, "tv", code).await;
    assert_eq!((st, error_of(&p)), (400, "expired_token"), "{p}");
    // The page no longer takes the code.
    let page = DevicePage::new(&gh, None).enter(a["user_code"].as_str().unwrap()).await;
    assert_eq!(page.status, 400);
}

/// RFC 8628 §5.1: wrong user codes are counted per address (10 in 10
/// minutes) and over every address (50 in 5 minutes); past a limit even a
/// right code is not looked up until the window has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_code_guessing_is_throttled_per_address_and_overall() {
    let gh = Gatehouse::start(&config(""));
    let (_, a) = authorize_device(&gh, &[("client_id", "tv")]).await;
    let right = a["user_code"].as_str().unwrap().to_string();
    let wrong = |i: usize| {
        let alphabet: Vec<char> = "BCDFGHJKLMNPQRSTVWXZ".chars().collect();
        let mut s: String = (0..8).map(|k| alphabet[(i * 7 + k * 3) % 20]).collect();
        if s == right.replace('-', "") {
            s.replace_range(0..1, "Z");
        }
        s
    };
    let ip = |n: u8| -> IpAddr { format!("127.0.0.{n}").parse().unwrap() };

    let page = DevicePage::new(&gh, Some(ip(1)));
    for i in 0..10 {
        let p = page.enter(&wrong(i)).await;
        assert_eq!(p.status, 400, "attempt {i}: {}", p.html);
    }
    let locked = page.enter(&right).await;
    assert_eq!(locked.status, 429, "{}", locked.html);
    assert!(locked.html.contains("Too many wrong codes"), "{}", locked.html);
    // Another address still gets through with the right code.
    let other = DevicePage::new(&gh, Some(ip(2))).enter(&right).await;
    assert!(other.is_login(), "{} {}", other.status, other.html);

    // Spread over many addresses, 50 wrong codes lock everyone out.
    let mut n = 10;
    'spread: for host in 3..20u8 {
        let p = DevicePage::new(&gh, Some(ip(host)));
        for _ in 0..5 {
            if n == 50 {
                break 'spread;
            }
            let r = p.enter(&wrong(n)).await;
            assert_eq!(r.status, 400, "{}", r.html);
            n += 1;
        }
    }
    let fresh = DevicePage::new(&gh, Some(ip(42))).enter(&right).await;
    assert_eq!(fresh.status, 429, "{}", fresh.html);
    // The device is not affected: it still polls pending.
    let (_, p) = poll(&gh, "tv", a["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(&p), "authorization_pending");
}

/// examples/device.rs (the Rust `oauth2` crate's device flow) prints the
/// code and polls; the user allows it on the page meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_oauth2_example_device_flow() {
    let gh = Gatehouse::start(&config(""));
    let issuer = gh.url("");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let flow = tokio::spawn(async move {
        device_example::sign_in(&issuer, "tv", None, "openid photos", move |p| {
            let _ = tx.send((p.user_code, p.verification_uri, p.verification_uri_complete));
        })
        .await
        .map_err(|e| e.to_string())
    });
    let (user_code, uri, complete) = rx.await.expect("the example showed no code");
    assert_eq!(uri, gh.url("/api/oauth/device"));
    // Through verification_uri_complete: the code is filled in, confirmed.
    let page = DevicePage::new(&gh, None);
    let complete = complete.unwrap();
    let opened = page.open(complete.strip_prefix(&uri).unwrap()).await;
    assert!(
        opened.html.contains(&format!("value=\"{user_code}\"")),
        "{}",
        opened.html
    );
    let login = page
        .post(&opened, &[("user_code", &user_code), ("action", "code")])
        .await;
    let consent = page
        .post(
            &login,
            &[("username", "alice"), ("password", "wonderland"), ("action", "login")],
        )
        .await;
    let done = page.post(&consent, &[("decision", "allow")]).await;
    assert!(done.html.contains("id=\"done\""), "{}", done.html);
    let token = tokio::time::timeout(Duration::from_secs(60), flow)
        .await
        .expect("the example kept polling")
        .unwrap()
        .unwrap();
    assert_eq!(token["token_type"], "bearer", "{token}");
    assert_eq!(token["granted_scope"], "openid photos");
    let api = common::client()
        .get(gh.url("/photos"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);

    // Denied: the example gets access_denied from the crate.
    let issuer = gh.url("");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let flow = tokio::spawn(async move {
        device_example::sign_in(&issuer, "tv", None, "photos", move |p| {
            let _ = tx.send(p.user_code);
        })
        .await
        .map_err(|e| e.to_string())
    });
    let code = rx.await.unwrap();
    DevicePage::new(&gh, None).decide(&code, "deny").await;
    let err = tokio::time::timeout(Duration::from_secs(60), flow)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        err.contains("access_denied") || err.to_lowercase().contains("denied"),
        "{err}"
    );
}

/// Two instances sharing PostgreSQL: the user approves on one, both poll
/// the same device code at once, many times: exactly one poll gets tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_is_single_use_across_instances_on_postgres() {
    let url = common::pg::fresh_db(&common::pg::shared()).await;
    let keys = tempfile::tempdir().unwrap();
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\n\n[store]\nurl = \"{url}\"\n\n[keys]\ndir = \"{}\"\n\n{}",
        keys.path().display(),
        config("")
    );
    let a = Gatehouse::start_full(&cfg);
    let b = Gatehouse::start_full(&cfg);

    for round in 0..3 {
        let (_, d) = authorize_device(&a, &[("client_id", "tv"), ("scope", "photos")]).await;
        let code = d["device_code"].as_str().unwrap().to_string();
        // Entered and allowed on the other instance.
        let done = DevicePage::new(&b, None)
            .decide(d["user_code"].as_str().unwrap(), "allow")
            .await;
        assert!(done.html.contains("id=\"done\""), "{}", done.html);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let gh = if i % 2 == 0 { &a } else { &b };
            let (url, code) = (gh.url("/api/oauth/token"), code.clone());
            tasks.push(tokio::spawn(async move {
                let r = common::client()
                    .post(url)
                    .form(&[
                        ("grant_type", DEVICE_GRANT),
                        ("client_id", "tv"),
                        ("device_code", &code),
                    ])
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        let mut issued = 0;
        for t in tasks {
            let (st, v) = t.await.unwrap();
            match st {
                200 => issued += 1,
                400 => assert_eq!(error_of(&v), "invalid_grant", "round {round}: {v}"),
                _ => panic!("round {round}: {st} {v}"),
            }
        }
        assert_eq!(issued, 1, "round {round}: exactly one poll gets tokens");
    }
}
