//! Hot reload on SIGHUP: routes, policies and clients change without a
//! restart, in-flight requests and open connections survive it, and a
//! broken file is refused with its line while the old config serves on.

mod common;

use common::{client, serve, Gatehouse, PRELUDE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn config(a_body: &str, extra: &str, slow: std::net::SocketAddr) -> String {
    format!(
        r#"{PRELUDE}
[[apis]]
path = "/a"
backend = {{ mock = {{ body = "{a_body}" }} }}

[[apis]]
path = "/slow"
backend = {{ upstream = "http://{slow}" }}

[[clients]]
id = "c1"
secret = "c1-secret"
grant_types = ["client_credentials"]
{extra}"#
    )
}

/// One request on an open keep-alive connection; returns the body.
fn keep_alive_get(s: &mut TcpStream, path: &str) -> String {
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.rsplit("\r\n\r\n").next().unwrap().to_string()
}

async fn body(gh: &Gatehouse, path: &str) -> (u16, String) {
    let r = client().get(gh.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_routes_and_clients_without_dropping_anything() {
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        "slow done"
    }
    let slow_up = serve(axum::Router::new().fallback(slow)).await;
    let gh = Gatehouse::start(&config("one", "", slow_up).replace(PRELUDE, ""));
    let file = gh.dir.path().join("gatehouse.toml");
    assert_eq!(body(&gh, "/a").await, (200, "one".into()));
    assert_eq!(body(&gh, "/b").await.0, 404);

    let mut open = TcpStream::connect(gh.addr).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(keep_alive_get(&mut open, "/a"), "one");
    let in_flight = tokio::spawn({
        let url = gh.url("/slow");
        async move {
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Load during the reloads: every request must succeed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (url, stop) = (gh.url("/a"), stop.clone());
            tokio::spawn(async move {
                let c = client();
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match c.get(&url).send().await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => failed.push(r.status().to_string()),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    // New routes, a changed one and a new client.
    let extra = r#"
[[apis]]
path = "/b"
backend = { mock = { body = "bee" } }

[[clients]]
id = "c2"
secret = "c2-secret"
grant_types = ["client_credentials"]
"#;
    std::fs::write(&file, config("two", extra, slow_up)).unwrap();
    gh.signal("HUP");
    let mut now = (0, String::new());
    for _ in 0..50 {
        now = body(&gh, "/a").await;
        if now.1 == "two" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(now, (200, "two".into()), "not reloaded: {}", gh.log());
    // A few more reloads while the load runs, each waited for: signals
    // sent while a reload runs are coalesced into one (as with any daemon).
    for n in 2..=4 {
        gh.signal("HUP");
        let want = format!("gatehouse_config_reloads_total{{result=\"ok\"}} {n}");
        let mut seen = false;
        for _ in 0..100 {
            if body(&gh, "/metrics").await.1.contains(&want) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen, "reload {n} not seen: {}", gh.log());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut served = 0;
    for l in load {
        let (ok, failed) = l.await.unwrap();
        assert!(failed.is_empty(), "requests failed during reloads: {failed:?}");
        served += ok;
    }
    assert!(served > 50, "only {served} requests during the reloads");
    assert_eq!(body(&gh, "/b").await, (200, "bee".into()));
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("c2", Some("c2-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the new client works");
    // The request in flight during the reload finished normally, and the
    // connection opened before it still serves (with the new routes).
    assert_eq!(in_flight.await.unwrap(), (200, "slow done".into()));
    assert_eq!(keep_alive_get(&mut open, "/a"), "two");

    // A broken file: refused with its line, the running config stays.
    std::fs::write(
        &file,
        format!("{}\nlisten_port = 3\n", std::fs::read_to_string(&file).unwrap()),
    )
    .unwrap();
    let bad_line = std::fs::read_to_string(&file).unwrap().lines().count();
    gh.signal("HUP");
    let mut log = String::new();
    for _ in 0..50 {
        log = gh.log();
        if log.contains("config not reloaded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(log.contains("config not reloaded"), "{log}");
    assert!(
        log.contains(&format!("gatehouse.toml:{bad_line}")),
        "no file:line in: {log}"
    );
    assert_eq!(body(&gh, "/a").await, (200, "two".into()));
    let metrics = body(&gh, "/metrics").await.1;
    assert!(
        metrics.contains("gatehouse_config_reloads_total{result=\"ok\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_config_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
}
