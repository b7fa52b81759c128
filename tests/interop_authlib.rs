//! Interop: Python Authlib (an independent OAuth 2.0 client) runs
//! client_credentials, password, refresh (rotation), revocation and
//! introspection against the real binary, discovering the endpoints from the
//! issuer (RFC 8414); for JWT access tokens it verifies the signature with
//! the published JWKS (tests/interop/authlib_client.py). ./test.sh installs
//! Authlib.

mod common;

use common::Gatehouse;

const CLIENT: &str = "interop";
const SECRET: &str = "interop-secret";
const SCOPE: &str = "photos profile";

fn body(format: &str) -> String {
    format!(
        r#"[tokens]
access_format = "{format}"
signing_alg = "RS256"

[keys]
dir = "keys"

[[clients]]
id = "{CLIENT}"
name = "Authlib interop"
secret = "{SECRET}"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["photos", "profile", "email"]

[[users]]
username = "alice"
password = "wonderland"
"#
    )
}

fn run(format: &str) {
    // No `issuer` in the config: it is http://ADDR of the bound listener.
    let gh = Gatehouse::start(&body(format));
    let issuer = gh.url("");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_client.py");
    let out = std::process::Command::new("python3")
        .args([script, &issuer, CLIENT, SECRET, "alice", "wonderland", SCOPE, format])
        .output()
        .expect("python3 runs (./test.sh installs it with Authlib)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "authlib interop failed ({format}):\n{stdout}\n{stderr}\ngatehouse log:\n{}",
        gh.log()
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("authlib interop: ") && last.ends_with(" checks passed"),
        "unexpected last line ({format}): {stdout}\n{stderr}"
    );
}

#[test]
fn authlib_client_grants_jwt_access_tokens() {
    run("jwt");
}

#[test]
fn authlib_client_grants_opaque_access_tokens() {
    run("opaque");
}
