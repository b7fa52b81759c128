//! The access log: one line per request on standard output, every field
//! there, text and JSON; and no token, secret or password in any line
//! gatehouse writes (access log and debug log) after a run of the grants,
//! gateway calls with tokens in the header and the query included.

mod common;

use common::web::Browser;
use common::Gatehouse;
use serde_json::Value;
use std::time::{Duration, Instant};

fn config(format: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"

[store]
url = "sqlite://data/g.db"

[log]
access = true
format = "{format}"
level = "debug"

[[clients]]
id = "printer"
secret = "printer-secret-4711"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token", "password", "client_credentials"]
scopes = ["photos", "openid"]

[[users]]
username = "alice"
password = "alice-password-0815"

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "ok" }} }}
"#
    )
}

/// Lines of standard output that are access lines, once `n` are there.
fn access_lines(gh: &Gatehouse, json: bool, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines: Vec<String> = gh
            .stdout()
            .lines()
            .filter(|l| {
                if json {
                    l.contains(r#""type":"access""#)
                } else {
                    l.contains(" access ")
                }
            })
            .map(str::to_string)
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn token(gh: &Gatehouse, form: &[(&str, &str)]) -> Value {
    let r = common::client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some("printer-secret-4711"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn one_text_line_per_request_with_every_field() {
    let gh = Gatehouse::start_full(&config("text"));
    let t = token(&gh, &[("grant_type", "client_credentials"), ("scope", "photos")]).await;
    let at = t["access_token"].as_str().unwrap();
    let c = common::client();
    let r = c
        .get(gh.url(&format!("/api/oauth/tokeninfo?access_token={at}&x=1")))
        .header("x-request-id", "req-abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(gh.url("/api/openid/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let lines = access_lines(&gh, false, 3);
    assert_eq!(lines.len(), 3, "{lines:#?}\nstdout:\n{}", gh.stdout());
    let field = |l: &str, k: &str| {
        l.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {k} in {l}"))
    };
    let tok = &lines[0];
    assert!(tok.starts_with("20"), "time first: {tok}");
    assert_eq!(field(tok, "method"), "POST");
    assert_eq!(field(tok, "path"), "/api/oauth/token");
    assert_eq!(field(tok, "route"), "/api/oauth/token");
    assert_eq!(field(tok, "status"), "200");
    assert_eq!(field(tok, "client_id"), "printer");
    assert!(field(tok, "bytes").parse::<u64>().unwrap() > 100, "{tok}");
    assert!(field(tok, "latency_ms").parse::<f64>().unwrap() > 0.0, "{tok}");
    let info = &lines[1];
    assert_eq!(field(info, "method"), "GET");
    assert_eq!(field(info, "path"), "/api/oauth/tokeninfo");
    assert_eq!(field(info, "query"), "access_token,x", "query names only: {info}");
    assert_eq!(field(info, "status"), "200");
    assert_eq!(field(info, "request_id"), "req-abc-1");
    assert_eq!(field(info, "client_ip"), "127.0.0.1");
    assert_eq!(field(info, "upstream"), "-");
    assert_eq!(field(info, "attempts"), "0");
    assert!(!info.contains(at.rsplit('.').next().unwrap()));
    let refused = &lines[2];
    assert_eq!(field(refused, "route"), "/api/openid/userinfo");
    assert_eq!(field(refused, "status"), "401");
    assert_eq!(field(refused, "client_id"), "-");
}

#[tokio::test]
async fn json_lines_parse_with_the_same_fields() {
    let gh = Gatehouse::start_full(&config("json"));
    token(
        &gh,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-0815"),
            ("scope", "photos"),
        ],
    )
    .await;
    let r = common::client().get(gh.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lines = access_lines(&gh, true, 2);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let v: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(v[0]["route"], "/api/oauth/token");
    assert_eq!(v[0]["client_id"], "printer");
    assert_eq!(v[0]["status"], 200);
    assert_eq!(v[1]["route"], "/healthz");
    assert_eq!(v[1]["client_id"], Value::Null);
    for k in [
        "time",
        "method",
        "path",
        "bytes",
        "latency_ms",
        "upstream",
        "attempts",
        "request_id",
        "client_ip",
    ] {
        assert!(v[1].get(k).is_some(), "no {k} in {}", lines[1]);
    }
}

/// Every grant the client has (code with PKCE, password, client
/// credentials, refresh), introspection, revocation, a refused
/// password, tokens in the query, the header and a form: not one secret,
/// password, code or token appears in standard output or the debug log.
#[tokio::test]
async fn no_secret_in_any_log_line_after_every_grant() {
    let gh = Gatehouse::start_full(&config("text"));
    let mut secrets = vec!["printer-secret-4711".to_string(), "alice-password-0815".to_string()];
    let cc = token(&gh, &[("grant_type", "client_credentials"), ("scope", "photos")]).await;
    let pw = token(
        &gh,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-0815"),
            ("scope", "photos openid"),
        ],
    )
    .await;
    let rt = token(
        &gh,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", pw["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    // The code flow with PKCE through the login and consent pages.
    let b = Browser::new(&gh);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let page = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "printer"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", "openid photos"),
            ("state", "st-1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let page = b.login(&page, "alice", "alice-password-0815").await;
    let page = if page.is_consent() { b.allow(&page).await } else { page };
    let code = page.redirect_params()["code"].clone();
    let ac = token(
        &gh,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_verifier", verifier),
        ],
    )
    .await;
    secrets.push(code);
    secrets.push(verifier.to_string());
    for t in [&cc, &pw, &rt, &ac] {
        for k in ["access_token", "refresh_token", "id_token"] {
            if let Some(s) = t[k].as_str() {
                secrets.push(s.to_string());
            }
        }
    }
    let c = common::client();
    let at = ac["access_token"].as_str().unwrap();
    c.get(gh.url("/photos")).bearer_auth(at).send().await.unwrap();
    c.get(gh.url(&format!("/photos?access_token={at}")))
        .send()
        .await
        .unwrap();
    c.get(gh.url(&format!("/api/oauth/tokeninfo?access_token={at}")))
        .send()
        .await
        .unwrap();
    for ep in ["/api/oauth/introspect", "/api/oauth/revoke"] {
        c.post(gh.url(ep))
            .basic_auth("printer", Some("printer-secret-4711"))
            .form(&[("token", at)])
            .send()
            .await
            .unwrap();
    }
    c.post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some("wrong-secret-9999"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    secrets.push("wrong-secret-9999".into());
    let lines = access_lines(&gh, false, 10);
    assert!(lines.len() >= 10, "{lines:#?}");
    std::thread::sleep(Duration::from_millis(300));
    let out = gh.stdout() + &gh.log();
    for s in &secrets {
        // JWTs: their signature part is the secret-bearing bit and unique.
        let needle = s.rsplit('.').next().unwrap_or(s);
        assert!(!out.contains(needle), "{needle:?} is in the logs:\n{out}");
    }
}

/// `[log] access` is on unless the config turns it off (SPEC §10), and
/// proxied requests get their lines too: route, target, attempts, and who
/// the token spoke for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_by_default_with_gateway_lines_and_off_when_asked() {
    let up = common::serve(axum::Router::new().fallback(|| async { "upstream!" })).await;
    let routes = format!(
        r#"[[clients]]
id = "svc"
secret = "svc-secret-0815"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[apis]]
name = "ping"
path = "/ping"
backend = {{ mock = {{ body = "pong" }} }}

[[apis]]
name = "up"
path = "/up"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ upstream = "http://{up}" }}
"#
    );
    let on = Gatehouse::start(&routes);
    let off = Gatehouse::start(&format!("[log]\naccess = false\n\n{routes}"));
    for gh in [&on, &off] {
        let c = common::client();
        let r = c.get(gh.url("/ping?x=secret-value")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let t: Value = c
            .post(gh.url("/api/oauth/token"))
            .basic_auth("svc", Some("svc-secret-0815"))
            .form(&[("grant_type", "client_credentials"), ("scope", "photos")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = c
            .get(gh.url("/up/items"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .header("x-request-id", "req-up-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "upstream!");
    }
    let lines = access_lines(&on, false, 3);
    assert_eq!(lines.len(), 3, "access lines by default:\n{}", on.stdout());
    let field = |l: &str, k: &str| {
        l.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {k} in {l}"))
    };
    let ping = lines.iter().find(|l| l.contains("path=/ping")).expect("the /ping line");
    assert_eq!(field(ping, "route"), "ping", "{ping}");
    assert_eq!(field(ping, "status"), "200", "{ping}");
    assert_eq!(field(ping, "query"), "x", "names only: {ping}");
    assert_eq!(field(ping, "upstream"), "-", "{ping}");
    assert!(!ping.contains("secret-value"), "{ping}");
    let up_line = lines
        .iter()
        .find(|l| l.contains("path=/up/items"))
        .expect("the /up line");
    assert_eq!(field(up_line, "route"), "up", "{up_line}");
    assert_eq!(field(up_line, "status"), "200", "{up_line}");
    assert_eq!(field(up_line, "client_id"), "svc", "{up_line}");
    assert_eq!(field(up_line, "sub"), "svc", "{up_line}");
    assert_eq!(field(up_line, "attempts"), "1", "{up_line}");
    assert!(field(up_line, "upstream").contains(&up.to_string()), "{up_line}");
    assert_eq!(field(up_line, "request_id"), "req-up-1", "{up_line}");
    assert_eq!(field(up_line, "bytes"), "9", "{up_line}");
    // The line is written by a thread of its own: give it the same time.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !off.stdout().contains(" access "),
        "access = false still logs:\n{}",
        off.stdout()
    );
}
