//! Interop: Python Authlib runs authorization code + PKCE against the real
//! binary, discovering from the issuer and validating the ID token with the
//! JWKS (tests/interop/authlib_code_flow.py). ./test.sh installs Authlib.

mod common;

use common::Gatehouse;

const CB: &str = "http://127.0.0.1:9/callback";

fn config(alg: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "http://gatehouse.interop"

[store]
url = "memory://"

[tokens]
signing_alg = "{alg}"

[keys]
dir = "keys"

[[clients]]
id = "printer"
name = "Printing App"
secret = "printer-secret"
redirect_uris = ["{CB}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "photos"]

[[users]]
username = "alice"
password = "wonderland"
email = "alice@example.com"

[[apis]]
path = "/flickr/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

fn run(alg: &str) {
    let gh = Gatehouse::start_full(&config(alg));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_code_flow.py");
    let out = std::process::Command::new("python3")
        .args([
            script,
            &gh.url(""),
            "http://gatehouse.interop",
            "printer",
            "printer-secret",
            CB,
        ])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "authlib failed ({alg}):\n{stdout}\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gh.log()
    );
    assert!(
        stdout.contains("authlib code flow:") && stdout.contains("checks passed"),
        "{stdout}"
    );
}

#[test]
fn authlib_code_flow_rs256() {
    run("RS256");
}

#[test]
fn authlib_code_flow_es256() {
    run("ES256");
}
