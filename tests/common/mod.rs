//! Test harness: runs the real `gatehouse` binary on an ephemeral port with a
//! config written to a temp dir, and small in-process HTTP servers that play
//! token services and upstreams.

#![allow(dead_code)] // each test binary uses a different subset

pub mod cassandra;
pub mod jwcrypto;
pub mod nginx;
pub mod pg;
pub mod redis;
pub mod target;
pub mod web;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// What every test config starts with: an ephemeral port and no files.
pub const PRELUDE: &str = "listen = \"127.0.0.1:0\"\n\n[store]\nurl = \"memory://\"\n\n";

/// A running `gatehouse serve`; killed when dropped.
pub struct Gatehouse {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Gatehouse {
    /// Starts gatehouse with `PRELUDE` + `body` as its config.
    pub fn start(body: &str) -> Gatehouse {
        Self::start_full(&format!("{PRELUDE}{body}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// RFC 7662 introspection of `token`, the client authenticating with
    /// client_secret_basic: the JSON answer.
    pub async fn introspect(&self, client_id: &str, secret: &str, token: &str) -> serde_json::Value {
        client()
            .post(self.url("/api/oauth/introspect"))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A client_credentials access token for `scope`, the client
    /// authenticating with client_secret_basic.
    pub async fn cc_token(&self, id: &str, secret: &str, scope: &str) -> String {
        let v: serde_json::Value = client()
            .post(self.url("/api/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {v}"))
            .to_string()
    }

    /// The Prometheus text of /metrics.
    pub async fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A counter or gauge of /metrics, summed over its label sets that
    /// contain `labels` (`""`: all).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gatehouse.stdout")).unwrap_or_default()
    }

    /// The child's stderr so far (tracing logs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gatehouse.log")).unwrap_or_default()
    }

    /// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM).
    pub fn proc_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` to completion.
/// `gatehouse check` refuses PRELUDE + `body`, saying `want`, at file:line.
pub fn assert_check_refuses(body: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, format!("{PRELUDE}{body}")).unwrap();
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted:\n{body}");
    assert!(err.contains(want), "{body}\n→ {err}");
    assert!(err.contains("gatehouse.toml:"), "no file:line for\n{body}\n→ {err}");
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

/// `gatehouse keygen --alg ALG --out DIR`, asserting success.
pub fn keygen(alg: &str, out: &Path) -> PathBuf {
    let o = run(&["keygen", "--alg", alg, "--out", out.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "keygen failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.to_path_buf()
}

/// Serves an axum router on 127.0.0.1:0 for the rest of the test's runtime.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// Runs a Playwright script of tests/browser/ (which drives Debian's
/// chromium) to completion and returns the JSON object it prints; fails
/// the test, with gatehouse's log, when the script reports a `failure`.
pub async fn browser_run(script: &str, args: &[&str], gh: &Gatehouse) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run ./test.sh (it installs Debian's chromium)"
    );
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists(),
        "playwright-core is missing: run ./test.sh (npm install --prefix tests/browser)"
    );
    let run = tokio::process::Command::new("node")
        .arg(root.join("tests/browser").join(script))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser run took over 3 minutes")
        .expect("node could not be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node failed: {stderr}\n{stdout}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON from the browser run ({e}): {stdout}\n{stderr}"));
    assert!(
        r.get("failure").is_none(),
        "browser run failed: {}\nresults so far: {r:#}\ngatehouse log:\n{}",
        r["failure"].as_str().unwrap_or(""),
        gh.log()
    );
    eprintln!("browser run: {r:#}");
    r
}

/// A client that never pools, never follows redirects and has a deadline.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Gatehouse {
    /// Starts gatehouse with exactly `config` (no prelude) in a fresh dir.
    pub fn start_full(config: &str) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, config)
    }

    /// Starts gatehouse in `dir` (kept by the returned value) with `config`.
    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Gatehouse {
        std::fs::write(dir.path().join("gatehouse.toml"), config).unwrap();
        let (child, addr) = spawn_in(dir.path());
        Gatehouse { child, addr, dir }
    }

    /// Stops the process (SIGKILL, as a crash would) and starts it again in
    /// the same directory with the same config.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr) = spawn_in(self.dir.path());
        self.child = child;
        self.addr = addr;
    }
}

fn spawn_in(dir: &Path) -> (Child, SocketAddr) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gatehouse.log"))
        .unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("gatehouse.toml"))
        .current_dir(dir)
        .env("GATEHOUSE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Standard output (the demo guide, access log lines) is kept in
    // gatehouse.stdout for `Gatehouse::stdout`.
    let mut keep = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gatehouse.stdout"))
        .unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(keep, "{line}");
            let listening = line.strip_prefix("gatehouse listening on ");
            if let Some(a) = listening.and_then(|l| l.strip_prefix("http://").or(l.strip_prefix("https://"))) {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(a) => (child, a.parse().unwrap()),
        Err(_) => {
            let _ = child.kill();
            panic!(
                "gatehouse did not start; log:\n{}",
                std::fs::read_to_string(dir.join("gatehouse.log")).unwrap_or_default()
            )
        }
    }
}

impl Gatehouse {
    /// Sends a signal (e.g. "TERM") to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// Waits up to `limit` for the process to exit; None if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
