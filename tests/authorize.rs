//! Authorization endpoint, login and consent, code + PKCE, implicit and
//! hybrid responses, ID tokens and userinfo, over real HTTP against the
//! binary. A cookie-keeping HTTP client plays the browser here; the real
//! browser run is tests/browser.rs.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::web::Browser;
use common::Gatehouse;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

const ISSUER: &str = "http://gatehouse.test";
const CB: &str = "http://127.0.0.1:9000/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92IZVOxRxwmf2bQ9nMlUWtJw64_s";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

fn config(code_ttl: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "memory://"
revocation_staleness = "1s"

[tokens]
code_ttl = "{code_ttl}"

[keys]
dir = "keys"

[[clients]]
id = "printer"
name = "Printing App"
secret = "printer-secret"
redirect_uris = ["{CB}", "http://127.0.0.1:9000/other"]
grant_types = ["authorization_code", "refresh_token", "implicit"]
scopes = ["photos", "openid", "profile", "email"]
post_logout_redirect_uris = ["http://127.0.0.1:9000/bye"]

[[clients]]
id = "spa"
name = "Photo SPA"
public = true
redirect_uris = ["{CB}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["photos", "openid"]

[[clients]]
id = "ri"
secret = "ri-secret"
redirect_uris = ["{CB}"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["photos", "openid"]
audience = ["https://photos.example/", "https://print.example/"]

[[users]]
username = "alice"
password = "wonderland"
name = "Alice Liddell"
email = "alice@example.com"

[[apis]]
name = "photos"
path = "/flickr/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}
"#
    )
}

fn code_params<'a>(client: &'a str, scope: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", CB),
        ("scope", scope),
        ("state", "s-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn exchange(gh: &Gatehouse, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(gh.url("/api/oauth/token"));
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.form(form).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn jwks_decode(gh: &Gatehouse, token: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: Value = reqwest::get(gh.url("/api/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(token, &key, &v).unwrap().claims
}

fn half_hash(v: &str) -> String {
    let d = Sha256::digest(v.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_userinfo_and_remembered_consent() {
    let gh = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh);
    let ch = challenge(VERIFIER);

    let login = b
        .authorize(&code_params("printer", "openid profile email photos", &ch))
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.html.contains("Printing App"));
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(login.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));

    let wrong = b.login(&login, "alice", "nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("class=\"error\""));

    let consent = b.login(&login, "alice", "wonderland").await;
    let cookie = consent
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gh_session="))
        .expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(consent.html.contains("Printing App wants to:"));
    for words in ["View your photos", "See your email address", "Confirm who you are"] {
        assert!(consent.html.contains(words), "consent lists {words:?}");
    }
    let back = b.allow(&consent).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(back.location.as_deref().unwrap().starts_with(CB));
    let p = back.redirect_params();
    assert_eq!(p["state"], "s-123");
    assert_eq!(p["iss"], ISSUER);

    let (s, t) = exchange(
        &gh,
        Some(("printer", "printer-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let access = t["access_token"].as_str().unwrap();
    assert!(t["refresh_token"].is_string());
    let id = jwks_decode(&gh, t["id_token"].as_str().unwrap(), "printer").await;
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["at_hash"], half_hash(access));
    assert_eq!(id["email"], "alice@example.com");
    assert!(id["auth_time"].as_i64().unwrap() > 0);

    let r = reqwest::Client::new()
        .get(gh.url("/flickr/photos"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "photos");
    let ui: Value = reqwest::Client::new()
        .get(gh.url("/api/openid/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], "alice");
    assert_eq!(ui["name"], "Alice Liddell");
    assert_eq!(ui["email"], "alice@example.com");

    // Remembered consent: straight back with a code; prompt=consent asks again.
    let again = b.authorize(&code_params("printer", "openid photos", &ch)).await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "remembered consent skips the pages"
    );
    assert!(again.redirect_params().contains_key("code"));
    let mut forced = code_params("printer", "photos", &ch);
    forced.push(("prompt", "consent"));
    assert!(b.authorize(&forced).await.is_consent());
    let mut relogin = code_params("printer", "photos", &ch);
    relogin.push(("prompt", "login"));
    let page = b.authorize(&relogin).await;
    assert!(page.is_login(), "prompt=login asks to sign in again");
    let after = b.login(&page, "alice", "wonderland").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "consent is remembered, no loop back to login"
    );

    // Userinfo needs the openid scope.
    let b2 = Browser::new(&gh);
    let login = b2.authorize(&code_params("printer", "photos", &ch)).await;
    let back = b2.login(&login, "alice", "wonderland").await;
    assert_eq!(
        back.status,
        StatusCode::SEE_OTHER,
        "consent is remembered per user, across browsers"
    );
    let p = back.redirect_params();
    let (_, t) = exchange(
        &gh,
        Some(("printer", "printer-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert!(t.get("id_token").is_none(), "no openid scope, no ID token");
    let r = reqwest::Client::new()
        .get(gh.url("/api/openid/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

#[tokio::test]
async fn pkce_redirect_and_client_errors() {
    let gh = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh);
    let ch = challenge(VERIFIER);

    // Unknown client, redirect mismatch: an error page, never a redirect.
    let p = b.authorize(&code_params("nobody", "photos", &ch)).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.location.is_none() && p.html.contains("id=\"error\""));
    let mut evil = code_params("printer", "photos", &ch);
    evil[2] = ("redirect_uri", "http://evil.example/cb");
    let p = b.authorize(&evil).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.location.is_none());
    let mut prefix = code_params("printer", "photos", &ch);
    prefix[2] = ("redirect_uri", "http://127.0.0.1:9000/callback/../evil");
    assert!(b.authorize(&prefix).await.location.is_none(), "exact match only");

    // Errors after the redirect URI is trusted go back to the client.
    let mut bad_scope = code_params("printer", "photos admin", &ch);
    bad_scope.truncate(6);
    assert_eq!(
        b.authorize(&bad_scope).await.redirect_params()["error"],
        "invalid_scope"
    );
    let mut bad_rt = code_params("printer", "photos", &ch);
    bad_rt[0] = ("response_type", "code device");
    assert_eq!(
        b.authorize(&bad_rt).await.redirect_params()["error"],
        "unsupported_response_type"
    );

    // PKCE: required for public clients; plain refused.
    let mut no_pkce = code_params("spa", "photos", &ch);
    no_pkce.truncate(6);
    let r = b.authorize(&no_pkce).await.redirect_params();
    assert_eq!((r["error"].as_str(), r["state"].as_str()), ("invalid_request", "s-123"));
    let mut plain = code_params("spa", "photos", VERIFIER);
    plain[7] = ("code_challenge_method", "plain");
    assert_eq!(b.authorize(&plain).await.redirect_params()["error"], "invalid_request");
    let mut implicit_default = code_params("spa", "photos", VERIFIER);
    implicit_default.truncate(7);
    assert_eq!(
        b.authorize(&implicit_default).await.redirect_params()["error"],
        "invalid_request",
        "no method means plain"
    );

    // prompt=none without a session.
    let mut none = code_params("printer", "photos", &ch);
    none.push(("prompt", "none"));
    assert_eq!(b.authorize(&none).await.redirect_params()["error"], "login_required");

    // CSRF: a login or consent form without the token is refused.
    let login = b.authorize(&code_params("spa", "photos", &ch)).await;
    let r = b
        .submit(
            &login,
            &[("username", "alice"), ("password", "wonderland"), ("action", "login")],
            &["csrf_token"],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let consent = b.login(&login, "alice", "wonderland").await;
    let r = b.submit(&consent, &[("decision", "allow")], &["csrf_token"]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
    let r = b.submit(&consent, &[("decision", "allow")], &[]).await;
    assert!(
        r.redirect_params().contains_key("code"),
        "with the token the same form goes through"
    );
    // Signed in, no consent for this scope yet: prompt=none says so.
    let mut none = code_params("spa", "openid", &ch);
    none.push(("prompt", "none"));
    assert_eq!(b.authorize(&none).await.redirect_params()["error"], "consent_required");

    // Deny → access_denied back at the client.
    let consent = b.authorize(&code_params("spa", "openid photos", &ch)).await;
    let r = b.submit(&consent, &[("decision", "deny")], &[]).await.redirect_params();
    assert_eq!((r["error"].as_str(), r["state"].as_str()), ("access_denied", "s-123"));

    // Public client, PKCE: wrong verifier, missing verifier, right one.
    let p = b.authorize(&code_params("spa", "photos", &ch)).await.redirect_params();
    let code = p["code"].clone();
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("code", code.as_str()),
    ];
    let (s, e) = exchange(
        &gh,
        None,
        &[&base[..], &[("code_verifier", "x".repeat(43).as_str())]].concat(),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The failed attempt used the code up: codes are single-use.
    let (_, e) = exchange(&gh, None, &[&base[..], &[("code_verifier", VERIFIER)]].concat()).await;
    assert_eq!(e["error"], "invalid_grant");
    let p = b.authorize(&code_params("spa", "photos", &ch)).await.redirect_params();
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("code", p["code"].as_str()),
    ];
    let (_, e) = exchange(&gh, None, &base).await;
    assert_eq!(e["error"], "invalid_grant", "missing verifier");
    let p = b.authorize(&code_params("spa", "photos", &ch)).await.redirect_params();
    let mut wrong_cb = vec![
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("code", p["code"].as_str()),
    ];
    wrong_cb.push(("redirect_uri", "http://127.0.0.1:9000/other"));
    wrong_cb.push(("code_verifier", VERIFIER));
    let (_, e) = exchange(&gh, None, &wrong_cb).await;
    assert_eq!(e["error"], "invalid_grant", "redirect_uri must match");
    let p = b.authorize(&code_params("spa", "photos", &ch)).await.redirect_params();
    let ok = [
        ("grant_type", "authorization_code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("code", p["code"].as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (s, t) = exchange(&gh, None, &ok).await;
    assert_eq!(s, StatusCode::OK, "{t}");
}

#[tokio::test]
async fn code_replay_revokes_tokens_and_expired_codes_fail() {
    let gh = Gatehouse::start_full(&config("3s"));
    let b = Browser::new(&gh);
    let ch = challenge(VERIFIER);
    let login = b.authorize(&code_params("printer", "photos", &ch)).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let code = b.allow(&consent).await.redirect_params()["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (s, t) = exchange(&gh, Some(("printer", "printer-secret")), &form).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let api = |tok: String| {
        let url = gh.url("/flickr/photos");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(api(access.clone()).await, StatusCode::OK);

    let (s, e) = exchange(&gh, Some(("printer", "printer-secret")), &form).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let start = std::time::Instant::now();
    while api(access.clone()).await != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "replay did not revoke the access token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, e) = exchange(
        &gh,
        Some(("printer", "printer-secret")),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(e["error"], "invalid_grant", "replay revoked the refresh token too");

    // Expired code (code_ttl = 3s; whole seconds, so a code lives 2-3 s).
    let code = b
        .authorize(&code_params("printer", "photos", &ch))
        .await
        .redirect_params()["code"]
        .clone();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let (_, e) = exchange(&gh, Some(("printer", "printer-secret")), &form).await;
    assert_eq!(e["error"], "invalid_grant");
    assert!(e["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn implicit_and_hybrid_responses() {
    let gh = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh);
    let params = |rt: &'static str| {
        vec![
            ("response_type", rt),
            ("client_id", "printer"),
            ("redirect_uri", CB),
            ("scope", "openid photos"),
            ("state", "st"),
            ("nonce", "nn"),
        ]
    };
    let login = b.authorize(&params("token")).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let back = b.allow(&consent).await;
    let loc = back.location.clone().unwrap();
    assert!(
        loc.contains('#') && !loc.contains("?access_token"),
        "implicit answers in the fragment: {loc}"
    );
    let p = back.redirect_params();
    assert_eq!((p["token_type"].as_str(), p["state"].as_str()), ("Bearer", "st"));
    assert!(!p.contains_key("refresh_token"));
    let r = reqwest::Client::new()
        .get(gh.url("/flickr/photos"))
        .bearer_auth(&p["access_token"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let p = b.authorize(&params("id_token token")).await.redirect_params();
    let id = jwks_decode(&gh, &p["id_token"], "printer").await;
    assert_eq!(id["nonce"], "nn");
    assert_eq!(id["at_hash"], half_hash(&p["access_token"]));

    let p = b.authorize(&params("code id_token")).await.redirect_params();
    let id = jwks_decode(&gh, &p["id_token"], "printer").await;
    assert_eq!(id["c_hash"], half_hash(&p["code"]));

    let mut no_nonce = params("id_token token");
    no_nonce.truncate(5);
    let back = b.authorize(&no_nonce).await;
    assert!(
        back.location.as_deref().unwrap().contains("#error=invalid_request"),
        "{:?}",
        back.location
    );

    // The SPA may not use implicit (not registered for it).
    let mut spa = params("token");
    spa[1] = ("client_id", "spa");
    assert_eq!(
        b.authorize(&spa).await.redirect_params()["error"],
        "unauthorized_client"
    );
}

#[tokio::test]
async fn login_page_throttles_guessing_and_max_age_forces_a_fresh_login() {
    let gh = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh);
    let ch = challenge(VERIFIER);
    let mut hinted = code_params("printer", "photos", &ch);
    hinted.push(("login_hint", "alice"));
    let login = b.authorize(&hinted).await;
    assert!(
        login.html.contains("value=\"alice\""),
        "login_hint prefills the username"
    );
    for _ in 0..5 {
        let r = b.login(&login, "alice", "guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = b.login(&login, "alice", "wonderland").await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    assert!(r.html.contains("Too many failed attempts"));
    assert!(!r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("gh_session=")));

    // Another user signs in; a later request with max_age=0 must sign in again.
    let b = Browser::new(&gh);
    let login = b.authorize(&code_params("printer", "photos", &ch)).await;
    let consent = b.login(&login, "mallory", "x").await;
    assert_eq!(consent.status, StatusCode::UNAUTHORIZED, "unknown user");
    let gh2 = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh2);
    let login = b.authorize(&code_params("printer", "photos", &ch)).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    assert_eq!(b.allow(&consent).await.status, StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut fresh = code_params("printer", "photos", &ch);
    fresh.push(("max_age", "0"));
    let page = b.authorize(&fresh).await;
    assert!(page.is_login(), "the session is older than max_age");
    let back = b.login(&page, "alice", "wonderland").await;
    assert_eq!(
        back.status,
        StatusCode::SEE_OTHER,
        "after signing in again it goes through"
    );
    let mut lenient = code_params("printer", "photos", &ch);
    lenient.push(("max_age", "3600"));
    assert_eq!(b.authorize(&lenient).await.status, StatusCode::SEE_OTHER);
}

/// Issue 12 (4): with `signing_alg = "ES256"` an RS256 key is kept beside
/// it; ID tokens are RS256 unless the client registered another algorithm,
/// and discovery lists both.
#[tokio::test]
async fn id_tokens_are_rs256_by_default_whatever_the_signing_alg() {
    let cfg = config("60s")
        .replace("[tokens]\n", "[tokens]\nsigning_alg = \"ES256\"\n")
        .replace(
            "[[clients]]\nid = \"spa\"",
            "[[clients]]\nid = \"ec-rp\"\nsecret = \"ec-secret\"\nredirect_uris = [\"http://127.0.0.1:9000/callback\"]\ngrant_types = [\"authorization_code\", \"implicit\"]\nscopes = [\"openid\"]\nid_token_signed_response_alg = \"ES256\"\n\n[[clients]]\nid = \"spa\"",
        );
    assert!(
        cfg.contains("ec-rp") && cfg.contains("signing_alg = \"ES256\""),
        "{cfg}"
    );
    let gh = Gatehouse::start_full(&cfg);
    let disco: Value = reqwest::get(gh.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = disco["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"ES256"), "{algs:?}");

    let b = Browser::new(&gh);
    let params = |client: &'static str| {
        vec![
            ("response_type", "code id_token"),
            ("client_id", client),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st"),
            ("nonce", "nn"),
        ]
    };
    let login = b.authorize(&params("printer")).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let p = b.allow(&consent).await.redirect_params();
    let h = jsonwebtoken::decode_header(&p["id_token"]).unwrap();
    assert_eq!(h.alg, jsonwebtoken::Algorithm::RS256, "default ID token algorithm");
    let id = jwks_decode(&gh, &p["id_token"], "printer").await;
    assert_eq!(id["c_hash"], half_hash(&p["code"]));
    // Access tokens keep the configured algorithm.
    let (s, tok) = exchange(
        &gh,
        Some(("printer", "printer-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    let at = jsonwebtoken::decode_header(tok["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(at.alg, jsonwebtoken::Algorithm::ES256);
    let idt = jsonwebtoken::decode_header(tok["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(idt.alg, jsonwebtoken::Algorithm::RS256);

    // A client that registered ES256 gets ES256.
    let first = b.authorize(&params("ec-rp")).await;
    let page = if first.is_consent() {
        b.allow(&first).await
    } else {
        first
    };
    let p = page.redirect_params();
    let h = jsonwebtoken::decode_header(&p["id_token"]).unwrap();
    assert_eq!(h.alg, jsonwebtoken::Algorithm::ES256);
    jwks_decode(&gh, &p["id_token"], "ec-rp").await;
}

/// Issue 12 (8): every response type combination, `s_hash` in front-channel
/// ID tokens, and `response_mode=form_post`.
#[tokio::test]
async fn response_types_form_post_and_s_hash() {
    let gh = Gatehouse::start_full(&config("60s"));
    let disco: Value = reqwest::get(gh.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = |k: &str| -> Vec<String> {
        disco[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(listed("response_modes_supported").contains(&"form_post".to_string()));
    for rt in ["id_token", "code token", "code id_token token"] {
        assert!(listed("response_types_supported").contains(&rt.to_string()), "{rt}");
    }

    let b = Browser::new(&gh);
    let params = |rt: &'static str| {
        vec![
            ("response_type", rt),
            ("client_id", "printer"),
            ("redirect_uri", CB),
            ("scope", "openid photos"),
            ("state", "st-9"),
            ("nonce", "nn"),
        ]
    };
    let login = b.authorize(&params("id_token")).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let back = b.allow(&consent).await;
    assert!(back.location.as_deref().unwrap().contains('#'));
    let p = back.redirect_params();
    assert!(!p.contains_key("access_token") && !p.contains_key("code"), "{p:?}");
    assert_eq!(p["state"], "st-9");
    let id = jwks_decode(&gh, &p["id_token"], "printer").await;
    assert_eq!(id["nonce"], "nn");
    assert_eq!(id["s_hash"], half_hash("st-9"));
    assert!(id.get("at_hash").is_none());

    let p = b.authorize(&params("code token")).await.redirect_params();
    assert!(p.contains_key("code") && p.contains_key("access_token") && !p.contains_key("id_token"));

    let p = b.authorize(&params("code id_token token")).await.redirect_params();
    let id = jwks_decode(&gh, &p["id_token"], "printer").await;
    assert_eq!(id["at_hash"], half_hash(&p["access_token"]));
    assert_eq!(id["c_hash"], half_hash(&p["code"]));
    assert_eq!(id["s_hash"], half_hash("st-9"));

    // form_post: a page that POSTs the response to the redirect URI.
    let mut fp = params("code id_token");
    fp.push(("response_mode", "form_post"));
    let page = b.authorize(&fp).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.location.is_none());
    assert!(
        page.html.contains(&format!("<form method=\"post\" action=\"{CB}\"")),
        "{}",
        page.html
    );
    let fields: std::collections::HashMap<String, String> =
        common::web::hidden_fields(&page.html).into_iter().collect();
    assert_eq!(fields["state"], "st-9");
    assert_eq!(fields["iss"], ISSUER);
    let id = jwks_decode(&gh, &fields["id_token"], "printer").await;
    assert_eq!(id["c_hash"], half_hash(&fields["code"]));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("form-action http://127.0.0.1:9000"),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    // The code from the form works at the token endpoint.
    let (s, _) = exchange(
        &gh,
        Some(("printer", "printer-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &fields["code"]),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Tokens never go in a query; unknown modes and repeated values are refused.
    let mut q = params("id_token token");
    q.push(("response_mode", "query"));
    let loc = b.authorize(&q).await.location.unwrap();
    assert!(
        loc.contains("?error=invalid_request") && !loc.contains("access_token"),
        "{loc}"
    );
    let mut bad = params("code");
    bad.push(("response_mode", "carrier_pigeon"));
    assert_eq!(b.authorize(&bad).await.redirect_params()["error"], "invalid_request");
    assert_eq!(
        b.authorize(&params("token token")).await.redirect_params()["error"],
        "unsupported_response_type"
    );
}

/// Issue 12 (9): RP-initiated logout ends the browser session in the store
/// (so the old cookie no longer signs anyone in), sends the user back to a
/// registered post_logout_redirect_uri with `state`, and asks first when
/// the request does not prove which user it is for.
#[tokio::test]
async fn rp_initiated_logout_ends_the_session_everywhere() {
    let gh = Gatehouse::start_full(&config("60s"));
    let disco: Value = reqwest::get(gh.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["end_session_endpoint"], format!("{ISSUER}/api/oauth/logout"));

    let b = Browser::new(&gh);
    let params = vec![
        ("response_type", "code id_token"),
        ("client_id", "printer"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "st"),
        ("nonce", "nn"),
    ];
    let login = b.authorize(&params).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let session_cookie = consent.set_cookie("gh_session").expect("a session cookie after login");
    let p = b.allow(&consent).await.redirect_params();
    let id_token = p["id_token"].clone();
    // Signed in: the next request needs no login.
    assert!(b.authorize(&params).await.location.is_some());

    // An unregistered post_logout_redirect_uri is refused, nothing ends.
    let bad = b
        .http
        .get(gh.url("/api/oauth/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(b.authorize(&params).await.location.is_some(), "still signed in");

    let out = b
        .http
        .get(gh.url("/api/oauth/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9000/bye"),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "http://127.0.0.1:9000/bye?state=bye-1");
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));

    // Signed out: the login page again, and the old cookie is dead even when
    // replayed (it is checked against the store, which every instance shares).
    assert!(b.authorize(&params).await.is_login());
    let url = reqwest::Url::parse_with_params(&gh.url("/api/oauth/authorize"), &params).unwrap();
    let replay = common::client()
        .get(url)
        .header("cookie", &session_cookie)
        .send()
        .await
        .unwrap();
    assert!(
        replay.text().await.unwrap().contains("id=\"password\""),
        "the old session cookie still works"
    );

    // Without a hint the user is asked first; confirming signs out.
    let login = b.authorize(&params).await;
    let consent_or_back = b.login(&login, "alice", "wonderland").await;
    assert!(consent_or_back.location.is_some(), "consent is remembered");
    let ask = Browser::page(b.http.get(gh.url("/api/oauth/logout")).send().await.unwrap()).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.html.contains("id=\"logout\""), "{}", ask.html);
    assert!(
        b.authorize(&params).await.location.is_some(),
        "asking does not sign out"
    );
    let mut form = common::web::hidden_fields(&ask.html);
    form.push(("action".into(), "logout".into()));
    let done = Browser::page(
        b.http
            .post(gh.url("/api/oauth/logout"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(done.html.contains("id=\"signed-out\""), "{}", done.html);
    assert!(b.authorize(&params).await.is_login());

    // A forged confirmation (no CSRF token) does nothing.
    let login = b.authorize(&params).await;
    b.login(&login, "alice", "wonderland").await;
    let forged = b
        .http
        .post(gh.url("/api/oauth/logout"))
        .form(&[("action", "logout")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(b.authorize(&params).await.location.is_some(), "still signed in");
}

/// RFC 8707: `resource` at authorize and token becomes `aud`; a later
/// request may only narrow it; anything outside the client's audience, or
/// not an absolute URI, is `invalid_target`.
#[tokio::test]
async fn resource_indicators_become_the_audience() {
    let gh = Gatehouse::start_full(&config("60s"));
    let b = Browser::new(&gh);
    let ch = challenge(VERIFIER);
    let (photos, print) = ("https://photos.example/", "https://print.example/");
    let mut params = code_params("ri", "photos", &ch);
    params.push(("resource", photos));
    params.push(("resource", print));
    let login = b.authorize(&params).await;
    let consent = b.login(&login, "alice", "wonderland").await;
    let code = b.allow(&consent).await.redirect_params()["code"].clone();
    let ri = Some(("ri", "ri-secret"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
        ("resource", photos),
    ];
    let (s, t) = exchange(&gh, ri, &form).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let claims = jwks_decode(&gh, t["access_token"].as_str().unwrap(), photos).await;
    assert_eq!(claims["aud"], serde_json::json!([photos]));
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    // The refresh may pick the other resource of the grant…
    let (s, t) = exchange(
        &gh,
        ri,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("resource", print),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let claims = jwks_decode(&gh, t["access_token"].as_str().unwrap(), print).await;
    assert_eq!(claims["aud"], serde_json::json!([print]));
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    // …but nothing beyond it.
    let (s, e) = exchange(
        &gh,
        ri,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("resource", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target")),
        "{e}"
    );

    // client_credentials: both, one, a relative one, a foreign one.
    let cc = |extra: Vec<(&'static str, &'static str)>| {
        let mut f = vec![("grant_type", "client_credentials"), ("scope", "photos")];
        f.extend(extra);
        f
    };
    let (s, t) = exchange(&gh, ri, &cc(vec![("resource", photos), ("resource", print)])).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let claims = jwks_decode(&gh, t["access_token"].as_str().unwrap(), print).await;
    assert_eq!(claims["aud"], serde_json::json!([photos, print]));
    for bad in ["photos", "https://photos.example/#frag", "https://evil.example/"] {
        let (s, e) = exchange(&gh, ri, &cc(vec![("resource", bad)])).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_target")),
            "{bad}: {e}"
        );
    }

    // At authorize, a foreign resource is sent back as invalid_target.
    let mut params = code_params("ri", "photos", &ch);
    params.push(("resource", "https://evil.example/"));
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(gh.url("/api/oauth/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with(CB) && loc.contains("error=invalid_target"), "{loc}");
}
