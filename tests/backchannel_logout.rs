//! OpenID Connect Back-Channel Logout 1.0 against the real binary: real
//! HTTP receivers (axum servers in this test) registered as clients'
//! `backchannel_logout_uri`; alice signs in through the login and consent
//! pages (code flow) to several clients; ending her session — by
//! RP-initiated logout, or by the admin resetting a password or deleting a
//! user — POSTs a logout token to each client of that session, which
//! Python jwcrypto (not this project's code) verifies with the JWKS.

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::jwcrypto::Jwcrypto;
use common::web::Browser;
use common::{client, Gatehouse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ISSUER: &str = "http://gatehouse.test";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const ADMIN_PW: &str = "admin-password-1234";
const IAT: &str = "initial-access-token-0123456789";

/// One POST a receiver got.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    content_type: String,
    form: HashMap<String, String>,
    /// What the receiver answered.
    status: u16,
}

#[derive(Default)]
struct Receivers {
    hits: Mutex<HashMap<String, Vec<Hit>>>,
}

impl Receivers {
    fn hits(&self, name: &str) -> Vec<Hit> {
        self.hits.lock().unwrap().get(name).cloned().unwrap_or_default()
    }
    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.hits.lock().unwrap().keys().cloned().collect();
        n.sort();
        n
    }
}

/// `POST /bcl/{name}`: records the request. `flaky` answers 500 to its
/// first request, `slow` answers after 3 s, `redirect` answers 307 to
/// `/bcl/target`; the others answer 200.
async fn receive(
    State(r): State<Arc<Receivers>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = r.hits(&name).len();
    let status = match name.as_str() {
        "flaky" if seen == 0 => StatusCode::INTERNAL_SERVER_ERROR,
        "redirect" => StatusCode::TEMPORARY_REDIRECT,
        _ => StatusCode::OK,
    };
    r.hits.lock().unwrap().entry(name.clone()).or_default().push(Hit {
        at: Instant::now(),
        content_type: headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        form: url::form_urlencoded::parse(body.as_bytes()).into_owned().collect(),
        status: status.as_u16(),
    });
    if name == "slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if name == "redirect" {
        return (status, [("location", "/bcl/target")]).into_response();
    }
    status.into_response()
}

async fn receivers() -> (Arc<Receivers>, std::net::SocketAddr) {
    let r = Arc::new(Receivers::default());
    let app = axum::Router::new()
        .route("/bcl/{name}", post(receive))
        .with_state(r.clone());
    (r, common::serve(app).await)
}

/// Clients named after their receiver; `plain` registers no URI, and
/// `bystander` has one but alice never signs in to it.
const CLIENTS: [&str; 6] = ["web1", "web2", "flaky", "slow", "redirect", "bystander"];

fn config(bcl: std::net::SocketAddr) -> String {
    let mut c = format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "memory://"

[keys]
dir = "keys"

[admin]
username = "admin"
password = "{ADMIN_PW}"

# The receivers listen on loopback, which client-caused requests may not
# reach unless allowed.
[outbound]
allow_networks = ["127.0.0.0/8"]

[[clients]]
id = "plain"
secret = "plain-secret"
redirect_uris = ["http://127.0.0.1:9/cb/plain"]
scopes = ["openid", "profile"]
"#
    );
    for id in CLIENTS {
        c.push_str(&format!(
            r#"
[[clients]]
id = "{id}"
secret = "{id}-secret"
redirect_uris = ["http://127.0.0.1:9/cb/{id}"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye/{id}"]
scopes = ["openid", "profile"]
backchannel_logout_uri = "http://{bcl}/bcl/{id}"
backchannel_logout_session_required = {}
"#,
            id == "web1"
        ));
    }
    c.push_str(&format!(
        "\n[registration]\ninitial_access_token = \"{IAT}\"\nallowed_scopes = [\"openid\", \"profile\"]\n"
    ));
    for (u, p) in [
        ("alice", "wonderland"),
        ("bob", "builder-1234"),
        ("carol", "carol-pass-1234"),
    ] {
        c.push_str(&format!("\n[[users]]\nusername = \"{u}\"\npassword = \"{p}\"\n"));
    }
    c
}

/// Signs the browser's user in to `client` (code flow through the login
/// page when needed, then consent) and returns the ID token's claims (as
/// jwcrypto read them), the token itself and the session cookie when this
/// sign-in set one.
async fn sign_in(
    b: &Browser<'_>,
    jwcrypto: &mut Jwcrypto,
    jwks: &Value,
    client_id: &str,
    user: (&str, &str),
) -> (Value, String, Option<String>) {
    let secret = format!("{client_id}-secret");
    sign_in_to(b, jwcrypto, jwks, (client_id, &secret), user).await
}

