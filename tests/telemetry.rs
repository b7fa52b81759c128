//! OpenTelemetry traces reach a real OTLP/HTTP receiver (the OpenTelemetry
//! project's protobuf definitions, `tests/otlp/receiver.py`): the client's
//! W3C trace context is continued, store statements are child spans, the
//! upstream sees a new parent span id, and sampling 0 exports nothing of
//! its own.

mod common;

use common::{Gatehouse, PRELUDE};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Receiver {
    child: Child,
    port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| l.trim().parse().ok())
            .expect("receiver port (is opentelemetry-proto installed? ./test.sh --install-only)");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let keep = spans.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&l).unwrap();
                assert!(v.get("error").is_none(), "receiver refused an export: {v}");
                keep.lock().unwrap().push(v);
            }
        });
        Receiver { child, port, spans }
    }

    fn config(&self, ratio: f64) -> String {
        format!(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:{}\"\nservice_name = \"gatehouse-test\"\nsample_ratio = {ratio}\n\n",
            self.port
        )
    }

    /// Spans of `trace_id` once `until` holds for them (or the deadline).
    fn wait_trace(&self, trace_id: &str, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t: Vec<Value> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s["trace_id"] == trace_id)
                .cloned()
                .collect();
            if until(&t) || Instant::now() > deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn all(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CLIENT: &str = r#"
[[clients]]
id = "svc"
secret = "svc-secret-123"
grant_types = ["client_credentials"]
scopes = ["photos"]
"#;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A token request carrying the client's `traceparent` is a server span of
/// that trace, child of the client's span, with the route, status and
/// client_id, and the SQL statements it ran are its children.
#[tokio::test]
async fn token_endpoint_continues_the_clients_trace_with_store_children() {
    let rx = Receiver::start();
    let gh = Gatehouse::start_full(&format!(
        "listen = \"127.0.0.1:0\"\n\n[store]\nurl = \"sqlite://data/g.db\"\n\n{}{CLIENT}",
        rx.config(1.0)
    ));
    let r = common::client()
        .post(gh.url("/api/oauth/token"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("tracestate", "vendor=abc")
        .basic_auth("svc", Some("svc-secret-123"))
        .form(&[("grant_type", "client_credentials"), ("scope", "photos")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let spans = rx.wait_trace(TRACE, |t| {
        t.iter().any(|s| s["kind"] == 2) && t.iter().any(|s| s["name"].as_str().unwrap_or("").starts_with("SELECT"))
    });
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}\nlog:\n{}", gh.log()));
    assert_eq!(server["parent_span_id"], PARENT, "{server}");
    assert_eq!(server["name"], "POST /api/oauth/token");
    assert_eq!(server["service"], "gatehouse-test");
    let a = &server["attributes"];
    assert_eq!(a["http.route"], "/api/oauth/token");
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["http.request.method"], "POST");
    assert_eq!(a["client_id"], "svc");
    let sql: Vec<&Value> = spans
        .iter()
        .filter(|s| s["attributes"]["db.system.name"] == "sqlite")
        .collect();
    assert!(!sql.is_empty(), "no store spans: {spans:#?}");
    for s in &sql {
        assert_eq!(
            s["parent_span_id"], server["span_id"],
            "store span not a child of the request: {s}"
        );
        let q = s["attributes"]["db.query.text"].as_str().unwrap();
        assert!(!q.contains("svc-secret-123"), "{q}");
    }
}

/// sample_ratio 0: requests without a sampled parent export nothing; a
/// client that asks (sampled flag) is still followed (parent-based).
#[tokio::test]
async fn sampling_zero_exports_only_what_a_sampled_parent_asks_for() {
    let rx = Receiver::start();
    let gh = Gatehouse::start(&format!(
        "{}[[apis]]\nname = \"hello\"\npath = \"/hello\"\nbackend = {{ mock = {{ body = \"hi\" }} }}\n",
        rx.config(0.0)
    ));
    let c = common::client();
    for _ in 0..20 {
        assert_eq!(c.get(gh.url("/hello")).send().await.unwrap().status(), 200);
        assert_eq!(c.get(gh.url("/healthz")).send().await.unwrap().status(), 200);
    }
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let r = c
        .get(gh.url("/healthz"))
        .header("traceparent", format!("00-{unsampled}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(gh.url("/healthz"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let asked = rx.wait_trace(TRACE, |t| !t.is_empty());
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert_eq!(asked[0]["parent_span_id"], PARENT);
    // The batch with the sampled span has been exported; nothing else came.
    std::thread::sleep(Duration::from_secs(1));
    let all = rx.all();
    assert_eq!(all.len(), 1, "sampling 0 exported spans nobody asked for: {all:#?}");
}

/// `[telemetry]` that cannot work is refused at file:line.
#[test]
fn bad_otlp_endpoints_are_refused_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, why) in [
        (
            "[telemetry]\notlp_endpoint = \"https://collector:4318\"\n",
            "is not an http:// URL",
        ),
        (
            "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
            "is not an http:// URL",
        ),
        (
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 1.5\n",
            "sample_ratio: 1.5 is not between 0 and 1",
        ),
    ] {
        let f = dir.path().join("g.toml");
        std::fs::write(&f, format!("{PRELUDE}{text}")).unwrap();
        let o = common::run(&["check", "--config", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("g.toml:") && err.contains(why),
            "{text}: {err}"
        );
    }
}
