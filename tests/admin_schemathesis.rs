//! schemathesis (PyPI) generates requests from `/admin/api/openapi.json`
//! against a live server: property-based cases for every admin operation
//! (with the admin credential) and for dynamic registration (with the
//! initial access token), then stateful sequences. Fails on any 5xx, an
//! undocumented status code or content type, or a response that does not
//! match its schema. ./test.sh installs schemathesis.

mod common;

use common::{Gatehouse, PRELUDE};
use std::process::Command;

const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";

fn schemathesis(gh: &Gatehouse, auth: &str, filter: &[&str]) {
    let out = Command::new("python3")
        .args(["-m", "schemathesis.cli", "run", &gh.url("/admin/api/openapi.json")])
        .args(["--url", &gh.url("")])
        .args(["-H", &format!("Authorization: {auth}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", "40", "--seed", "20261129", "--workers", "2"])
        .args(["--request-timeout", "20"])
        .args(filter)
        .env("NO_COLOR", "1")
        // Its example cache goes in the test's temp dir, not the checkout.
        .current_dir(gh.dir.path())
        .output()
        .expect("python3 could not be started");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named schemathesis"),
        "schemathesis is missing: run ./test.sh (it pip-installs it)"
    );
    let tail: Vec<&str> = stdout.lines().rev().take(40).collect();
    eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    assert!(
        out.status.success(),
        "schemathesis found problems ({filter:?}):\n{stdout}\n{stderr}\ngatehouse log:\n{}",
        gh.log()
    );
    assert!(stdout.contains("generated"), "schemathesis ran no cases: {stdout}");
}

#[test]
fn admin_api_and_registration_hold_their_openapi_document() {
    let gh = Gatehouse::start_full(&format!(
        r#"{PRELUDE}
[admin]
username = "admin"
password = "schemathesis-pw"

[registration]
initial_access_token = "schemathesis-initial-token"

[[clients]]
id = "seed-client"
secret = "seed-secret"
redirect_uris = ["http://127.0.0.1:9000/cb"]

[[users]]
username = "seed-user"
password = "seed-password"
"#
    ));
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("admin:schemathesis-pw");
    schemathesis(&gh, &format!("Basic {basic}"), &["--exclude-tag", "registration"]);
    schemathesis(
        &gh,
        "Bearer schemathesis-initial-token",
        &["--include-tag", "registration"],
    );
}
