//! Upstream pools against real servers on loopback: balancing by each
//! algorithm, weights, consistent hashing, active and passive health,
//! retries (a killed target loses no GET; a POST is never replayed), all
//! targets down, reload keeping health state, and `check` refusing bad
//! pools.

mod common;

use common::target::Target;
use common::{client, Gatehouse};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn targets(names: &[&str]) -> Vec<Target> {
    names.iter().map(|n| Target::start(n)).collect()
}

fn list(ts: &[Target]) -> String {
    ts.iter()
        .map(|t| format!("\"{}\"", t.url()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn get(gh: &Gatehouse, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = client().get(gh.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn tally(gh: &Gatehouse, n: usize, path: &str) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for _ in 0..n {
        let (s, b) = get(gh, path, &[]).await;
        assert_eq!(s, 200, "{b}");
        *m.entry(b).or_default() += 1;
    }
    m
}

fn within(got: usize, want: f64, n: usize) -> bool {
    let share = got as f64 / n as f64;
    (share - want).abs() <= 0.15 * want.max(0.1)
}

#[tokio::test]
async fn round_robin_least_connections_and_weights_spread_requests() {
    let ts = targets(&["a", "b", "c"]);
    let gh = Gatehouse::start(&format!(
        r#"[[upstreams]]
name = "rr"
targets = [{list}]

[[upstreams]]
name = "weighted"
targets = ["{a}", {{ url = "{b}", weight = 2 }}, {{ url = "{c}", weight = 3 }}]

[[upstreams]]
name = "lc"
balance = "least_connections"
targets = [{list}]

[[apis]]
path = "/rr"
backend = {{ pool = "rr" }}

[[apis]]
path = "/w"
backend = {{ pool = "weighted" }}

[[apis]]
path = "/lc"
backend = {{ pool = "lc" }}
"#,
        list = list(&ts),
        a = ts[0].url(),
        b = ts[1].url(),
        c = ts[2].url(),
    ));
    let n = 300;
    let rr = tally(&gh, n, "/rr/x").await;
    for name in ["a", "b", "c"] {
        assert!(within(rr[name], 1.0 / 3.0, n), "round robin: {rr:?}");
    }
    let w = tally(&gh, 600, "/w/x").await;
    for (name, share) in [("a", 1.0 / 6.0), ("b", 2.0 / 6.0), ("c", 3.0 / 6.0)] {
        assert!(within(w[name], share, 600), "weights 1:2:3: {w:?}");
    }
    let lc = tally(&gh, n, "/lc/x").await;
    for name in ["a", "b", "c"] {
        assert!(within(lc[name], 1.0 / 3.0, n), "least connections: {lc:?}");
    }
}

#[tokio::test]
async fn consistent_hashing_is_sticky_and_spreads_keys() {
    let ts = targets(&["a", "b", "c"]);
    let gh = Gatehouse::start(&format!(
        r#"[[upstreams]]
name = "ch"
balance = "consistent_hash"
hash_on = "header:x-user-id"
targets = [{}]

[[apis]]
path = "/ch"
backend = {{ pool = "ch" }}
"#,
        list(&ts)
    ));
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut spread: HashMap<String, usize> = HashMap::new();
    for round in 0..3 {
        for u in 0..100 {
            let user = format!("user-{u}");
            let (s, who) = get(&gh, "/ch/x", &[("x-user-id", &user)]).await;
            assert_eq!(s, 200);
            if round == 0 {
                *spread.entry(who.clone()).or_default() += 1;
                owner.insert(user, who);
            } else {
                assert_eq!(owner[&user], who, "{user} moved between rounds");
            }
        }
    }
    for name in ["a", "b", "c"] {
        let n = spread.get(name).copied().unwrap_or(0);
        assert!((15..=55).contains(&n), "keys per target: {spread:?}");
    }
}

#[tokio::test]
async fn active_checks_eject_a_failing_target_and_bring_it_back() {
    let ts = targets(&["a", "b"]);
    let gh = Gatehouse::start(&format!(
        r#"[[upstreams]]
name = "p"
targets = [{}]
health = {{ path = "/healthz", interval = "200ms", timeout = "150ms", healthy = 2, unhealthy = 2 }}

[[apis]]
path = "/p"
backend = {{ pool = "p" }}
"#,
        list(&ts)
    ));
    assert_eq!(tally(&gh, 20, "/p/x").await.len(), 2);
    ts[1].counters.healthy.store(false, Ordering::SeqCst);
    let t0 = Instant::now();
    // Out within interval × unhealthy (0.4 s), plus one interval of slack.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if gh.log().contains("upstream target unhealthy") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "not ejected; log:\n{}",
            gh.log()
        );
    }
    let only = tally(&gh, 30, "/p/x").await;
    assert_eq!(only.keys().collect::<Vec<_>>(), vec!["a"], "{only:?}");
    let metrics = gh.metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("gatehouse_upstream_healthy") && l.contains(&ts[1].url()))
        .unwrap_or_else(|| panic!("no target state in /metrics:\n{metrics}"));
    assert!(line.ends_with(" 0"), "{line}");
    // A hanging health endpoint counts as a failure too (timeout), and
    // does not hold anything up.
    ts[0].counters.health_hangs.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(&gh, "/p/x", &[]).await.0, 503, "both out: no healthy target");
    let (s, body) = get(&gh, "/p/x", &[]).await;
    assert_eq!(s, 503);
    assert!(body.contains("no_healthy_upstream"), "{body}");
    ts[0].counters.health_hangs.store(false, Ordering::SeqCst);
    ts[1].counters.healthy.store(true, Ordering::SeqCst);
    let t1 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if tally_ok(&gh).await == 2 {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(3), "not back; log:\n{}", gh.log());
    }
    assert!(gh.log().contains("upstream target healthy again"));
}

