//! The store (PostgreSQL, then Cassandra) stops in the middle of a load of
//! token requests and gateway calls, then comes back (SPEC §5): /readyz turns 503 and back to 200,
//! every answer is a 200 or a 503 (never a 500, never a hang), routes that
//! need no store keep serving, nothing restarts, and every token answered
//! 200 before, during or after the outage is still valid.

mod common;

use common::{cassandra, client, pg, Gatehouse};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "printer-secret";
const CONNECT_TIMEOUT_MS: u64 = 1000;

fn config(db: &str, keys: &str, format: &str, jwk: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "http://gatehouse.test"

[store]
url = "{db}"
revocation_staleness = "1s"
connect_timeout = "{CONNECT_TIMEOUT_MS}ms"
statement_timeout = "2s"

[tokens]
access_format = "{format}"

[keys]
dir = "{keys}"

[[clients]]
id = "printer"
secret = "{SECRET}"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[apis]]
path = "/open"
backend = {{ mock = {{ body = "open" }} }}

[[apis]]
path = "/jwt"
auth = {{ kind = "jwt", jwk = "{jwk}" }}
backend = {{ mock = {{ body = "jwt" }} }}

[[apis]]
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

#[derive(Default)]
struct Tally {
    /// (what, status) → count
    answers: BTreeMap<(String, u16), u32>,
    /// Tokens answered 200, to check afterwards.
    tokens: Vec<String>,
    /// How many each instance (opaque, JWT) answered 200.
    issued: [usize; 2],
    slowest_503: Duration,
}

async fn get_token(gh: &Gatehouse) -> (StatusCode, Value) {
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "photos")])
        .send()
        .await
        .unwrap();
    let st = r.status();
    let text = r.text().await.unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{st}: {text}")),
    )
}