/// `sign_in` for a client with this secret.
async fn sign_in_to(
    b: &Browser<'_>,
    jwcrypto: &mut Jwcrypto,
    jwks: &Value,
    (client_id, secret): (&str, &str),
    user: (&str, &str),
) -> (Value, String, Option<String>) {
    let cb = format!("http://127.0.0.1:9/cb/{client_id}");
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", cb.as_str()),
        ("scope", "openid profile"),
        ("state", "st"),
        ("nonce", "n-0S6_WzA2Mj"),
    ];
    let mut page = b.authorize(&params).await;
    let mut cookie = None;
    if page.is_login() {
        page = b.login(&page, user.0, user.1).await;
        cookie = page.set_cookie("gh_session");
    }
    if page.is_consent() {
        page = b.allow(&page).await;
    }
    let p = page.redirect_params();
    let code = p.get("code").unwrap_or_else(|| panic!("no code: {p:?}"));
    let r = client()
        .post(b.gh.url("/api/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &cb),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().expect("an ID token").to_string();
    let (_, claims) = jwcrypto.verify(jwks, &id_token).expect("the ID token verifies");
    (claims, id_token, cookie)
}

/// Waits until `name` has `n` hits (at most 20 s).
async fn wait_for(r: &Receivers, name: &str, n: usize) -> Vec<Hit> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hits = r.hits(name);
        if hits.len() >= n {
            return hits;
        }
        assert!(Instant::now() < deadline, "{name} got {} POSTs, not {n}", hits.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A logout token as the spec has it (§2.4), verified by jwcrypto; returns
/// its claims.
fn check_logout_token(jwcrypto: &mut Jwcrypto, jwks: &Value, hit: &Hit, client_id: &str, sub: &str) -> Value {
    assert_eq!(hit.content_type, "application/x-www-form-urlencoded", "{hit:?}");
    assert_eq!(hit.form.len(), 1, "only logout_token is sent: {hit:?}");
    let token = hit.form.get("logout_token").expect("a logout_token");
    let (header, claims) = jwcrypto
        .verify(jwks, token)
        .unwrap_or_else(|e| panic!("jwcrypto refused the logout token: {e}"));
    assert_eq!(header["typ"], "logout+jwt", "{header}");
    assert_eq!(header["alg"], "RS256", "{header}");
    assert_eq!(claims["iss"], ISSUER, "{claims}");
    assert_eq!(claims["aud"], client_id, "{claims}");
    assert_eq!(claims["sub"], sub, "{claims}");
    assert_eq!(claims["events"], json!({ EVENT: {} }), "{claims}");
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 300, "short-lived: iat {iat}, exp {exp}");
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()), "{claims}");
    claims
}

