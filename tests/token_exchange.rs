//! RFC 8693 token exchange with Python Authlib (tests/interop/
//! authlib_token_exchange.py): delegation with nested `act`, the chain bound,
//! `may_act`, impersonation, `aud` from `audience`/`resource`, scope that
//! only shrinks, every token type and refusal, a trusted issuer's JWTs,
//! introspection, DPoP binding, and revocation of the subject's grant
//! reaching exchanged tokens; with JWT and with opaque subject tokens.
//! ./test.sh installs Authlib and jwcrypto.

mod common;

use common::{keygen, Gatehouse};

const TE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

fn config(format: &str) -> String {
    format!(
        r#"{prelude}[tokens]
access_format = "{format}"

[keys]
dir = "keys"

[[trusted_issuers]]
issuer = "https://idp.example"
jwks_file = "idp/public.jwk.json"

# alice signs in here; her tokens are for the front API.
[[clients]]
id = "web"
name = "Web shop"
secret = "web-secret"
redirect_uris = ["http://127.0.0.1:9/callback"]
grant_types = ["authorization_code", "refresh_token", "{TE}"]
scopes = ["openid", "profile", "orders:read", "orders:write"]
audience = ["front-api"]
token_exchange = {{ audiences = ["front-api"], may_impersonate = true }}

# The front API calls the back API for alice (delegation only).
[[clients]]
id = "front-api"
secret = "front-api-secret"
grant_types = ["client_credentials", "{TE}"]
scopes = ["orders:read", "orders:write", "profile"]
token_exchange = {{ audiences = ["back-api", "https://back.example/api"], scopes = ["orders:read", "orders:write"] }}

# The back API calls the ledger in turn.
[[clients]]
id = "back-api"
secret = "back-api-secret"
grant_types = ["client_credentials", "{TE}"]
scopes = ["orders:read"]
token_exchange = {{ audiences = ["ledger-api"] }}

# A batch job that may impersonate.
[[clients]]
id = "batch"
secret = "batch-secret"
grant_types = ["client_credentials", "{TE}"]
scopes = ["orders:read", "orders:write"]
token_exchange = {{ audiences = ["back-api"], may_impersonate = true }}

[[clients]]
id = "plain"
secret = "plain-secret"
grant_types = ["client_credentials"]
scopes = ["orders:read"]

[[users]]
username = "alice"
password = "wonderland"

[[users]]
username = "bob"
password = "builder"
"#,
        prelude = common::PRELUDE
    )
}

fn authlib(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    keygen("RS256", &dir.path().join("idp"));
    let idp = dir.path().join("idp");
    let gh = Gatehouse::start_in(dir, &config(format));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_token_exchange.py");
    let out = std::process::Command::new("python3")
        .args([script, &gh.url(""), format, idp.to_str().unwrap()])
        .output()
        .expect("python3 runs (./test.sh installs it with Authlib)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "authlib token exchange failed ({format}):\n{stdout}\n{stderr}\ngatehouse log:\n{}",
        gh.log()
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("authlib token exchange: ") && last.ends_with(" checks passed"),
        "{stdout}\n{stderr}"
    );
    eprintln!("{format}: {last}");
    // No token reaches the log.
    assert!(!gh.log().contains("eyJ"), "a token in the log:\n{}", gh.log());
}

#[test]
fn authlib_token_exchange_with_jwt_subject_tokens() {
    authlib("jwt");
}

#[test]
fn authlib_token_exchange_with_opaque_subject_tokens() {
    authlib("opaque");
}
