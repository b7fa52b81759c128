//! The command line a newcomer meets: `--version`, `--help` naming the
//! config keys each subcommand reads, shell completions that the shells
//! themselves accept, and the embedded demo printing (and serving) the
//! admin console with the rest.

mod common;

use common::{run, BIN};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn stdout(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn version_is_the_crate_version() {
    assert_eq!(
        stdout(&["--version"]).trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_subcommand_help_names_what_it_reads() {
    let subcommands = [
        "serve",
        "keygen",
        "keys",
        "check",
        "client",
        "user",
        "token",
        "migrate",
        "completions",
    ];
    let top = stdout(&["--help"]);
    for s in subcommands {
        assert!(top.contains(s), "top-level help lacks {s}:\n{top}");
        let h = stdout(&[s, "--help"]);
        assert!(h.contains("Reads "), "`{s} --help` does not say what it reads:\n{h}");
    }
    let serve = stdout(&["serve", "--help"]);
    for key in [
        "[store]",
        "[tokens]",
        "[log]",
        "[admin]",
        "[[apis]]",
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_LOG",
    ] {
        assert!(serve.contains(key), "serve --help lacks {key}:\n{serve}");
    }
    let client = stdout(&["client", "--help"]);
    assert!(
        client.contains("[store]") && client.contains("GATEHOUSE_STORE_URL"),
        "{client}"
    );
}

/// bash loads the script and, asked to complete `gatehouse s`, offers serve;
/// `gatehouse client ` offers the client subcommands.
#[test]
fn bash_completion_completes_subcommands() {
    let script = stdout(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("gatehouse.bash");
    std::fs::write(&f, script).unwrap();
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let prog = format!(
            "source {f}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}; \
             _gatehouse gatehouse '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            f = f.display(),
            words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            cword = words.len() - 1,
            point = line.len(),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let o = Command::new("bash").args(["-c", &prog]).output().unwrap();
        assert!(o.status.success(), "bash: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let top = complete("gatehouse s");
    assert!(top.lines().any(|l| l == "serve"), "gatehouse s<TAB>: {top:?}");
    let sub = complete("gatehouse client ");
    for s in ["add", "list", "show", "remove"] {
        assert!(sub.lines().any(|l| l == s), "gatehouse client <TAB> lacks {s}: {sub:?}");
    }
}

/// zsh and fish scripts are generated; each shell that is installed parses
/// its own (`-n`: syntax only).
#[test]
fn zsh_and_fish_completions_parse() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let s = stdout(&["completions", shell]);
        assert!(s.contains("gatehouse") && s.contains("serve"), "{shell}: {s}");
    }
    for shell in ["zsh", "fish"] {
        let Ok(found) = Command::new("sh").args(["-c", &format!("command -v {shell}")]).output() else {
            continue;
        };
        if !found.status.success() {
            eprintln!("{shell} not installed: only generated");
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("script");
        std::fs::write(&f, stdout(&["completions", shell])).unwrap();
        let o = Command::new(shell).arg("-n").arg(&f).output().unwrap();
        assert!(o.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&["completions", "tcsh"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bash"));
}

/// `gatehouse serve` without a config prints the admin console's URL and
/// credentials, and those credentials open the admin API.
#[test]
fn the_demo_prints_and_serves_the_admin_console() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut guide = Vec::new();
    let addr = loop {
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("demo did not start; printed:\n{}", guide.join("\n"));
            }
        };
        if let Some(a) = line.strip_prefix("gatehouse listening on http://") {
            break a.trim().to_string();
        }
        guide.push(line);
    };
    let guide = guide.join("\n");
    let admin = guide
        .lines()
        .find(|l| l.trim_start().starts_with("admin"))
        .unwrap_or("");
    assert!(
        admin.contains("/admin/") && admin.contains("admin / admin-demo-password"),
        "guide:\n{guide}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (console, api, wrong) = rt.block_on(async {
        let c = common::client();
        let console = c.get(format!("http://{addr}/admin/")).send().await.unwrap().status();
        let api = c
            .get(format!("http://{addr}/admin/api/clients"))
            .basic_auth("admin", Some("admin-demo-password"))
            .send()
            .await
            .unwrap();
        let api = (api.status(), api.text().await.unwrap());
        let wrong = c
            .get(format!("http://{addr}/admin/api/clients"))
            .basic_auth("admin", Some("not-the-password"))
            .send()
            .await
            .unwrap()
            .status();
        (console, api, wrong)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(console.is_success() || console.is_redirection(), "/admin/: {console}");
    assert_eq!(api.0, 200, "{}", api.1);
    assert!(api.1.contains("printer"), "{}", api.1);
    assert_eq!(wrong, 401);
}