async fn jwks(gh: &Gatehouse) -> Value {
    client()
        .get(gh.url("/api/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_reaches_every_client_of_the_session() {
    let (rx, addr) = receivers().await;
    let gh = Gatehouse::start_full(&config(addr));
    let mut jwcrypto = Jwcrypto::verifier();
    let keys = jwks(&gh).await;

    let disco: Value = client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["backchannel_logout_supported"], true);
    assert_eq!(disco["backchannel_logout_session_supported"], true);

    // Alice signs in once and uses five clients in that session.
    let b = Browser::new(&gh);
    let alice = ("alice", "wonderland");
    let mut sids = HashMap::new();
    let mut web1_id_token = String::new();
    let mut session_cookie = None;
    for id in ["web1", "web2", "flaky", "slow", "redirect", "plain"] {
        let (claims, token, cookie) = sign_in(&b, &mut jwcrypto, &keys, id, alice).await;
        session_cookie = session_cookie.or(cookie);
        assert_eq!(claims["sub"], "alice");
        let sid = claims["sid"].as_str().unwrap_or_else(|| panic!("no sid in {claims}"));
        sids.insert(id, sid.to_string());
        if id == "web1" {
            web1_id_token = token;
        }
    }
    let sid = sids["web1"].clone();
    assert!(sids.values().all(|s| *s == sid), "one session, one sid: {sids:?}");
    // The sid is opaque: not the session id the cookie carries, nor the
    // hash the store keys the session on.
    // The cookie is sealed (the cookie crate's private jar, its key derived
    // from session.key): opened here the way the server opens it.
    let cookie = session_cookie.expect("the login set a session cookie");
    let sealed = cookie::Cookie::parse(cookie.clone()).unwrap().into_owned();
    let key = cookie::Key::derive_from(&std::fs::read(gh.dir.path().join("keys/session.key")).unwrap());
    let opened = cookie::CookieJar::new()
        .private(&key)
        .decrypt(sealed)
        .expect("the session cookie opens under session.key");
    let payload: Value = serde_json::from_str(opened.value()).unwrap();
    let session_id = payload["sid"].as_str().unwrap();
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(session_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!cookie.contains(&sid) && sid != session_id && sid != hash, "{sid}");
    // Bob signs in to web1 elsewhere: his session is not ended by alice's logout.
    let bob_browser = Browser::new(&gh);
    let (bob_claims, _, _) = sign_in(&bob_browser, &mut jwcrypto, &keys, "web1", ("bob", "builder-1234")).await;
    assert_ne!(bob_claims["sid"], json!(sid));
    assert!(
        rx.names().is_empty(),
        "nothing is sent before a session ends: {:?}",
        rx.names()
    );

    // RP-initiated logout: answered at once, delivered in the background.
    let started = Instant::now();
    let out = b
        .http
        .get(gh.url("/api/oauth/logout"))
        .query(&[
            ("id_token_hint", web1_id_token.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/bye/web1"),
        ])
        .send()
        .await
        .unwrap();
    let answered = started.elapsed();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        answered < Duration::from_millis(2500),
        "the logout page waited for the deliveries ({answered:?}; `slow` takes 3 s)"
    );

    for id in ["web1", "web2", "slow"] {
        let hits = wait_for(&rx, id, 1).await;
        let claims = check_logout_token(&mut jwcrypto, &keys, &hits[0], id, "alice");
        assert_eq!(claims["sid"], json!(sid), "the logout token's sid is the ID token's");
    }
    // The failing receiver is tried again (after backoff) and gets it.
    let flaky = wait_for(&rx, "flaky", 2).await;
    assert_eq!(flaky[0].status, 500);
    assert_eq!(flaky[1].status, 200);
    assert!(
        flaky[1].at - flaky[0].at >= Duration::from_millis(500),
        "retried with a pause"
    );
    for h in &flaky {
        check_logout_token(&mut jwcrypto, &keys, h, "flaky", "alice");
    }
    // A redirect is not followed, nor retried.
    wait_for(&rx, "redirect", 1).await;

    // Give stragglers time, then: only the clients of alice's session, each
    // once (flaky twice), nothing for the client without a URI, the one
    // she never used, the redirect's target or bob's session.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.names(), vec!["flaky", "redirect", "slow", "web1", "web2"]);
    for id in ["web1", "web2", "slow", "redirect"] {
        assert_eq!(rx.hits(id).len(), 1, "{id} got more than one POST");
    }
    assert_eq!(rx.hits("flaky").len(), 2);

    // Alice's session is over; bob's is not.
    let prompt_none = |b: &Browser<'_>| {
        let b = b.http.clone();
        let url = reqwest::Url::parse_with_params(
            &gh.url("/api/oauth/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", "web1"),
                ("redirect_uri", "http://127.0.0.1:9/cb/web1"),
                ("scope", "openid"),
                ("prompt", "none"),
            ],
        )
        .unwrap();
        async move { Browser::page(b.get(url).send().await.unwrap()).await.redirect_params() }
    };
    assert_eq!(
        prompt_none(&b).await.get("error").map(String::as_str),
        Some("login_required")
    );
    assert!(prompt_none(&bob_browser).await.contains_key("code"));

    // Counted in /metrics (`slow` is counted once it has answered, 3 s
    // after it was sent).
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let m = gh.metrics().await;
        if m.contains(r#"gatehouse_backchannel_logout_total{outcome="delivered"} 4"#) || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metrics.contains(r#"gatehouse_backchannel_logout_total{outcome="delivered"} 4"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("backchannel"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(metrics.contains(r#"gatehouse_backchannel_logout_total{outcome="rejected"} 1"#));
    // Logged, without the token.
    let log = gh.log();
    assert!(log.contains("back-channel logout delivered"), "{log}");
    for h in rx.hits("web1") {
        assert!(!log.contains(&h.form["logout_token"]), "the logout token was logged");
    }
}

