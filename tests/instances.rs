//! Several real `gatehouse serve` processes sharing one store (SPEC §5),
//! each case on PostgreSQL and on Cassandra: tokens, sessions and keys work
//! on every instance, a revocation on one reaches the others at once
//! (LISTEN/NOTIFY on PostgreSQL, the polled change table on Cassandra),
//! single-use things stay single-use when two instances race for them, and
//! login throttling counts every instance's failures.

mod common;

use common::web::Browser;
use common::{cassandra, client, pg, Gatehouse};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

const ISSUER: &str = "http://gatehouse.test";
const CB: &str = "http://127.0.0.1:9000/callback";
const SECRET: &str = "printer-secret";
/// Rounds of each race.
const ROUNDS: usize = 50;

fn config(db: &str, keys: &str, format: &str, staleness: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "{db}"
revocation_staleness = "{staleness}"
pool_size = 8

[tokens]
access_format = "{format}"

[keys]
dir = "{keys}"

[[clients]]
id = "printer"
name = "Printing App"
secret = "{SECRET}"
redirect_uris = ["{CB}"]
grant_types = ["authorization_code", "refresh_token", "password", "client_credentials"]
scopes = ["photos", "openid", "profile"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/flickr/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Cassandra,
}

/// A fresh database (PostgreSQL) or keyspace (Cassandra) on the run's
/// shared server: its URL, and what drops it.
async fn fresh_store(b: Backend) -> (String, Option<cassandra::Keyspace>) {
    match b {
        Backend::Postgres => (pg::fresh_db(&pg::shared()).await, None),
        Backend::Cassandra => {
            let ks = cassandra::url(&cassandra::shared(), "");
            (ks.url.clone(), Some(ks))
        }
    }
}

/// What a cluster's instances share besides the store: the key directory,
/// and the keyspace to drop afterwards.
type Shared = (tempfile::TempDir, Option<cassandra::Keyspace>);

/// `n` instances on one fresh database and one key directory, started at
/// the same moment (so their migrations race for the advisory lock on
/// PostgreSQL, for the schema lock row on Cassandra).
async fn cluster(b: Backend, n: usize, format: &str, staleness: &str) -> (Vec<Gatehouse>, Shared) {
    let (db, ks) = fresh_store(b).await;
    let keys = tempfile::tempdir().unwrap();
    let cfg = config(&db, keys.path().to_str().unwrap(), format, staleness);
    let starts: Vec<_> = (0..n)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || Gatehouse::start_full(&cfg))
        })
        .collect();
    let all = starts.into_iter().map(|t| t.join().unwrap()).collect();
    (all, (keys, ks))
}

