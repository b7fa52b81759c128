//! `gatehouse client|user|token` against a real SQLite store: what they
//! print, what they refuse, and that no secret reaches the database in clear.

use gatehouse::authz::secrets::{verify_client_secret, verify_password};
use gatehouse::store::{self, DynStore, TokenKind, TokenRecord};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("gatehouse.toml");
        // Relative to the config file's directory.
        std::fs::write(&cfg, "[store]\nurl = \"sqlite://data/store.db\"\n").unwrap();
        Env { dir, cfg }
    }

    /// Runs `gatehouse <args…> --config F`, feeding `stdin` if given.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--config")
            .arg(&self.cfg)
            .current_dir(self.dir.path())
            .env_remove("GATEHOUSE_CONFIG")
            .env_remove("GATEHOUSE_STORE_URL")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects exit 1; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The database as the server would see it (only while no CLI runs).
    fn with_store<T>(&self, f: impl AsyncFnOnce(DynStore) -> T) -> T {
        let url = format!("sqlite://{}", self.data_dir().join("store.db").display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = store::open(&gatehouse::config::StoreSettings::for_url(&url))
                .await
                .unwrap();
            f(s).await
        })
    }
}

/// True when `needle` occurs in any file of `dir` (the db, its WAL and shm).
fn any_file_contains(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn client_add_list_show_remove_with_generated_secret_shown_once() {
    let env = Env::new();
    let out = env.run(
        &[
            "client",
            "add",
            "--id",
            "web-app",
            "--name",
            "Web App",
            "--redirect-uri",
            "https://app.example/cb",
            "--grant-type",
            "client_credentials",
            "--grant-type",
            "refresh_token",
            "--scope",
            "photos",
            "--scope",
            "openid email",
            "--access-ttl",
            "15m",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains("added confidential client \"web-app\""), "{stdout}");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret printed")
        .trim()
        .to_string();
    assert_eq!(secret.len(), 43, "256-bit base64url secret: {secret}");
    assert_eq!(stdout.matches(&secret).count(), 1);
    assert!(stderr.contains("shown only this once"), "{stderr}");

    let list = env.ok(&["client", "list"]);
    assert!(list.lines().next().unwrap().starts_with("ID"), "{list}");
    let row = list.lines().find(|l| l.starts_with("web-app")).expect("listed");
    assert!(row.contains("Web App") && row.contains("confidential"), "{row}");
    assert!(
        row.contains("client_credentials,refresh_token") && row.contains("photos openid email"),
        "{row}"
    );

    let show = env.ok(&["client", "show", "web-app"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["id"], "web-app");
    assert_eq!(v["type"], "confidential");
    assert_eq!(v["access_ttl"], 900);
    assert_eq!(v["scopes"], serde_json::json!(["photos", "openid", "email"]));
    assert_eq!(v["redirect_uris"], serde_json::json!(["https://app.example/cb"]));
    assert!(v.get("secret_hash").is_none() && v.get("secret").is_none(), "{show}");

    // The secret is nowhere but the first output: not in list/show, not in
    // any database file; the stored hash still verifies it.
    for text in [&list, &show] {
        assert!(!text.contains(&secret) && !text.contains("sha256$"), "{text}");
    }
    assert!(!any_file_contains(&env.data_dir(), &secret));
    let stored = env.with_store(async |s| s.get_client("web-app").await.unwrap().unwrap());
    let hash = stored.secret_hash.unwrap();
    assert!(hash.starts_with("sha256$"), "{hash}");
    assert!(verify_client_secret(&hash, &secret));
    assert!(!verify_client_secret(&hash, "guess"));
    // Control: the scan does see what is stored (so its misses mean something).
    assert!(any_file_contains(&env.data_dir(), &hash));

    // A second add with the same id is refused and leaves the secret alone.
    let err = env.fails(&["client", "add", "--id", "web-app", "--public"]);
    assert!(err.contains("already exists"), "{err}");
    let again = env.with_store(async |s| s.get_client("web-app").await.unwrap().unwrap());
    assert_eq!(again.secret_hash.as_deref(), Some(hash.as_str()));

    assert!(env
        .ok(&["client", "remove", "web-app"])
        .contains("removed client \"web-app\""));
    assert!(env.fails(&["client", "remove", "web-app"]).contains("no client"));
    assert!(env.fails(&["client", "show", "web-app"]).contains("no client"));
    assert!(!env.ok(&["client", "list"]).contains("web-app"));
}

#[test]
fn client_with_chosen_secret_is_argon2id_and_public_has_none() {
    let env = Env::new();
    let chosen = "my-chosen-secret-4711";
    let out = env.ok(&[
        "client",
        "add",
        "--id",
        "svc",
        "--secret",
        chosen,
        "--grant-type",
        "password",
    ]);
    assert!(!out.contains(chosen) && !out.contains("client_secret"), "{out}");
    // The same from stdin.
    let o = env.run(
        &[
            "client",
            "add",
            "--id",
            "svc2",
            "--secret-stdin",
            "--grant-type",
            "client_credentials",
        ],
        Some("stdin-secret-0815\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.ok(&[
        "client",
        "add",
        "--id",
        "spa",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:3000/cb",
    ]);
    assert!(
        out.contains("added public client \"spa\"") && !out.contains("client_secret"),
        "{out}"
    );

    assert!(!any_file_contains(&env.data_dir(), chosen));
    assert!(!any_file_contains(&env.data_dir(), "stdin-secret-0815"));
    let (svc, svc2, spa) = env.with_store(async |s| {
        (
            s.get_client("svc").await.unwrap().unwrap(),
            s.get_client("svc2").await.unwrap().unwrap(),
            s.get_client("spa").await.unwrap().unwrap(),
        )
    });
    let h = svc.secret_hash.unwrap();
    assert!(h.starts_with("$argon2id$"), "{h}");
    assert!(verify_client_secret(&h, chosen) && !verify_client_secret(&h, "my-chosen-secret"));
    assert!(verify_client_secret(&svc2.secret_hash.unwrap(), "stdin-secret-0815"));
    assert!(spa.is_public());
    // No --grant-type: the config file's default.
    assert_eq!(spa.grant_types, ["authorization_code", "refresh_token"]);
    assert!(env.ok(&["client", "show", "spa"]).contains("\"type\": \"public\""));
}

#[test]
fn client_add_rejects_bad_input() {
    let env = Env::new();
    let err = env.fails(&["client", "add", "--id", "x", "--grant-type", "magic"]);
    assert!(
        err.contains("unknown grant type \"magic\"") && err.contains("client_credentials"),
        "{err}"
    );
    let err = env.fails(&[
        "client",
        "add",
        "--id",
        "x",
        "--public",
        "--grant-type",
        "client_credentials",
    ]);
    assert!(err.contains("confidential"), "{err}");
    let err = env.fails(&[
        "client",
        "add",
        "--id",
        "x",
        "--redirect-uri",
        "https://a.example/cb#frag",
    ]);
    assert!(err.contains("fragment"), "{err}");
    let err = env.fails(&["client", "add", "--id", "x", "--redirect-uri", "not a url"]);
    assert!(err.contains("redirect URI"), "{err}");
    let err = env.fails(&["client", "add", "--id", "has space"]);
    assert!(err.contains("invalid client id"), "{err}");
    // --public and --secret together is a usage error (clap exits 2).
    let out = env.run(&["client", "add", "--id", "x", "--public", "--secret", "s"], None);
    assert_eq!(out.status.code(), Some(2));
    // Nothing was stored by any of these.
    let listed = env.ok(&["client", "list"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
}

#[test]
fn user_add_list_remove_with_argon2id_passwords() {
    let env = Env::new();
    let out = env.ok(&[
        "user",
        "add",
        "--username",
        "alice",
        "--password",
        "wonderland-42",
        "--name",
        "Alice Liddell",
        "--email",
        "alice@example.com",
    ]);
    assert!(out.contains("added user \"alice\""), "{out}");
    let o = env.run(
        &["user", "add", "--username", "bob", "--password-stdin"],
        Some("builder-99\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Neither password source given: a usage error.
    assert_eq!(
        env.run(&["user", "add", "--username", "carol"], None).status.code(),
        Some(2)
    );
    // Empty stdin is refused.
    let o = env.run(&["user", "add", "--username", "carol", "--password-stdin"], Some(""));
    assert_eq!(o.status.code(), Some(1));
    assert!(env
        .fails(&["user", "add", "--username", "alice", "--password", "x"])
        .contains("already exists"));

    let list = env.ok(&["user", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("USERNAME"));
    assert!(
        lines[1].starts_with("alice") && lines[1].contains("Alice Liddell") && lines[1].contains("alice@example.com")
    );
    assert!(lines[2].starts_with("bob"));
    assert!(!list.contains("argon2") && !list.contains("wonderland"), "{list}");

    assert!(!any_file_contains(&env.data_dir(), "wonderland-42"));
    assert!(!any_file_contains(&env.data_dir(), "builder-99"));
    let (alice, bob) = env.with_store(async |s| {
        (
            s.get_user("alice").await.unwrap().unwrap(),
            s.get_user("bob").await.unwrap().unwrap(),
        )
    });
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(verify_password(&alice.password_hash, "wonderland-42"));
    assert!(!verify_password(&alice.password_hash, "wonderland-43"));
    assert!(verify_password(&bob.password_hash, "builder-99"));

    assert!(env.ok(&["user", "remove", "bob"]).contains("removed user \"bob\""));
    assert!(env.fails(&["user", "remove", "bob"]).contains("no user"));
    assert!(!env.ok(&["user", "list"]).contains("bob"));
}

#[test]
fn token_purge_removes_expired_rows_only() {
    let env = Env::new();
    // Creates the database (empty: nothing to purge).
    assert_eq!(env.ok(&["token", "purge"]).trim(), "purged 0 expired rows");
    let now = store::now();
    let rec = |h: &str, exp: i64| TokenRecord {
        token_hash: store::hash_token(h),
        kind: TokenKind::Refresh,
        client_id: "c".into(),
        subject: None,
        scope: "photos".into(),
        audience: vec![],
        family_id: "f".into(),
        issued_at: now - 100,
        expires_at: exp,
        auth_time: None,
        used: false,
        revoked: false,
        cnf: None,
    };
    env.with_store(async |s| {
        s.put_token(&rec("old-1", now - 10)).await.unwrap();
        s.put_token(&rec("old-2", now - 1)).await.unwrap();
        s.put_token(&rec("live", now + 3600)).await.unwrap();
        s.revoke_id("old-jti", now - 5).await.unwrap();
    });
    assert_eq!(env.ok(&["token", "purge"]).trim(), "purged 3 expired rows");
    let (old, live) = env.with_store(async |s| {
        (
            s.get_token(&store::hash_token("old-1")).await.unwrap(),
            s.get_token(&store::hash_token("live")).await.unwrap(),
        )
    });
    assert!(old.is_none() && live.is_some());
}

#[test]
fn without_config_the_demo_store_under_the_working_directory_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["user", "add", "--username", "dora", "--password", "explorer"])
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_STORE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("gatehouse-data/gatehouse.db").is_file());
    let list = Command::new(BIN)
        .args(["user", "list"])
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_STORE_URL")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("dora"));
}