#[tokio::test]
async fn the_admin_ending_sessions_tells_the_clients() {
    let (rx, addr) = receivers().await;
    let gh = Gatehouse::start_full(&config(addr));
    let mut jwcrypto = Jwcrypto::verifier();
    let keys = jwks(&gh).await;
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client()
            .request(method, gh.url(path))
            .basic_auth("admin", Some(ADMIN_PW));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };

    // Bob in web1 and web2; the admin resets his password.
    let b = Browser::new(&gh);
    let (c1, _, _) = sign_in(&b, &mut jwcrypto, &keys, "web1", ("bob", "builder-1234")).await;
    let (c2, _, _) = sign_in(&b, &mut jwcrypto, &keys, "web2", ("bob", "builder-1234")).await;
    assert_eq!(c1["sid"], c2["sid"]);
    let r = admin(
        reqwest::Method::PUT,
        "/admin/api/users/bob/password",
        Some(json!({"password": "new-password-5678"})),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for id in ["web1", "web2"] {
        let hits = wait_for(&rx, id, 1).await;
        let claims = check_logout_token(&mut jwcrypto, &keys, &hits[0], id, "bob");
        assert_eq!(claims["sid"], c1["sid"]);
    }

    // Carol in web2; the admin deletes her.
    let carol = Browser::new(&gh);
    let (c3, _, _) = sign_in(&carol, &mut jwcrypto, &keys, "web2", ("carol", "carol-pass-1234")).await;
    let r = admin(reqwest::Method::DELETE, "/admin/api/users/carol", None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let hits = wait_for(&rx, "web2", 2).await;
    let claims = check_logout_token(&mut jwcrypto, &keys, &hits[1], "web2", "carol");
    assert_eq!(claims["sid"], c3["sid"]);
    assert_ne!(c3["sid"], c1["sid"]);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.names(), vec!["web1", "web2"]);
    assert_eq!(rx.hits("web1").len(), 1);
    assert_eq!(rx.hits("web2").len(), 2);
}

/// The metadata flows through dynamic registration (RFC 7591/7592) and the
/// admin API, checked like other URIs the server reaches; a dynamically
/// registered client gets its logout token too.
#[tokio::test]
async fn registered_clients_are_told_too() {
    let (rx, addr) = receivers().await;
    let gh = Gatehouse::start_full(&config(addr));
    let mut jwcrypto = Jwcrypto::verifier();
    let keys = jwks(&gh).await;
    let register = |body: Value| {
        client()
            .post(gh.url("/api/oauth/register"))
            .bearer_auth(IAT)
            .json(&body)
            .send()
    };
    // Refused: a fragment, an address [outbound] does not allow, not http(s).
    for bad in ["http://127.0.0.1:1/bcl#x", "http://10.1.2.3/bcl", "urn:example:bcl"] {
        let r = register(json!({"redirect_uris": ["http://127.0.0.1:9/cb/x"], "backchannel_logout_uri": bad}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_client_metadata", "{bad}: {e}");
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("backchannel_logout_uri"),
            "{e}"
        );
    }

    // The redirect URI names the client; its id comes with the answer, so
    // the registration is replaced (RFC 7592 PUT) once it is known.
    let r = register(
        json!({"client_name": "Dyn", "redirect_uris": ["http://127.0.0.1:9/cb/pending"], "scope": "openid profile"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let reg: Value = r.json().await.unwrap();
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let bcl = format!("http://{addr}/bcl/dyn");
    let r = client()
        .put(gh.url(&format!("/api/oauth/register/{id}")))
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&json!({"client_id": id, "client_name": "Dyn", "redirect_uris": [format!("http://127.0.0.1:9/cb/{id}")],
                      "scope": "openid profile", "backchannel_logout_uri": bcl, "backchannel_logout_session_required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["backchannel_logout_uri"], json!(bcl), "{updated}");
    assert_eq!(updated["backchannel_logout_session_required"], true, "{updated}");
    let r = client()
        .get(gh.url(&format!("/api/oauth/register/{id}")))
        .bearer_auth(updated["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["backchannel_logout_uri"], json!(bcl), "{read}");

    // The admin API takes and shows the same members.
    let r = client()
        .post(gh.url("/admin/api/clients"))
        .basic_auth("admin", Some(ADMIN_PW))
        .json(
            &json!({"client_id": "by-admin", "redirect_uris": ["https://rp.example/cb"],
                      "backchannel_logout_uri": format!("http://{addr}/bcl/by-admin")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        created["client"]["backchannel_logout_uri"],
        json!(format!("http://{addr}/bcl/by-admin"))
    );
    assert!(
        created["client"].get("backchannel_logout_session_required").is_none(),
        "false is left out"
    );

    // Alice signs in to the registered client and out again: it is told.
    let b = Browser::new(&gh);
    let (claims, id_token, _) = sign_in_to(&b, &mut jwcrypto, &keys, (&id, &secret), ("alice", "wonderland")).await;
    let out = b
        .http
        .get(gh.url("/api/oauth/logout"))
        .query(&[("id_token_hint", id_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK, "the signed-out page");
    let hits = wait_for(&rx, "dyn", 1).await;
    let logout = check_logout_token(&mut jwcrypto, &keys, &hits[0], &id, "alice");
    assert_eq!(logout["sid"], claims["sid"]);
    assert_eq!(rx.names(), vec!["dyn"]);
}