async fn tally_ok(gh: &Gatehouse) -> usize {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let (s, b) = get(gh, "/p/x", &[]).await;
        if s == 200 {
            seen.insert(b);
        }
    }
    seen.len()
}

/// A target killed in the middle of a GET load: no GET fails (connect
/// failures and broken connections are retried on the other targets), and
/// passive checks eject the dead one.
#[tokio::test]
async fn a_killed_target_fails_no_get() {
    let mut ts = targets(&["a", "b", "c"]);
    let gh = Gatehouse::start(&format!(
        r#"[[upstreams]]
name = "p"
targets = [{}]
retries = 2
passive = {{ failures = 3, window = "10s", cooldown = "30s" }}

[[apis]]
path = "/p"
backend = {{ pool = "p" }}
"#,
        list(&ts)
    ));
    let http = client();
    let url = gh.url("/p/x");
    let load = tokio::spawn(async move {
        let mut failures = Vec::new();
        let mut ok = 0;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    let mut out = (0, Vec::new());
                    for _ in 0..600 {
                        match http.get(&url).send().await {
                            Ok(r) if r.status() == 200 => out.0 += 1,
                            Ok(r) => out.1.push(r.status().to_string()),
                            Err(e) => out.1.push(e.to_string()),
                        }
                    }
                    out
                })
            })
            .collect();
        for t in tasks {
            let (n, f) = t.await.unwrap();
            ok += n;
            failures.extend(f);
        }
        (ok, failures)
    });
    // Kill b while the load is running.
    while ts[1].hits() < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ts[1].kill();
    let (ok, failures) = load.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} GETs failed: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        gh.log()
    );
    assert_eq!(ok, 2400);
    assert!(
        ts[0].hits() > 400 && ts[2].hits() > 400,
        "{} {}",
        ts[0].hits(),
        ts[2].hits()
    );
    assert!(gh.log().contains("upstream target ejected"), "{}", gh.log());
}

/// A POST that reached a target is never sent again: the target answers
/// 503 after reading it, and the client gets that 503 from exactly one
/// target (a GET would have moved on).
#[tokio::test]
async fn a_post_that_reached_a_target_is_not_replayed() {
    let ts = targets(&["a", "b", "c"]);
    for t in &ts {
        t.counters.status.store(503, Ordering::SeqCst);
    }
    let gh = Gatehouse::start(&format!(
        r#"[[upstreams]]
name = "p"
targets = [{}]
retries = 2

[[apis]]
path = "/p"
backend = {{ pool = "p" }}
"#,
        list(&ts)
    ));
    let r = client().post(gh.url("/p/x")).body("order=1").send().await.unwrap();
    assert_eq!(r.status(), 503);
    let posts: u64 = ts.iter().map(|t| t.counters.posts.load(Ordering::SeqCst)).sum();
    assert_eq!(posts, 1, "the POST reached {posts} targets");
    // A GET is retried on the others: three targets tried.
    let before: u64 = ts.iter().map(Target::hits).sum();
    assert_eq!(get(&gh, "/p/x", &[]).await.0, 503);
    let after: u64 = ts.iter().map(Target::hits).sum();
    assert_eq!(after - before, 3, "a GET should try every target once");

    // A POST to a dead target is sent elsewhere (nothing reached it) …
    for t in &ts {
        t.counters.status.store(0, Ordering::SeqCst);
    }
    let mut ts = ts;
    ts[0].kill();
    ts[1].kill();
    // (A pooled connection the target closed is noticed once the worker
    // runs; a request already written on it could have reached a live
    // target, so only a connection refused is known to have sent nothing.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..6 {
        let r = client().post(gh.url("/p/x")).body("x").send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", gh.log());
        assert_eq!(r.text().await.unwrap(), "c");
    }
    // … and with every target dead the answer is a 502.
    ts[2].kill();
    let r = client().post(gh.url("/p/x")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(body.contains("bad_gateway"), "{body}");
}

