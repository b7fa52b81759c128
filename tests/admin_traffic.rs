//! The admin console's overview (`/admin/`) and `GET /admin/api/traffic`
//! after real traffic: gateway calls through a pool of two targets (one
//! dead, so active checks mark it unhealthy), a route whose upstream is
//! down (5xx), a rate-limited route (429s), and client_credentials grants.
//! The API's numbers are checked against what the test sent; the page is
//! opened in Debian's headless chromium (tests/browser/traffic.mjs), its
//! charts must have drawn bars, and it must refresh itself. Screenshot:
//! target/artifacts/admin-overview.png.

mod common;

use common::target::Target;
use common::{client, Gatehouse, PRELUDE};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const PASSWORD: &str = "console-password-1";

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn token(gh: &Gatehouse) -> String {
    gh.cc_token("printer", "printer-secret", "photos").await
}

async fn status(gh: &Gatehouse, path: &str, token: &str) -> u16 {
    client()
        .get(gh.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn route<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == name)
        .unwrap_or_else(|| panic!("no route {name} in {o:#}"))
}

fn sum(v: &Value) -> f64 {
    v.as_array().unwrap().iter().filter_map(Value::as_f64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_shows_routes_upstreams_tokens_and_refusals() {
    let live = Target::start("live");
    let (dead, down) = (dead_port(), dead_port());
    let gh = Gatehouse::start_full(&format!(
        r#"{PRELUDE}
[admin]
username = "admin"
password = "{PASSWORD}"

[[clients]]
id = "printer"
secret = "printer-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[upstreams]]
name = "photo-servers"
targets = ["{live}", "http://127.0.0.1:{dead}"]
health = {{ path = "/healthz", interval = "200ms", timeout = "150ms", healthy = 1, unhealthy = 1 }}

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ pool = "photo-servers" }}

[[apis]]
name = "broken"
path = "/broken"
backend = {{ upstream = "http://127.0.0.1:{down}" }}

[[apis]]
name = "limited"
path = "/limited"
rate_limit = {{ requests = 2, per = "1m", by = "ip" }}
backend = {{ mock = {{ body = "ok" }} }}
"#,
        live = live.url()
    ));
    // Let the active check mark the dead target before traffic.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(token(&gh).await);
    }
    let bad = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    for t in tokens.iter().cycle().take(40) {
        assert_eq!(status(&gh, "/photos/a", t).await, 200);
    }
    for _ in 0..5 {
        assert!(status(&gh, "/broken/x", "-").await >= 500);
    }
    let limited: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..10 {
            v.push(status(&gh, "/limited/x", "-").await);
        }
        v
    };
    assert_eq!(limited.iter().filter(|s| **s == 429).count(), 8, "{limited:?}");

    // The admin API: the same numbers as JSON, behind the admin credential.
    let unauth = client().get(gh.url("/admin/api/traffic")).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    assert!(unauth.headers().contains_key("www-authenticate"));
    let o: Value = client()
        .get(gh.url("/admin/api/traffic"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(o["step_seconds"], 5);
    let n = o["times"].as_array().unwrap().len();
    assert!(n >= 1, "{o:#}");
    let photos = route(&o, "photos");
    assert_eq!(photos["total_requests"], 40, "{photos:#}");
    assert_eq!(photos["total_server_errors"], 0);
    for series in [
        "requests_per_second",
        "error_rate",
        "p50_ms",
        "p99_ms",
        "rate_limited_per_second",
    ] {
        assert_eq!(photos[series].as_array().unwrap().len(), n, "{series}");
    }
    assert!(sum(&photos["requests_per_second"]) > 0.0, "{photos:#}");
    let p50 = photos["p50_ms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .next();
    let p99 = photos["p99_ms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .next();
    let (p50, p99) = (p50.expect("a p50"), p99.expect("a p99"));
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 10_000.0, "p50 {p50} p99 {p99}");
    let broken = route(&o, "broken");
    assert_eq!(broken["total_server_errors"], 5, "{broken:#}");
    assert!(broken["error_rate"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_f64() == Some(1.0)));
    let lim = route(&o, "limited");
    assert_eq!(lim["total_rate_limited"], 8, "{lim:#}");
    assert!(sum(&lim["rate_limited_per_second"]) > 0.0);
    let targets = o["upstreams"].as_array().unwrap();
    let health = |url: &str| {
        targets
            .iter()
            .find(|t| t["target"].as_str().unwrap().trim_end_matches('/') == url.trim_end_matches('/'))
            .unwrap_or_else(|| panic!("no target {url} in {targets:#?}"))["healthy"]
            .clone()
    };
    assert_eq!(health(&live.url()), true);
    assert_eq!(health(&format!("http://127.0.0.1:{dead}")), false);
    let cc = o["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grant"] == "client_credentials")
        .expect("client_credentials issuance");
    assert_eq!(cc["total"], 12);
    assert_eq!(o["token_errors"]["invalid_client"], 1, "{o:#}");

    // The page, in a browser.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("admin-overview.png");
    let _ = std::fs::remove_file(&shot);
    let r = common::browser_run(
        "traffic.mjs",
        &[&gh.url(""), PASSWORD, artifacts.to_str().unwrap()],
        &gh,
    )
    .await;
    assert_eq!(r["url"], gh.url("/admin/"), "signing in lands on the overview");
    assert_eq!(r["current"], "Overview");
    for name in ["photos", "broken", "limited"] {
        assert!(r["routes"].as_array().unwrap().iter().any(|x| x == name), "{r:#}");
    }
    assert_eq!(r["photos"]["total"], "40");
    for chart in ["rps", "p99", "p50"] {
        assert!(r["photos"][chart].as_u64().unwrap() >= 1, "no {chart} bar: {r:#}");
    }
    assert!(r["broken"]["errors"].as_u64().unwrap() >= 1, "{r:#}");
    let shown: Vec<(&str, &str)> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap(), t["health"].as_str().unwrap()))
        .collect();
    assert!(
        shown
            .iter()
            .any(|(t, h)| t.contains(&dead.to_string()) && *h == "unhealthy"),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|(t, h)| t.contains(&live.addr.port().to_string()) && *h == "healthy"),
        "{shown:?}"
    );
    assert!(r["targetBars"].as_u64().unwrap() >= 1);
    assert!(r["grants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "client_credentials"));
    assert!(r["tokenBars"].as_u64().unwrap() >= 1);
    assert_eq!(r["limited"], serde_json::json!(["limited"]));
    assert!(r["limitedBars"].as_u64().unwrap() >= 1);
    assert_eq!(r["refreshed"], true, "the page refreshes itself");
    assert!(
        shot.metadata().unwrap().len() > 10_000,
        "a screenshot with something on it"
    );
}