async fn call(gh: &Gatehouse, path: &str, bearer: &str) -> StatusCode {
    client()
        .get(gh.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
}

async fn ready(gh: &Gatehouse) -> StatusCode {
    client().get(gh.url("/readyz")).send().await.unwrap().status()
}

/// A store server of the test's own, to stop and start.
enum Server {
    Postgres(pg::Private),
    Cassandra(cassandra::Private),
}

impl Server {
    /// A fresh database (keyspace) on it: its URL.
    async fn fresh(&self) -> String {
        match self {
            Server::Postgres(p) => pg::fresh_db(&p.base).await,
            // The node goes away with the test: nothing to drop.
            Server::Cassandra(c) => c.keyspace(""),
        }
    }

    fn down(&self) {
        match self {
            Server::Postgres(p) => p.down(),
            Server::Cassandra(c) => c.down(1),
        }
    }

    fn up(&self) {
        match self {
            Server::Postgres(p) => p.up(),
            Server::Cassandra(c) => c.up(1),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_load_loses_nothing_and_heals_itself() {
    outage(Server::Postgres(pg::Private::start())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cassandra_outage_under_load_loses_nothing_and_heals_itself() {
    outage(Server::Cassandra(cassandra::Private::start(1))).await
}

async fn outage(server: Server) {
    let keys = tempfile::tempdir().unwrap();
    let ext = tempfile::tempdir().unwrap();
    let ext_keys = common::keygen("RS256", &ext.path().join("k"));
    let jwk = ext_keys.join("public.jwk.json");
    let ext_pem = std::fs::read_to_string(ext_keys.join("private.pem")).unwrap();
    let ext_token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &serde_json::json!({"sub": "svc", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(ext_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    // One instance issues opaque tokens (stored), one JWTs.
    let mut instances = Vec::new();
    for format in ["opaque", "jwt"] {
        let db = server.fresh().await;
        let cfg = config(&db, keys.path().to_str().unwrap(), format, jwk.to_str().unwrap());
        instances.push(Arc::new(Gatehouse::start_full(&cfg)));
    }
    let (opaque, jwt) = (instances[0].clone(), instances[1].clone());
    let pids: Vec<u32> = instances.iter().map(|g| g.pid()).collect();
    // Tokens from before the outage (the gateway has seen them once).
    let early_jwt = get_token(&jwt).await.1["access_token"].as_str().unwrap().to_string();
    assert_eq!(call(&jwt, "/photos", &early_jwt).await, StatusCode::OK);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (tally, stop) = (tally.clone(), stop.clone());
        let (opaque, jwt, ext_token, early_jwt) = (opaque.clone(), jwt.clone(), ext_token.clone(), early_jwt.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let gh = if w % 2 == 0 { &opaque } else { &jwt };
                let start = Instant::now();
                let (st, v) = get_token(gh).await;
                let took = start.elapsed();
                let mut answers = vec![(format!("token/{}", w % 2), st)];
                answers.push(("open".into(), call(gh, "/open", "").await));
                answers.push(("jwt".into(), call(gh, "/jwt", &ext_token).await));
                answers.push(("oauth2-jwt-early".into(), call(&jwt, "/photos", &early_jwt).await));
                let mut t = tally.lock().unwrap();
                if st == StatusCode::OK {
                    t.tokens.push(v["access_token"].as_str().unwrap().to_string());
                    t.issued[w % 2] += 1;
                } else if st == StatusCode::SERVICE_UNAVAILABLE {
                    assert_eq!(v["error"], "temporarily_unavailable", "{v}");
                    t.slowest_503 = t.slowest_503.max(took);
                }
                for (what, st) in answers {
                    *t.answers.entry((what, st.as_u16())).or_default() += 1;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = tally.lock().unwrap().tokens.len();
    // Both instances issue before the outage (a store that never worked
    // would pass everything below).
    assert!(
        tally.lock().unwrap().issued.iter().all(|n| *n > 0),
        "an instance issued nothing before the outage: {:?}",
        tally.lock().unwrap().answers
    );
    server.down();
    // Down: not ready, and store-backed requests fail fast with 503.
    let start = Instant::now();
    while ready(&opaque).await != StatusCode::SERVICE_UNAVAILABLE {
        assert!(start.elapsed() < Duration::from_secs(5), "/readyz never turned 503");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (during, issued_during) = {
        let t = tally.lock().unwrap();
        (t.tokens.len(), t.issued)
    };
    server.up();
    let start = Instant::now();
    for gh in [&opaque, &jwt] {
        while ready(gh).await != StatusCode::OK {
            assert!(start.elapsed() < Duration::from_secs(20), "/readyz never recovered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Issuance works again on both, without a restart.
    let recovered = Instant::now();
    'wait: loop {
        let issued = tally.lock().unwrap().issued;
        if issued.iter().zip(issued_during).all(|(now, then)| *now > then + 10) {
            break 'wait;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(20),
            "issuance did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let tokens = {
        let t = tally.lock().unwrap();
        let statuses: BTreeMap<u16, u32> = t.answers.iter().fold(BTreeMap::new(), |mut m, ((_, st), n)| {
            *m.entry(*st).or_default() += n;
            m
        });
        println!(
            "answers: {:?}\ntokens: {before} before, {during} by the end of the outage, {} in all; slowest 503: {:?}",
            t.answers,
            t.tokens.len(),
            t.slowest_503
        );
        // Only 200s and 503s, and 503s did happen (the outage was real).
        assert!(statuses.keys().all(|s| *s == 200 || *s == 503), "{:?}", t.answers);
        assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "{:?}", t.answers);
        // Routes that need no store never failed.
        for (what, st) in t.answers.keys() {
            if what == "open" || what == "jwt" || what == "oauth2-jwt-early" {
                assert_eq!(*st, 200, "{what} answered {st}: {:?}", t.answers);
            }
        }
        // A 503 came quickly. The worst case is a request whose statement
        // was already on the wire when the database went away: it waits
        // out statement_timeout (2 s), then one connect attempt; plus a
        // second of slack for a loaded 2-core machine (3.004 s was seen
        // against the old 3 s bound).
        assert!(
            t.slowest_503 < Duration::from_millis(2000 + CONNECT_TIMEOUT_MS * 2),
            "slowest 503 took {:?}",
            t.slowest_503
        );
        // No restart happened.
        assert_eq!(pids, instances.iter().map(|g| g.pid()).collect::<Vec<_>>());
        for gh in &instances {
            assert!(gh.proc_kib("VmRSS") > 0);
        }
        // Every token answered 200 is valid (opaque ones are looked up in the
        // database, so they were stored before the 200).
        t.tokens.clone()
    };
    for tok in &tokens {
        let gh = if tok.contains('.') { &jwt } else { &opaque };
        let r = gh.introspect("printer", SECRET, tok).await;
        assert_eq!(r["active"], true, "a token answered 200 was lost: {r}");
    }
}

/// The browser's pages while the store is down: a 503 page with
/// Retry-After (it was a 400, "this request cannot be completed", which
/// tells the user their request was wrong), and the login page again once
/// the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_answers_503_while_the_store_is_down() {
    let server = pg::Private::start();
    let db = pg::fresh_db(&server.base).await;
    let keys = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"listen = "127.0.0.1:0"
issuer = "http://gatehouse.test"

[store]
url = "{db}"
revocation_staleness = "1s"
connect_timeout = "{CONNECT_TIMEOUT_MS}ms"
statement_timeout = "2s"

[keys]
dir = "{keys}"

[[clients]]
id = "web"
secret = "web-secret"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code"]
scopes = ["openid"]
"#,
        keys = keys.path().display()
    );
    let gh = Gatehouse::start_full(&cfg);
    let url = gh.url(
        "/api/oauth/authorize?response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
         &scope=openid&state=s&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
    let r = common::client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the login page while the store is up");
    server.down();
    // Past the client cache's staleness bound.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = common::client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(r.text().await.unwrap().contains("temporarily unavailable"));
    server.up();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = common::client().get(&url).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the login page never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
