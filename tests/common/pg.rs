//! PostgreSQL for the end-to-end tests: a throw-away server from
//! tests/pg/cluster.sh (./test.sh starts one for the whole run and passes
//! it in GATEHOUSE_TEST_PG), and a fresh database per test.

use sqlx::Connection;
use std::process::Command;
use std::sync::OnceLock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg/cluster.sh");

fn cluster(args: &[&str]) -> (String, String) {
    let out = Command::new(SCRIPT).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tests/pg/cluster.sh {args:?} failed (run ./test.sh, which installs PostgreSQL): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
        String::from_utf8(out.stderr).unwrap().trim().to_string(),
    )
}

/// The server shared by the tests of this process.
pub fn shared() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| match std::env::var("GATEHOUSE_TEST_PG") {
        Ok(url) => url.trim_end_matches('/').to_string(),
        Err(_) => cluster(&["start", "--watch", &std::process::id().to_string()]).0,
    })
    .clone()
}

/// A server of the test's own, which it may stop and start; removed when
/// dropped.
pub struct Private {
    pub base: String,
    dir: String,
}

impl Private {
    pub fn start() -> Private {
        Self::start_with(&[])
    }

    /// With TLS on (a certificate for 127.0.0.1 signed by `ca()`).
    pub fn start_ssl() -> Private {
        Self::start_with(&["--ssl"])
    }

    fn start_with(flags: &[&str]) -> Private {
        let pid = std::process::id().to_string();
        let mut args = vec!["start"];
        args.extend_from_slice(flags);
        args.extend(["--watch", &pid]);
        let (base, dir) = cluster(&args);
        let dir = dir.lines().last().unwrap_or_default().to_string();
        Private { base, dir }
    }

    /// The CA that signed the server's certificate (started with TLS).
    pub fn ca(&self) -> String {
        format!("{}/ca.crt", self.dir)
    }

    /// Stops the server at once, as a crash would.
    pub fn down(&self) {
        cluster(&["down", &self.dir]);
    }

    pub fn up(&self) {
        cluster(&["up", &self.dir]);
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).args(["stop", &self.dir]).output();
    }
}

/// A new, empty database on the server at `base`; its URL.
pub async fn fresh_db(base: &str) -> String {
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    format!("{base}/{name}")
}