async fn token(gh: &Gatehouse, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn password_grant(gh: &Gatehouse) -> Value {
    let (s, v) = token(
        gh,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "photos"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn api(gh: &Gatehouse, access: &str) -> StatusCode {
    client()
        .get(gh.url("/flickr/photos"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

async fn introspect(gh: &Gatehouse, t: &str) -> Value {
    gh.introspect("printer", SECRET, t).await
}

async fn revoke(gh: &Gatehouse, t: &str) {
    let r = client()
        .post(gh.url("/api/oauth/revoke"))
        .basic_auth("printer", Some(SECRET))
        .form(&[("token", t)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_string()
}

async fn tokens_sessions_and_keys_work_on_every_instance(b: Backend) {
    for format in ["jwt", "opaque"] {
        let (gh, _keys) = cluster(b, 3, format, "5s").await;
        // Issued by a, accepted by b's gateway and introspected by c.
        let v = password_grant(&gh[0]).await;
        let access = s(&v, "access_token");
        assert_eq!(api(&gh[1], &access).await, StatusCode::OK, "{format}");
        let i = introspect(&gh[2], &access).await;
        assert_eq!(i["active"], true, "{format}: {i}");
        assert_eq!(i["sub"], "alice", "{format}: {i}");
        // A refresh token from a rotates on c.
        let (st, r) = token(
            &gh[2],
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &s(&v, "refresh_token")),
            ],
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{format}: {r}");
        // The JWKS is the same everywhere (one key directory).
        let jwks: Vec<String> = futures_util::future::join_all(gh.iter().map(|g| async move {
            client()
                .get(g.url("/api/oauth/jwks"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }))
        .await;
        assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");
    }

    // A browser signed in on a is signed in on b: no login page there.
    let (gh, _keys) = cluster(b, 2, "jwt", "5s").await;
    let on_a = Browser::new(&gh[0]);
    let params = [
        ("response_type", "code"),
        ("client_id", "printer"),
        ("redirect_uri", CB),
        ("scope", "photos"),
        ("state", "s1"),
    ];
    let page = on_a.authorize(&params).await;
    let page = on_a.login(&page, "alice", "wonderland").await;
    let session_cookie = page.set_cookie("gh_session").expect("a session cookie after login");
    let done = on_a.allow(&page).await;
    assert!(done.redirect_params().contains_key("code"));
    let on_b = Browser {
        gh: &gh[1],
        http: on_a.http.clone(),
    };
    let again = on_b.authorize(&params).await;
    let code = again
        .redirect_params()
        .get("code")
        .cloned()
        .expect("signed in and consented on b too");
    let (st, v) = token(
        &gh[1],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // Signing out on b ends the session on a as well (RP-initiated logout
    // without a hint: confirm on the page).
    let ask = Browser::page(on_b.http.get(gh[1].url("/api/oauth/logout")).send().await.unwrap()).await;
    let mut form = common::web::hidden_fields(&ask.html);
    form.push(("action".into(), "logout".into()));
    let out = Browser::page(
        on_b.http
            .post(gh[1].url("/api/oauth/logout"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(out.html.contains("id=\"signed-out\""), "{}", out.html);
    // The old cookie, replayed to a, signs no one in: a asks the store.
    let url = reqwest::Url::parse_with_params(&gh[0].url("/api/oauth/authorize"), &params).unwrap();
    let replay = client()
        .get(url)
        .header("cookie", &session_cookie)
        .send()
        .await
        .unwrap();
    assert!(
        replay.text().await.unwrap().contains("id=\"password\""),
        "still signed in on a after logout on b"
    );
}

/// With a 30 s staleness bound, b still refuses a token revoked on a within
/// a second or two: the notification dropped b's cached answer.
async fn revocation_reaches_other_instances_at_once(b: Backend) {
    for format in ["jwt", "opaque"] {
        let (gh, _keys) = cluster(b, 2, format, "30s").await;
        // Let b's notification channel come up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for revoke_refresh in [false, true] {
            let v = password_grant(&gh[0]).await;
            let access = s(&v, "access_token");
            // b caches "valid".
            assert_eq!(api(&gh[1], &access).await, StatusCode::OK);
            assert_eq!(api(&gh[1], &access).await, StatusCode::OK);
            // Revoking the refresh token revokes the grant, access token too.
            let which = if revoke_refresh {
                s(&v, "refresh_token")
            } else {
                access.clone()
            };
            revoke(&gh[0], &which).await;
            let start = Instant::now();
            while api(&gh[1], &access).await == StatusCode::OK {
                assert!(
                    start.elapsed() < Duration::from_secs(3),
                    "{format}: b still accepts a token revoked on a (refresh: {revoke_refresh})"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(api(&gh[1], &access).await, StatusCode::UNAUTHORIZED);
        }
    }
}

/// The same refresh token sent to two instances at the same moment: one
/// rotation wins, the other is a reuse that revokes the grant, including
/// what the winner was just given.
async fn a_refresh_token_raced_on_two_instances_has_exactly_one_winner(b: Backend) {
    let (gh, _keys) = cluster(b, 2, "opaque", "30s").await;
    let (mut wins, mut losses) = (0, 0);
    for round in 0..ROUNDS {
        let rt = s(&password_grant(&gh[round % 2]).await, "refresh_token");
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
        let (a, b) = tokio::join!(token(&gh[0], &form), token(&gh[1], &form));
        let mut winner = None;
        for (st, v) in [a, b] {
            match st {
                StatusCode::OK => {
                    wins += 1;
                    winner = Some(v);
                }
                StatusCode::BAD_REQUEST => {
                    assert_eq!(v["error"], "invalid_grant", "{v}");
                    losses += 1;
                }
                other => panic!("round {round}: {other} {v}"),
            }
        }
        let w = winner.unwrap_or_else(|| panic!("round {round}: no winner"));
        // The reuse revoked the family: the winner's new tokens are dead
        // on both instances.
        let (st, v) = token(
            &gh[round % 2],
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &s(&w, "refresh_token")),
            ],
        )
        .await;
        assert_eq!(
            st,
            StatusCode::BAD_REQUEST,
            "round {round}: the winner's refresh token still works: {v}"
        );
        for g in &gh {
            assert_eq!(
                introspect(g, &s(&w, "access_token")).await["active"],
                false,
                "round {round}"
            );
        }
    }
    assert_eq!((wins, losses), (ROUNDS, ROUNDS));
}

/// One authorization code redeemed on two instances at once: exactly one
/// token response.
async fn an_authorization_code_raced_on_two_instances_is_redeemed_once(b: Backend) {
    let (gh, _keys) = cluster(b, 2, "jwt", "30s").await;
    let b = Browser::new(&gh[0]);
    let params = [
        ("response_type", "code"),
        ("client_id", "printer"),
        ("redirect_uri", CB),
        ("scope", "photos"),
    ];
    let page = b.authorize(&params).await;
    let page = b.login(&page, "alice", "wonderland").await;
    b.allow(&page).await;
    let (mut wins, mut losses) = (0, 0);
    for round in 0..ROUNDS {
        // Signed in and consented: each request is answered with a code.
        let code = b.authorize(&params).await.redirect_params()["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CB),
        ];
        let (x, y) = tokio::join!(token(&gh[0], &form), token(&gh[1], &form));
        for (st, v) in [x, y] {
            match st {
                StatusCode::OK => wins += 1,
                StatusCode::BAD_REQUEST => {
                    assert_eq!(v["error"], "invalid_grant", "{v}");
                    losses += 1
                }
                other => panic!("round {round}: {other} {v}"),
            }
        }
        assert_eq!(wins, round + 1, "round {round}: not exactly one winner");
    }
    assert_eq!((wins, losses), (ROUNDS, ROUNDS));
}

async fn login_throttling_counts_failures_on_every_instance(b: Backend) {
    let (gh, _keys) = cluster(b, 2, "jwt", "5s").await;
    let bad = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wrong"),
        ("scope", "photos"),
    ];
    // Five failures per user lock it: three on a, two on b.
    for g in [&gh[0], &gh[0], &gh[0], &gh[1], &gh[1]] {
        let (st, v) = token(g, &bad).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
    for g in &gh {
        let r = client()
            .post(g.url("/api/oauth/token"))
            .basic_auth("printer", Some(SECRET))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "photos"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().contains_key("retry-after"), "locked on every instance");
    }
}

/// Each case as two tests, `CASE::postgres` and `CASE::cassandra`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                use super::Backend;
                // Four worker threads so the races really race.
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$case(Backend::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn cassandra() {
                    super::$case(Backend::Cassandra).await
                }
            }
        )*
    };
}

on_both_backends!(
    tokens_sessions_and_keys_work_on_every_instance,
    revocation_reaches_other_instances_at_once,
    a_refresh_token_raced_on_two_instances_has_exactly_one_winner,
    an_authorization_code_raced_on_two_instances_is_redeemed_once,
    login_throttling_counts_failures_on_every_instance,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_command_prepares_a_fresh_database() {
    let db = pg::fresh_db(&pg::shared()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gatehouse.toml");
    std::fs::write(&cfg, config(&db, "keys", "jwt", "5s")).unwrap();
    for _ in 0..2 {
        let o = common::run(&["migrate", "--config", cfg.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"));
    }
    // A bad URL is a clear error with the password hidden.
    let bad = config("postgres://app:hunter2@127.0.0.1:1/nope", "keys", "jwt", "5s");
    std::fs::write(&cfg, bad).unwrap();
    let o = common::run(&["migrate", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.1:1") && !err.contains("hunter2"), "{err}");
}

/// `sslmode=require` (encrypted) and `sslmode=verify-full` (encrypted and
/// the server's certificate checked) both work over rustls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tls_with_sslmode() {
    let server = pg::Private::start_ssl();
    let keys = tempfile::tempdir().unwrap();
    for mode in [
        "sslmode=require".to_string(),
        format!("sslmode=verify-full&sslrootcert={}", server.ca()),
    ] {
        let db = pg::fresh_db(&server.base).await;
        let gh = Gatehouse::start_full(&config(
            &format!("{db}?{mode}"),
            keys.path().to_str().unwrap(),
            "opaque",
            "5s",
        ));
        let v = password_grant(&gh).await;
        assert_eq!(api(&gh, &s(&v, "access_token")).await, StatusCode::OK, "{mode}");
        // Every connection gatehouse holds is encrypted.
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&format!("{}/postgres", server.base))
            .await
            .unwrap();
        let (plain, tls): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'gatehouse'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert!(
            tls > 0 && plain == 0,
            "{mode}: {tls} encrypted, {plain} plain connections"
        );
    }
    // A certificate that does not verify is refused under verify-full.
    let other = tempfile::tempdir().unwrap();
    let bogus = other.path().join("ca.pem");
    let o = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
        ])
        .args([
            "-keyout",
            other.path().join("k.pem").to_str().unwrap(),
            "-out",
            bogus.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let db = pg::fresh_db(&server.base).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gatehouse.toml");
    let url = format!("{db}?sslmode=verify-full&sslrootcert={}", bogus.display());
    std::fs::write(&cfg, config(&url, "keys", "jwt", "5s")).unwrap();
    let o = common::run(&["migrate", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
}

/// `tls_ca=…` connects to Cassandra over TLS (rustls) and verifies the
/// node's certificate: the node counts gatehouse's connections as
/// encrypted, and a CA that did not sign it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_to_cassandra_over_tls() {
    let keys = tempfile::tempdir().unwrap();
    let ks = cassandra::url(&cassandra::shared(), &format!("tls_ca={}", cassandra::shared_ca()));
    let gh = Gatehouse::start_full(&config(&ks.url, keys.path().to_str().unwrap(), "opaque", "5s"));
    let v = password_grant(&gh).await;
    assert_eq!(api(&gh, &s(&v, "access_token")).await, StatusCode::OK);
    // Only this test connects with TLS, and the test's own session is plain.
    let encrypted = cassandra::query(&cassandra::shared(), "SELECT ssl_enabled FROM system_views.clients")
        .into_iter()
        .filter(|r| r[0] == "Boolean(true)")
        .count();
    assert!(encrypted > 0, "no encrypted connection from gatehouse");
    drop(gh);

    // A CA that did not sign the node's certificate: refused.
    let other = tempfile::tempdir().unwrap();
    let bogus = other.path().join("ca.pem");
    let o = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", "/CN=other"])
        .args(["-keyout", other.path().join("k.pem").to_str().unwrap()])
        .args(["-out", bogus.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let bad = cassandra::url(&cassandra::shared(), &format!("tls_ca={}", bogus.display()));
    let cfg = other.path().join("gatehouse.toml");
    std::fs::write(&cfg, config(&bad.url, "keys", "jwt", "5s")).unwrap();
    let o = common::run(&["migrate", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains(":cassandra@"), "the password shows: {err}");
}
