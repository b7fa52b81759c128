//! RFC 8693 token exchange with Python Authlib (tests/interop/
//! authlib_token_exchange.py): delegation with nested `act`, the chain bound,
//! `may_act`, impersonation, `aud` from `audience`/`resource`, scope that
//! only shrinks, every token type and refusal, a trusted issuer's JWTs,
//! introspection, DPoP binding, and revocation of the subject's grant
//! reaching exchanged tokens; with JWT and with opaque subject tokens.
//! ./test.sh installs Authlib and jwcrypto.
//!
//! And the walkthrough of docs/configuration.md ("Token exchange between
//! two APIs"): a front API behind gatehouse calls a back API behind
//! gatehouse for the signed-in user, with a token it exchanged for one
//! whose `aud` is the back API; the back route refuses the user's own
//! token, and revoking the user's grant ends the exchanged token too.

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use common::web::Browser;
use common::{keygen, Gatehouse};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

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

/// The front API's handler: trades the caller's token (the gateway passes
/// `Authorization` through) for one meant for the back API, acting as
/// itself (`actor_token`: its own client_credentials token, so the new
/// token's `act` names it), then calls the back API through the gateway
/// with it, and once with the caller's own token to show the refusal.
async fn front(State(gatehouse): State<Arc<OnceLock<String>>>, headers: HeaderMap) -> Json<Value> {
    let base = gatehouse.get().expect("gatehouse started").clone();
    let c = common::client();
    let subject = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();
    let own: Value = c
        .post(format!("{base}/api/oauth/token"))
        .basic_auth("front-api", Some("front-api-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "orders:read")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = "urn:ietf:params:oauth:token-type:access_token";
    let exchange = c
        .post(format!("{base}/api/oauth/token"))
        .basic_auth("front-api", Some("front-api-secret"))
        .form(&[
            ("grant_type", TE),
            ("subject_token", &subject),
            ("subject_token_type", at),
            ("actor_token", own["access_token"].as_str().unwrap()),
            ("actor_token_type", at),
            ("audience", "back-api"),
            ("scope", "orders:read"),
        ])
        .send()
        .await
        .unwrap();
    let exchange_status = exchange.status().as_u16();
    let exchanged: Value = exchange.json().await.unwrap();
    let token = exchanged["access_token"].as_str().unwrap_or_default().to_string();
    let back = c
        .get(format!("{base}/back/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let back_status = back.status().as_u16();
    let back_body: Value = back.json().await.unwrap_or(Value::Null);
    let direct = c
        .get(format!("{base}/back/orders"))
        .bearer_auth(&subject)
        .send()
        .await
        .unwrap();
    json!({
        "caller": headers.get("x-authenticated-userid").map(|v| v.to_str().unwrap()),
        "exchange_status": exchange_status,
        "exchanged": exchanged,
        "back_status": back_status,
        "back": back_body,
        "direct_status": direct.status().as_u16(),
        "direct_challenge": direct.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
    })
    .into()
}

/// The back API: says who the gateway says is calling.
async fn back(headers: HeaderMap) -> Json<Value> {
    let h = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_string());
    json!({
        "orders": ["o-1", "o-2"],
        "user": h("x-authenticated-userid"),
        "client": h("x-authenticated-client"),
        "scope": h("x-authenticated-scope"),
    })
    .into()
}

async fn two_apis(format: &str) {
    let base = Arc::new(OnceLock::new());
    let front_addr = common::serve(
        Router::new()
            .route("/front/{*rest}", get(front))
            .with_state(base.clone()),
    )
    .await;
    let back_addr = common::serve(Router::new().route("/back/{*rest}", get(back))).await;
    let routes = format!(
        r#"
[[apis]]
name = "front"
path = "/front"
auth = {{ kind = "oauth2", scopes = ["orders:read"], audience = ["front-api"] }}
backend = {{ upstream = "http://{front_addr}" }}

[[apis]]
name = "back"
path = "/back"
auth = {{ kind = "oauth2", scopes = ["orders:read"], audience = ["back-api"] }}
backend = {{ upstream = "http://{back_addr}" }}

[[apis]]
name = "back-write"
path = "/back-write"
auth = {{ kind = "oauth2", scopes = ["orders:write"], audience = ["back-api"] }}
backend = {{ upstream = "http://{back_addr}" }}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    keygen("RS256", &dir.path().join("idp"));
    let gh = Gatehouse::start_in(dir, &format!("{}{routes}", config(format)));
    base.set(gh.url("")).unwrap();

    // alice signs in to the web shop; her token is for the front API.
    let b = Browser::new(&gh);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let page = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("scope", "openid orders:read orders:write"),
            ("state", "s"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let page = b.login(&page, "alice", "wonderland").await;
    let page = if page.is_consent() { b.allow(&page).await } else { page };
    let code = page.redirect_params()["code"].clone();
    let c = common::client();
    let user: Value = c
        .post(gh.url("/api/oauth/token"))
        .basic_auth("web", Some("web-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_token = user["access_token"].as_str().expect("alice's token").to_string();

    let r: Value = c
        .get(gh.url("/front/summary"))
        .bearer_auth(&user_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ctx = format!("{format}: {r:#}\n{}", gh.log());
    assert_eq!(r["caller"], "alice", "{ctx}");
    assert_eq!(r["exchange_status"], 200, "{ctx}");
    assert_eq!(
        r["exchanged"]["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token",
        "{ctx}"
    );
    assert_eq!(r["exchanged"]["scope"], "orders:read", "scope only shrinks: {ctx}");
    // The back API ran for alice, through the gateway, on the exchanged token.
    assert_eq!(r["back_status"], 200, "{ctx}");
    assert_eq!(r["back"]["orders"], json!(["o-1", "o-2"]), "{ctx}");
    assert_eq!(r["back"]["user"], "alice", "{ctx}");
    assert_eq!(r["back"]["client"], "front-api", "{ctx}");
    assert_eq!(r["back"]["scope"], "orders:read", "{ctx}");
    // alice's own token is for the front API: the back route refuses it.
    assert_eq!(r["direct_status"], 401, "{ctx}");
    let challenge = r["direct_challenge"].as_str().unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
        "{ctx}"
    );

    let exchanged = r["exchanged"]["access_token"].as_str().unwrap().to_string();
    // What the token says (RFC 7662, asked by the back API's client): the
    // back API's audience, alice as subject, the front API as actor.
    let info: Value = c
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth("back-api", Some("back-api-secret"))
        .form(&[("token", exchanged.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["active"], true, "{info:#}");
    assert_eq!(info["sub"], "alice", "{info:#}");
    assert!(
        info["aud"] == json!("back-api") || info["aud"] == json!(["back-api"]),
        "{info:#}"
    );
    assert_eq!(info["act"]["sub"], "front-api", "{info:#}");
    // The exchanged token opens neither the front API (another audience)
    // nor a back route needing a scope it was narrowed away from.
    let front_again = c
        .get(gh.url("/front/summary"))
        .bearer_auth(&exchanged)
        .send()
        .await
        .unwrap();
    assert_eq!(front_again.status(), 401, "{ctx}");
    let write = c
        .get(gh.url("/back-write/orders"))
        .bearer_auth(&exchanged)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403, "{ctx}");
    assert!(
        write.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"),
        "{ctx}"
    );
    // alice's grant revoked (her refresh token, RFC 7009): the token made
    // from it stops working at the back API as well.
    let revoke = c
        .post(gh.url("/api/oauth/revoke"))
        .basic_auth("web", Some("web-secret"))
        .form(&[("token", user["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200, "{ctx}");
    let after = c
        .get(gh.url("/back/orders"))
        .bearer_auth(&exchanged)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "{ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apis_behind_the_gateway_jwt() {
    two_apis("jwt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apis_behind_the_gateway_opaque() {
    two_apis("opaque").await;
}
