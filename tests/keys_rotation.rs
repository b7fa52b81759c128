//! Signing-key rotation against the real binary: `gatehouse keys rotate`
//! while a server runs (it follows without a restart), tokens and ID
//! tokens signed before and after both validate at the gateway,
//! introspection, token info and against the JWKS; the old kid leaves the
//! JWKS once its tokens have expired; `[keys] rotate_every` rotates on
//! schedule; `gatehouse keys list` shows the states.

mod common;

use common::web::Browser;
use common::{client, Gatehouse, BIN, PRELUDE};
use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CB: &str = "http://127.0.0.1:9000/callback";

fn config(tokens: &str, keys: &str) -> String {
    format!(
        r#"{PRELUDE}
[tokens]
{tokens}

[keys]
dir = "keys"
{keys}

[[clients]]
id = "printer"
secret = "printer-secret"
redirect_uris = ["{CB}"]
grant_types = ["client_credentials", "implicit"]
scopes = ["photos", "openid"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/flickr/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

/// `gatehouse keys ARGS --config <the server's file>`, asserting success.
fn keys_cli(gh: &Gatehouse, args: &[&str]) -> String {
    let o = Command::new(BIN)
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(gh.dir.path().join("gatehouse.toml"))
        .current_dir(gh.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "keys {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn list_json(gh: &Gatehouse) -> Vec<Value> {
    serde_json::from_str(&keys_cli(gh, &["list", "--json"])).unwrap()
}

fn state_of(keys: &[Value], kid: &str) -> String {
    keys.iter()
        .find(|k| k["kid"] == kid)
        .map(|k| k["state"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "absent".into())
}

async fn access_token(gh: &Gatehouse) -> String {
    gh.cc_token("printer", "printer-secret", "photos").await
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn jwks(gh: &Gatehouse) -> Value {
    client()
        .get(gh.url("/api/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies `token` (signature, exp, aud) with the key the JWKS names.
async fn verify_with_jwks(gh: &Gatehouse, token: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set = jwks(gh).await;
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .unwrap_or_else(|| panic!("kid {:?} not in the JWKS {set}", header.kid));
    let key = jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &v).unwrap().claims
}

/// The gateway, introspection and token info all accept `token`.
async fn accepted_everywhere(gh: &Gatehouse, token: &str) {
    let r = client()
        .get(gh.url("/flickr/photos"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "gateway refused kid {}", kid(token));
    let r: Value = client()
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth("printer", Some("printer-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true, "introspection: {r}");
    let r = client()
        .get(gh.url(&format!("/api/oauth/tokeninfo?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["audience"], "printer", "{info}");
}

/// An ID token from the implicit flow (the browser logs in the first time).
async fn id_token(b: &Browser<'_>) -> String {
    let params = [
        ("response_type", "id_token token"),
        ("client_id", "printer"),
        ("redirect_uri", CB),
        ("scope", "openid photos"),
        ("state", "st"),
        ("nonce", "nn"),
    ];
    let mut page = b.authorize(&params).await;
    if page.is_login() {
        let consent = b.login(&page, "alice", "wonderland").await;
        page = b.allow(&consent).await;
    }
    page.redirect_params()["id_token"].clone()
}

/// Polls `f` until it is true, up to `limit`; returns how long it took.
async fn until<F: std::future::Future<Output = bool>>(limit: Duration, mut f: impl FnMut() -> F) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within {limit:?}");
}

#[tokio::test]
async fn a_cli_rotation_reaches_the_running_server_and_old_tokens_keep_validating_until_they_expire() {
    let gh = Gatehouse::start_full(&config(
        "access_ttl = \"6s\"\nid_token_ttl = \"6s\"\nsigning_alg = \"ES256\"",
        "",
    ));
    let b = Browser::new(&gh);
    let old_access = access_token(&gh).await;
    let old_id = id_token(&b).await;
    let old_kid = kid(&old_access);
    let old_rs256 = kid(&old_id);
    assert_ne!(old_kid, old_rs256, "ID tokens are RS256, access tokens ES256");
    let listed = list_json(&gh);
    assert_eq!(state_of(&listed, &old_kid), "current");
    assert_eq!(state_of(&listed, &old_rs256), "current");

    let out = keys_cli(&gh, &["rotate"]);
    assert!(out.contains("new current ES256 key"), "{out}");
    let rotated = Instant::now();

    // The running server follows without a restart: new tokens, new kid.
    until(Duration::from_secs(6), || async {
        kid(&access_token(&gh).await) != old_kid
    })
    .await;
    let new_access = access_token(&gh).await;
    let new_id = id_token(&b).await;
    let (new_kid, new_rs256) = (kid(&new_access), kid(&new_id));
    assert_ne!(new_rs256, old_rs256, "the RS256 key beside ES256 rotates too");

    // Both generations are published and validate everywhere.
    let kids = jwks_kids(&jwks(&gh).await);
    for k in [&old_kid, &old_rs256, &new_kid, &new_rs256] {
        assert!(kids.contains(k), "{k} not in {kids:?}");
    }
    accepted_everywhere(&gh, &old_access).await;
    accepted_everywhere(&gh, &new_access).await;
    assert_eq!(verify_with_jwks(&gh, &old_id, "printer").await["nonce"], "nn");
    assert_eq!(verify_with_jwks(&gh, &new_id, "printer").await["nonce"], "nn");
    assert!(
        rotated.elapsed() < Duration::from_secs(6),
        "the old tokens must still be live here"
    );

    let listed = list_json(&gh);
    assert_eq!(state_of(&listed, &old_kid), "retiring");
    assert_eq!(state_of(&listed, &new_kid), "current");
    let old = listed.iter().find(|k| k["kid"] == old_kid.as_str()).unwrap();
    let retired_at = old["retired_at"].as_i64().unwrap();
    // The longest lifetime (6s) plus the grace for other instances (10s).
    assert_eq!(old["publish_until"].as_i64().unwrap(), retired_at + 6 + 10, "{old}");
    let table = keys_cli(&gh, &["list"]);
    assert!(
        table.contains("STATE") && table.contains("retiring") && table.contains(&new_kid),
        "{table}"
    );

    // Once every token the old keys signed has expired, they drop out of
    // the JWKS (the server notices the time passing, nothing on disk changed).
    until(Duration::from_secs(30), || async {
        let kids = jwks_kids(&jwks(&gh).await);
        !kids.contains(&old_kid) && !kids.contains(&old_rs256)
    })
    .await;
    assert!(rotated.elapsed() >= Duration::from_secs(15), "dropped too early");
    let kids = jwks_kids(&jwks(&gh).await);
    assert!(kids.contains(&new_kid) && kids.contains(&new_rs256), "{kids:?}");
    let listed = list_json(&gh);
    assert_eq!(state_of(&listed, &old_kid), "retired");
    // Tokens of the new key still work.
    accepted_everywhere(&gh, &access_token(&gh).await).await;
}

#[tokio::test]
async fn rotate_every_rotates_on_schedule_and_earlier_tokens_stay_valid() {
    let gh = Gatehouse::start_full(&config("access_ttl = \"20s\"", "rotate_every = \"3s\""));
    let first = access_token(&gh).await;
    let first_kid = kid(&first);
    let took = until(Duration::from_secs(12), || async {
        kid(&access_token(&gh).await) != first_kid
    })
    .await;
    assert!(took >= Duration::from_secs(1), "rotated at once ({took:?})");
    let second = access_token(&gh).await;
    accepted_everywhere(&gh, &first).await;
    accepted_everywhere(&gh, &second).await;
    let kids = jwks_kids(&jwks(&gh).await);
    assert!(kids.contains(&first_kid) && kids.contains(&kid(&second)), "{kids:?}");
    // And again: the schedule keeps going.
    let second_kid = kid(&second);
    until(Duration::from_secs(12), || async {
        kid(&access_token(&gh).await) != second_kid
    })
    .await;
    let listed = list_json(&gh);
    assert_eq!(state_of(&listed, &first_kid), "retiring");
    assert_eq!(
        listed.iter().filter(|k| k["state"] == "current").count(),
        1,
        "one current RS256 key: {listed:?}"
    );
    accepted_everywhere(&gh, &first).await;
}

#[tokio::test]
async fn instances_sharing_the_directory_rotate_once_per_period() {
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().display().to_string();
    // One issuer for both, as behind a load balancer.
    let cfg = format!(
        "issuer = \"http://gatehouse.test\"\n{}",
        config("access_ttl = \"30s\"", "rotate_every = \"4s\"").replace("dir = \"keys\"", &format!("dir = \"{dir}\""))
    );
    let a = Gatehouse::start_full(&cfg);
    let b = Gatehouse::start_full(&cfg);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let keys = list_json(&a);
    // Over 10s with a 4s period: at most 3 rotations after the first key
    // (one per period, never one per instance per period).
    assert!((2..=4).contains(&keys.len()), "{} keys after 10s: {keys:?}", keys.len());
    let mut created: Vec<i64> = keys.iter().map(|k| k["created_at"].as_i64().unwrap()).collect();
    created.sort();
    for w in created.windows(2) {
        assert!(w[1] - w[0] >= 3, "two rotations in one period: {created:?}");
    }
    // Both serve the same current key, and each accepts the other's tokens.
    until(Duration::from_secs(6), || async {
        kid(&access_token(&a).await) == kid(&access_token(&b).await)
    })
    .await;
    accepted_everywhere(&b, &access_token(&a).await).await;
    accepted_everywhere(&a, &access_token(&b).await).await;
}

#[tokio::test]
async fn the_admin_api_rotates_and_lists_and_this_server_signs_with_the_new_key_at_once() {
    let cfg = format!(
        "{}\n[admin]\nusername = \"admin\"\npassword = \"rotate-admin-pw\"\n",
        config("access_ttl = \"60s\"", "")
    );
    let gh = Gatehouse::start_full(&cfg);
    let old = access_token(&gh).await;
    let r = client()
        .post(gh.url("/admin/api/keys/rotate"))
        .basic_auth("admin", Some("rotate-admin-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let keys: Vec<Value> = r.json().await.unwrap();
    assert_eq!(state_of(&keys, &kid(&old)), "retiring", "{keys:?}");
    let current: Vec<&Value> = keys.iter().filter(|k| k["state"] == "current").collect();
    assert_eq!(current.len(), 1, "{keys:?}");
    // No wait for the directory watch: the rotating server switched at once.
    let new = access_token(&gh).await;
    assert_eq!(kid(&new), current[0]["kid"].as_str().unwrap());
    accepted_everywhere(&gh, &old).await;
    accepted_everywhere(&gh, &new).await;
    let listed: Vec<Value> = client()
        .get(gh.url("/admin/api/keys"))
        .basic_auth("admin", Some("rotate-admin-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, list_json(&gh).into_iter().map(drop_nulls).collect::<Vec<_>>());
}

/// The admin API leaves out absent times; `keys list --json` writes null.
fn drop_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

#[tokio::test]
async fn another_instance_accepts_a_token_of_a_key_it_has_not_polled_yet() {
    let shared = tempfile::tempdir().unwrap();
    let cfg = format!(
        "issuer = \"http://gatehouse.test\"\n{}\n[admin]\nusername = \"admin\"\npassword = \"rotate-admin-pw\"\n",
        config("access_ttl = \"60s\"", "").replace("dir = \"keys\"", &format!("dir = \"{}\"", shared.path().display()))
    );
    let a = Gatehouse::start_full(&cfg);
    let b = Gatehouse::start_full(&cfg);
    let before = access_token(&a).await;
    let r = client()
        .post(a.url("/admin/api/keys/rotate"))
        .basic_auth("admin", Some("rotate-admin-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = access_token(&a).await;
    assert_ne!(kid(&before), kid(&after));
    // At once, not after b's next look at the directory: the unknown kid
    // makes b read it.
    accepted_everywhere(&b, &after).await;
    accepted_everywhere(&b, &before).await;
    assert!(jwks_kids(&jwks(&b).await).contains(&kid(&after)));
}