#[tokio::test]
async fn a_slow_target_gets_504_and_one_url_is_a_pool_of_one() {
    let ts = targets(&["a"]);
    let gh = Gatehouse::start(&format!(
        r#"[[apis]]
path = "/one"
backend = {{ upstream = "{}", timeout = "300ms", strip_prefix = true }}
"#,
        ts[0].url()
    ));
    assert_eq!(get(&gh, "/one/x", &[]).await, (200, "a".to_string()));
    let t = Instant::now();
    let (s, body) = get(&gh, "/one/slow", &[]).await;
    assert_eq!(s, 504, "{body}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The worker keeps serving others meanwhile and after.
    assert_eq!(get(&gh, "/one/x", &[]).await.0, 200);
}

#[tokio::test]
async fn reload_keeps_an_unchanged_pools_health_state() {
    let ts = targets(&["a", "b"]);
    let pool = format!(
        r#"[[upstreams]]
name = "p"
targets = [{}]
health = {{ path = "/healthz", interval = "200ms", timeout = "150ms", healthy = 50, unhealthy = 1 }}
"#,
        list(&ts)
    );
    let gh = Gatehouse::start(&format!(
        "{pool}\n[[apis]]\npath = \"/p\"\nbackend = {{ pool = \"p\" }}\n"
    ));
    ts[1].counters.healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    ts[1].counters.healthy.store(true, Ordering::SeqCst);
    // `healthy = 50`: b stays out for ten seconds of good checks, unless a
    // reload forgot its state.
    let only = tally(&gh, 10, "/p/x").await;
    assert_eq!(only.keys().collect::<Vec<_>>(), vec!["a"], "{only:?}");
    let cfg = gh.dir.path().join("gatehouse.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}{pool}\n[[apis]]\npath = \"/p\"\nbackend = {{ pool = \"p\" }}\n[[apis]]\npath = \"/q\"\nbackend = {{ pool = \"p\" }}\n",
            common::PRELUDE
        ),
    )
    .unwrap();
    gh.signal("HUP");
    let t = Instant::now();
    while get(&gh, "/q/x", &[]).await.0 == 404 {
        assert!(t.elapsed() < Duration::from_secs(10), "reload not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = tally(&gh, 10, "/q/x").await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        vec!["a"],
        "the reload reset health: {after:?}"
    );
}

#[test]
fn check_refuses_bad_pools_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[apis]]\npath = \"/a\"\nbackend = { pool = \"nope\" }\n", 3, "no [[upstreams]] entry is named \"nope\""),
        ("[[upstreams]]\nname = \"p\"\ntargets = []\n", 3, "targets must not be empty"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"ftp://x\"]\n", 3, "must be http(s)://host"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [{ url = \"http://a:1\", weight = 0 }]\n", 3, "weight must be an integer from 1 to 1000"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"http://a:1\"]\nbalance = \"random\"\n", 4, "balance \"random\""),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"http://a:1\"]\nbalance = \"consistent_hash\"\n", 4, "needs hash_on"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"http://a:1\"]\nbalance = \"consistent_hash\"\nhash_on = \"body\"\n", 5, "hash_on \"body\""),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"https://a:1\"]\nprotocol = \"h2c\"\n", 3, "cleartext HTTP/2"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"http://a:1\"]\nhealth = { path = \"healthz\" }\n", 4, "must start with '/'"),
        ("[[upstreams]]\nname = \"p\"\ntargets = [\"http://a:1\"]\n[[upstreams]]\nname = \"p\"\ntargets = [\"http://b:1\"]\n", 5, "duplicate upstream name"),
    ];
    for (body, line, want) in cases {
        let f = dir.path().join("g.toml");
        std::fs::write(&f, format!("{}{body}", common::PRELUDE)).unwrap();
        let o = common::run(&["check", "--config", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{body}");
        let prelude_lines = common::PRELUDE.lines().count();
        assert!(
            err.contains(&format!("g.toml:{}:", line + prelude_lines)),
            "{body}: {err}"
        );
        assert!(err.contains(want), "{body}: {err}");
    }
}
