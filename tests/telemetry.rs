//! OpenTelemetry traces reach a real OTLP/HTTP receiver (the OpenTelemetry
//! project's protobuf definitions, `tests/otlp/receiver.py`): the client's
//! W3C trace context is continued, store statements are child spans, the
//! proxied requests have policy and upstream-attempt child spans, the
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

/// What an upstream received of the trace context.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

async fn upstream() -> (std::net::SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().fallback(move |h: axum::http::HeaderMap| {
        let keep = keep.clone();
        async move {
            let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
            keep.lock().unwrap().push((get("traceparent"), get("tracestate")));
            "photos!"
        }
    });
    (common::serve(app).await, seen)
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn gateway_config(live: std::net::SocketAddr, dead: u16) -> String {
    format!(
        r#"[tokens]
access_format = "opaque"
{CLIENT}
[[upstreams]]
name = "photo-servers"
targets = ["http://127.0.0.1:{dead}", "http://{live}"]
retries = 1

[[apis]]
name = "photos"
path = "/photos"
rate_limit = {{ requests = 100, per = "1m", by = "client" }}
request_headers = {{ set = {{ "x-from" = "gatehouse" }} }}
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ pool = "photo-servers" }}
"#
    )
}

async fn svc_token(gh: &Gatehouse) -> String {
    gh.cc_token("svc", "svc-secret-123", "photos").await
}

/// A proxied request: the server span continues the client's trace and
/// names the route, status, client and target; each policy is a child
/// span (the opaque token's store lookup a child of `auth`); each attempt
/// to a target is a client span (the dead target's failed, the retry's
/// 200), and the target that answered received `traceparent` naming its
/// attempt's span as parent, with the client's `tracestate`. Without
/// `[telemetry]` the client's own headers reach the target untouched.
#[tokio::test]
async fn gateway_request_is_traced_through_policies_to_the_upstream() {
    let rx = Receiver::start();
    let (live, seen) = upstream().await;
    let gh = Gatehouse::start_full(&format!(
        "listen = \"127.0.0.1:0\"\n\n[store]\nurl = \"sqlite://data/g.db\"\n\n{}{}",
        rx.config(1.0),
        gateway_config(live, dead_port())
    ));
    let token = svc_token(&gh).await;
    let r = common::client()
        .get(gh.url("/photos/1"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("tracestate", "vendor=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "photos!");
    let spans = rx.wait_trace(TRACE, |t| {
        t.iter().any(|s| s["kind"] == 2) && t.iter().filter(|s| s["name"] == "GET").count() >= 2
    });
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .unwrap_or_else(|| panic!("no server span in {spans:#?}\nlog:\n{}", gh.log()));
    assert_eq!(server["parent_span_id"], PARENT, "{server}");
    assert_eq!(server["name"], "GET photos");
    let a = &server["attributes"];
    assert_eq!(a["http.route"], "photos");
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["client_id"], "svc");
    assert_eq!(a["upstream.target"], format!("http://{live}"));
    assert_eq!(a["upstream.attempts"], 2, "{a}");
    assert!(a["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    let child_named = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name && s["parent_span_id"] == server["span_id"])
            .unwrap_or_else(|| panic!("no {name} span under the request: {spans:#?}"))
    };
    for p in ["rate_limit", "auth", "headers"] {
        assert_eq!(child_named(p)["attributes"]["gatehouse.policy.outcome"], "next");
    }
    let auth = child_named("auth");
    assert!(
        spans
            .iter()
            .any(|s| s["attributes"]["db.system.name"] == "sqlite" && s["parent_span_id"] == auth["span_id"]),
        "the token lookup is not a child of the auth policy: {spans:#?}"
    );
    let attempts: Vec<&Value> = spans
        .iter()
        .filter(|s| s["kind"] == 3 && s["parent_span_id"] == server["span_id"])
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let failed = attempts
        .iter()
        .find(|s| s["attributes"]["error.type"] == "connect")
        .expect("the dead target's attempt");
    assert_eq!(failed["status"], 2, "an error status: {failed}");
    let ok = attempts
        .iter()
        .find(|s| s["attributes"]["http.response.status_code"] == 200)
        .expect("the answering attempt");
    assert_eq!(ok["attributes"]["http.request.resend_count"], 1);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let tp = got[0].0.clone().expect("traceparent at the upstream");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts[1], TRACE, "the client's trace continues: {tp}");
    assert_eq!(
        parts[2], ok["span_id"],
        "the upstream's parent is its attempt's span: {tp}"
    );
    assert_ne!(parts[2], PARENT);
    assert_eq!(got[0].1.as_deref(), Some("vendor=abc"));

    // Without [telemetry]: nothing of gatehouse's own, the client's
    // context passes through as sent.
    let (live2, seen2) = upstream().await;
    let plain = Gatehouse::start(&gateway_config(live2, dead_port()));
    let token = svc_token(&plain).await;
    let sent = format!("00-{TRACE}-{PARENT}-01");
    let r = common::client()
        .get(plain.url("/photos/1"))
        .bearer_auth(&token)
        .header("traceparent", &sent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen2.lock().unwrap().clone(), vec![(Some(sent), None)]);
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
