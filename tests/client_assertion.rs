//! RFC 7523 assertions made by tools this project did not write: keys by
//! `openssl`, JWTs by Python jwcrypto (tests/interop/jwt_tool.py), and
//! Authlib's own `ClientSecretJWT`, `PrivateKeyJWT` and JWT bearer grant
//! (tests/interop/authlib_assertions.py). Covers `client_secret_jwt` (with
//! a client from the config and one registered by `gatehouse client add`),
//! `private_key_jwt` registered by `client add --jwks`, and the JWT bearer
//! grant, with replays refused also on a second instance sharing the SQLite
//! file. ./test.sh installs jwcrypto and Authlib.

mod common;

use common::{client, Gatehouse, BIN};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CSJ_SECRET: &str = "csj-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const CLI_SECRET: &str = "cli-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
const IDP: &str = "https://idp.example";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", now(), N.fetch_add(1, Ordering::Relaxed))
}

const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/jwt_tool.py");

/// JWTs signed by jwcrypto, one per spec (see jwt_tool.py).
fn sign(specs: &[Value]) -> Vec<String> {
    let mut child = Command::new("python3")
        .args([TOOL, "sign"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (./test.sh installs jwcrypto)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(specs.to_vec()).to_string().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "jwt_tool sign: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A private key made by openssl: "rsa" or "ec" (P-256).
fn openssl_key(dir: &Path, name: &str, kind: &str) -> String {
    let path = dir.join(format!("{name}.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args(["genpkey", "-out", path.to_str().unwrap()]);
    match kind {
        "rsa" => cmd.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        _ => cmd.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    };
    let o = cmd.output().expect("openssl runs");
    assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
    path.to_str().unwrap().to_string()
}

/// The public JWK of a PEM private key, by jwcrypto.
fn public_jwk(pem: &str, alg: &str) -> Value {
    let o = Command::new("python3").args([TOOL, "jwk", pem, alg]).output().unwrap();
    assert!(
        o.status.success(),
        "jwt_tool jwk: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `gatehouse client add --config DIR/gatehouse.toml ARGS…` run in DIR,
/// with `stdin` as its input.
fn client_add(dir: &Path, args: &[&str], stdin: &str) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(["client", "add", "--config", "gatehouse.toml"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "client add {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// POSTs a form; (status, WWW-Authenticate, JSON body).
async fn post(gh: &Gatehouse, path: &str, form: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let r = client().post(gh.url(path)).form(form).send().await.unwrap();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, www, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn cc_with(gh: &Gatehouse, assertion: &str) -> (u16, Option<String>, Value) {
    post(
        gh,
        "/api/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn assert_invalid_client(what: &str, (s, www, t): (u16, Option<String>, Value)) {
    assert_eq!((s, t["error"].as_str()), (401, Some("invalid_client")), "{what}: {t}");
    assert!(www.is_some(), "{what}: 401 without WWW-Authenticate");
    assert!(
        !t["error_description"].as_str().unwrap_or_default().is_empty(),
        "{what}: no description"
    );
}

/// Client assertion claims for `id` at `gh`, with `extra` replacing some.
fn claims(gh: &Gatehouse, id: &str, extra: Value) -> Value {
    let mut c =
        json!({"iss": id, "sub": id, "aud": gh.url("/api/oauth/token"), "iat": now(), "exp": now() + 60, "jti": jti()});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_jwt_client_authentication() {
    let dir = tempfile::tempdir().unwrap();
    // This test sends many refused assertions from one address on purpose;
    // the client-secret throttle (tests/security.rs) is not what it checks.
    let config = format!(
        r#"{}
[keys]
dir = "keys"

[throttle]
client_secrets = {{ per_account_address = 1000, per_account = 1000, per_address = 1000 }}

[[clients]]
id = "csj"
secret = "{CSJ_SECRET}"
token_endpoint_auth_method = "client_secret_jwt"
grant_types = ["client_credentials"]
scopes = ["api"]
"#,
        common::PRELUDE.replace("memory://", "sqlite://gatehouse.db")
    );
    std::fs::write(dir.path().join("gatehouse.toml"), &config).unwrap();
    // Registered from the command line before the server starts: the CLI
    // seals the secret under the key directory the server then shares.
    client_add(
        dir.path(),
        &[
            "--id",
            "csj-cli",
            "--auth-method",
            "client_secret_jwt",
            "--secret-stdin",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
        ],
        &format!("{CLI_SECRET}\n"),
    );
    let gh = Gatehouse::start_in(dir, &config);
    let hs = |secret: &str, c: Value| json!({"alg": "HS256", "secret": secret, "claims": c});

    let tokens = sign(&[
        hs(CSJ_SECRET, claims(&gh, "csj", json!({}))),
        hs(CLI_SECRET, claims(&gh, "csj-cli", json!({}))),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({}))),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({}))),
        // The issuer as audience is accepted too.
        hs(CSJ_SECRET, claims(&gh, "csj", json!({"aud": gh.url("")}))),
    ]);
    let (s, _, t) = cc_with(&gh, &tokens[0]).await;
    assert_eq!(s, 200, "{t}\n{}", gh.log());
    let access = t["access_token"].as_str().unwrap().to_string();
    let (s, _, t) = cc_with(&gh, &tokens[1]).await;
    assert_eq!(s, 200, "client registered by the CLI: {t}");
    let (s, _, t) = cc_with(&gh, &tokens[4]).await;
    assert_eq!(s, 200, "issuer as audience: {t}");
    // Introspection and revocation authenticate the same way.
    let (s, _, t) = post(
        &gh,
        "/api/oauth/introspect",
        &[
            ("token", &access),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &tokens[2]),
        ],
    )
    .await;
    assert_eq!((s, t["active"].as_bool()), (200, Some(true)), "{t}");
    let (s, _, t) = post(
        &gh,
        "/api/oauth/revoke",
        &[
            ("token", &access),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &tokens[3]),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");

    // Replays, at the same endpoint and at another.
    assert_invalid_client("replayed jti", cc_with(&gh, &tokens[0]).await);
    let (s, www, t) = post(
        &gh,
        "/api/oauth/introspect",
        &[
            ("token", &access),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &tokens[3]),
        ],
    )
    .await;
    assert_invalid_client("replayed at another endpoint", (s, www, t));

    let bad = sign(&[
        hs(
            "another-secret-0123456789-abcdefghijklmnopqrstu",
            claims(&gh, "csj", json!({})),
        ),
        hs(CLI_SECRET, claims(&gh, "csj", json!({}))),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({"exp": now() - 120}))),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({"exp": now() + 7200}))),
        hs(
            CSJ_SECRET,
            claims(&gh, "csj", json!({"aud": "https://elsewhere.example/token"})),
        ),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({"iss": "someone-else"}))),
        hs(CSJ_SECRET, claims(&gh, "csj", json!({"jti": null}))),
        json!({"alg": "HS384", "secret": CSJ_SECRET, "claims": claims(&gh, "csj", json!({}))}),
    ]);
    let whats = [
        "wrong key",
        "another client's secret",
        "expired",
        "lives too long",
        "wrong audience",
        "iss is not the client",
        "no jti",
        "HS384 (only HS256)",
    ];
    for (what, a) in whats.iter().zip(&bad) {
        assert_invalid_client(what, cc_with(&gh, a).await);
    }
    // The secret itself is not accepted from a client_secret_jwt client.
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("csj", Some(CSJ_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Neither secret shows in the log, and the key file is private.
    let log = gh.log();
    assert!(!log.contains(CSJ_SECRET) && !log.contains(CLI_SECRET));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(gh.dir.path().join("keys/client-secrets.key")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
    }
    let d: Value = client()
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for m in ["client_secret_jwt", "private_key_jwt"] {
        assert!(d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == m));
    }
    for a in ["HS256", "RS256", "ES256"] {
        assert!(d["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == a));
    }
}

fn shared_config(db: &str, jwks_file: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "https://as.example"

[store]
url = "{db}"

[[trusted_issuers]]
issuer = "{IDP}"
jwks_file = "{jwks_file}"

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["{JWT_BEARER}"]
scopes = ["api"]

[[users]]
username = "alice"
password = "wonderland"
"#
    )
}

/// private_key_jwt (ES256, registered by `client add --jwks`) and the JWT
/// bearer grant (RS256) with jwcrypto-signed assertions, across two
/// instances sharing one SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwcrypto_assertions_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let client_key = openssl_key(&d, "client", "ec");
    let other_key = openssl_key(&d, "other", "ec");
    let idp_key = openssl_key(&d, "idp", "rsa");
    let client_jwk = public_jwk(&client_key, "ES256");
    let idp_jwk = public_jwk(&idp_key, "RS256");
    std::fs::write(d.join("client.jwks.json"), json!({"keys": [client_jwk]}).to_string()).unwrap();
    let idp_jwks = d.join("idp.jwks.json");
    std::fs::write(&idp_jwks, json!({"keys": [idp_jwk]}).to_string()).unwrap();
    let db = format!("sqlite://{}", d.join("shared.db").display());
    let config = shared_config(&db, idp_jwks.to_str().unwrap());
    std::fs::write(d.join("gatehouse.toml"), &config).unwrap();
    client_add(
        &d,
        &[
            "--id",
            "pkj",
            "--jwks",
            "client.jwks.json",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
        ],
        "",
    );
    let gh = Gatehouse::start_in(dir, &config);
    let gh2 = Gatehouse::start_full(&config);
    let token_url = "https://as.example/api/oauth/token";
    let kid = client_jwk["kid"].as_str().unwrap();
    let es = |key: &str, extra: Value| {
        let mut c = json!({"iss": "pkj", "sub": "pkj", "aud": token_url, "exp": now() + 60, "jti": jti()});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({"alg": "ES256", "pem": key, "kid": kid, "claims": c})
    };
    let idp_kid = idp_jwk["kid"].as_str().unwrap();
    let bearer = |extra: Value| {
        let mut c =
            json!({"iss": IDP, "sub": "alice", "aud": token_url, "iat": now(), "exp": now() + 300, "jti": jti()});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({"alg": "RS256", "pem": idp_key, "kid": idp_kid, "claims": c})
    };
    let t = sign(&[
        es(&client_key, json!({})),
        es(&other_key, json!({})),
        es(&client_key, json!({"exp": now() - 120})),
        es(&client_key, json!({"aud": "https://elsewhere.example/token"})),
        bearer(json!({})),
        bearer(json!({"exp": now() - 120})),
        bearer(json!({"aud": "https://elsewhere.example"})),
        json!({"alg": "HS256", "secret": std::fs::read_to_string(&idp_jwks).unwrap(), "kid": idp_kid,
               "claims": {"iss": IDP, "sub": "alice", "aud": token_url, "exp": now() + 300, "jti": jti()}}),
    ]);

    // private_key_jwt: good on one instance, then replayed on both.
    let (s, _, body) = cc_with(&gh, &t[0]).await;
    assert_eq!(s, 200, "{body}\n{}", gh.log());
    assert_invalid_client("replayed jti (second instance)", cc_with(&gh2, &t[0]).await);
    assert_invalid_client("replayed jti", cc_with(&gh, &t[0]).await);
    assert_invalid_client("wrong key", cc_with(&gh, &t[1]).await);
    assert_invalid_client("expired", cc_with(&gh, &t[2]).await);
    assert_invalid_client("wrong audience", cc_with(&gh, &t[3]).await);

    // JWT bearer grant.
    let grant = |gh: &Gatehouse, a: &str| {
        let (url, a) = (gh.url("/api/oauth/token"), a.to_string());
        async move {
            let r = client()
                .post(url)
                .basic_auth("app", Some("app-secret"))
                .form(&[("grant_type", JWT_BEARER), ("assertion", &a)])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, body) = grant(&gh2, &t[4]).await;
    assert_eq!(s, 200, "{body}");
    let b64 = |v: Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let none_alg = format!(
        "{}.{}.",
        b64(json!({"alg": "none"})),
        b64(json!({"iss": IDP, "sub": "alice", "aud": token_url, "exp": now() + 300, "jti": jti()}))
    );
    for (what, a) in [
        ("replayed jti (first instance)", t[4].as_str()),
        ("expired", t[5].as_str()),
        ("wrong audience", t[6].as_str()),
        ("HS256 keyed with the public JWKS", t[7].as_str()),
        ("alg none", none_alg.as_str()),
    ] {
        let (s, body) = grant(&gh, a).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
        assert!(body["error_description"].as_str().is_some(), "{what}: {body}");
    }
}

/// Authlib's ClientSecretJWT, PrivateKeyJWT and JWT bearer grant
/// (AssertionSession), unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_assertion_classes_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let pkj_key = openssl_key(&d, "pkj", "rsa");
    let idp_key = openssl_key(&d, "idp", "rsa");
    let pkj_jwk = public_jwk(&pkj_key, "RS256");
    let idp_jwk = public_jwk(&idp_key, "RS256");
    std::fs::write(d.join("idp.jwks.json"), json!({"keys": [idp_jwk]}).to_string()).unwrap();
    let inline = |v: &Value| {
        let f: Vec<String> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        format!("{{ {} }}", f.join(", "))
    };
    let gh = Gatehouse::start_in(
        dir,
        &format!(
            r#"{}
[[trusted_issuers]]
issuer = "{IDP}"
jwks_file = "idp.jwks.json"

[[clients]]
id = "csj"
secret = "{CSJ_SECRET}"
token_endpoint_auth_method = "client_secret_jwt"
grant_types = ["client_credentials"]
scopes = ["api"]

[[clients]]
id = "pkj"
token_endpoint_auth_method = "private_key_jwt"
jwks = {{ keys = [{}] }}
grant_types = ["client_credentials"]
scopes = ["api"]

[[clients]]
id = "app"
secret = "app-secret"
grant_types = ["{JWT_BEARER}"]
scopes = ["api"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "api"
path = "/api/things"
auth = {{ kind = "oauth2", scopes = ["api"] }}
backend = {{ mock = {{ body = "things" }} }}
"#,
            common::PRELUDE,
            inline(&pkj_jwk)
        ),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/authlib_assertions.py");
    let o = Command::new("python3")
        .args([
            script,
            &gh.url(""),
            "csj",
            CSJ_SECRET,
            "pkj",
            &pkj_key,
            "app",
            "app-secret",
            IDP,
            &idp_key,
            idp_jwk["kid"].as_str().unwrap(),
            "alice",
            &gh.url("/api/things"),
        ])
        .output()
        .expect("python3 runs (./test.sh installs Authlib)");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.trim_end().ends_with("checks passed"),
        "authlib:\n{stdout}\n{}\ngatehouse log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        gh.log()
    );
}
