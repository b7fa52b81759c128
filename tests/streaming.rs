//! WebSocket and gRPC through the gateway with client and server libraries
//! this project did not write: Python `websockets` (echo server and
//! client) behind a `jwt` route, and grpcio (server and client; unary and
//! streaming both ways, trailers, cancellation) through an `h2c` pool
//! behind an `oauth2` route.

mod common;

use common::{keygen, Gatehouse};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A Python peer started with `args`; it prints "port N" once listening.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start(script: &str, args: &[&str]) -> Peer {
        let mut child = Command::new("python3")
            .arg(Path::new(ROOT).join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .unwrap_or_else(|| panic!("{script}: no port in {line:?}"))
            .parse()
            .unwrap();
        Peer { child, port }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python(script: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(Path::new(ROOT).join(script))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

fn sign(pem: &Path, kid: &str, claims: Value) -> String {
    let specs = json!([{"alg": "RS256", "pem": pem, "kid": kid, "claims": claims}]);
    let mut child = Command::new("python3")
        .arg(Path::new(ROOT).join("tests/interop/jwt_tool.py"))
        .arg("sign")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(specs.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].as_str().unwrap().to_string()
}

#[test]
fn websocket_through_a_jwt_route() {
    let ws = Peer::start("tests/interop/ws/ws.py", &["serve"]);
    let dir = tempfile::tempdir().unwrap();
    keygen("RS256", dir.path());
    let jwk: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("public.jwk.json")).unwrap()).unwrap();
    let kid = jwk["kid"].as_str().unwrap().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = sign(
        &dir.path().join("private.pem"),
        &kid,
        json!({"sub": "alice", "exp": now + 600}),
    );
    let gh = Gatehouse::start(&format!(
        r#"[[apis]]
name = "ws"
path = "/ws"
auth = {{ kind = "jwt", jwk = "{}" }}
backend = {{ upstream = "http://127.0.0.1:{}", idle_timeout = "2s" }}
"#,
        dir.path().join("public.jwk.json").display(),
        ws.port
    ));
    let url = format!("ws://{}/ws/echo", gh.addr);
    let r = python("tests/interop/ws/ws.py", &["client", &url, &token]);
    assert_eq!(r["text"], "hello", "{r}");
    assert_eq!(r["binary"], json!([0, 1, 2]), "{r}");
    assert_eq!(r["big_ok"], true, "{r}");
    assert_eq!(r["ordered"], true, "{r}");

    let r = python("tests/interop/ws/ws.py", &["client", &url]);
    assert_eq!(r["status"], 401, "{r}");
    assert!(r["www_authenticate"].as_str().unwrap().starts_with("Bearer"), "{r}");
    let r = python("tests/interop/ws/ws.py", &["client", &url, "not-a-jwt"]);
    assert_eq!(r["status"], 401, "{r}");

    // A peer that stops reading: back-pressure stops the sender after the
    // socket buffers fill (nothing piles up in gatehouse), and the idle
    // tunnel is closed after idle_timeout.
    let rss_before = gh.proc_kib("VmRSS");
    let r = python("tests/interop/ws/ws.py", &["stall", &url, &token]);
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent < 64 << 20, "{sent} bytes accepted by a peer that never reads: {r}");
    let closed = r["closed_after_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("never closed: {r}"));
    assert!(closed < 10.0, "{r}");
    let rss_after = gh.proc_kib("VmRSS");
    assert!(rss_after < rss_before + 32 * 1024, "RSS {rss_before} → {rss_after} KiB");
    // And the worker still serves.
    let r = python("tests/interop/ws/ws.py", &["client", &url, &token]);
    assert_eq!(r["text"], "hello", "{r}");
}

#[tokio::test]
async fn grpc_through_an_h2c_pool_and_an_oauth2_route() {
    let g = Peer::start("tests/interop/grpc/grpc_echo.py", &["serve"]);
    let gh = Gatehouse::start(&format!(
        r#"[server]
h2c = true

[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials"]
scopes = ["echo"]

[[upstreams]]
name = "grpc"
protocol = "h2c"
targets = ["http://127.0.0.1:{}"]

[[apis]]
name = "echo"
path = "/gatehouse.test.Echo"
auth = {{ kind = "oauth2", scopes = ["echo"] }}
backend = {{ pool = "grpc" }}
"#,
        g.port
    ));
    let tok: Value = common::client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "echo")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap().to_string();
    let addr = gh.addr.to_string();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            python("tests/interop/grpc/grpc_echo.py", &a)
        })
    };
    let r = run(vec!["client".into(), addr.clone(), token.clone()]).await.unwrap();
    assert_eq!(r["unary"], json!(["hi", 42]), "{r}");
    assert_eq!(r["unary_trailer"], "unary-hi", "trailers reach the client: {r}");
    assert_eq!(r["server_stream"], true, "{r}");
    assert_eq!(r["server_stream_trailer"], "stream-done", "{r}");
    assert_eq!(r["client_stream"], 30, "{r}");
    assert_eq!(r["bidi"], true, "{r}");
    assert_eq!(r["cancelled_after"], json!([0, 1, 2]), "{r}");
    assert_eq!(r["cancelled_code"], "CANCELLED", "{r}");
    assert_eq!(r["after_cancel"], 2, "{r}");

    let r = run(vec!["client".into(), addr.clone()]).await.unwrap();
    assert_eq!(r["refused_code"], "UNAUTHENTICATED", "{r}");
    let r = run(vec!["client".into(), addr, "wrong-token".into()]).await.unwrap();
    assert_eq!(r["refused_code"], "UNAUTHENTICATED", "{r}");
    // The refusal is HTTP 401 with the RFC 6750 challenge and grpc-status 16.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = h2
        .post(gh.url("/gatehouse.test.Echo/Unary"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["grpc-status"], "16");
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    tokio::time::sleep(Duration::from_millis(10)).await;
}
