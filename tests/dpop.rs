//! DPoP (RFC 9449) at the token endpoint and userinfo, against the real
//! binary: proofs made by jwcrypto (tests/interop/dpop_proof.py) for every
//! refusal — nonce missing, replay, wrong htm/htu, wrong key, missing ath,
//! bearer use of a bound token — and panva's openid-client/oauth4webapi
//! driving the happy paths with their own proofs and nonce handling
//! (tests/interop/panva/dpop.mjs).

mod common;

use common::jwcrypto::Jwcrypto;
use common::Gatehouse;
use serde_json::{json, Value};
use std::process::Command;

const CONFIG: &str = r#"
[tokens]
access_format = "jwt"
signing_alg = "ES256"

[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["photos", "openid", "profile"]

[[clients]]
id = "bound"
secret = "bound-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]
dpop_bound_access_tokens = true

[[clients]]
id = "app"
public = true
redirect_uris = ["http://127.0.0.1:9000/cb"]
grant_types = ["password", "refresh_token"]
scopes = ["openid", "photos"]

[[users]]
username = "alice"
password = "wonderland"
"#;

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn token(
    c: &reqwest::Client,
    gh: &Gatehouse,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = c.post(gh.url("/api/oauth/token")).form(form);
    if let Some((u, p)) = auth {
        r = r.basic_auth(u, Some(p));
    }
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn nonce_of(h: &reqwest::header::HeaderMap) -> String {
    h.get("dpop-nonce")
        .expect("DPoP-Nonce header")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_and_userinfo_bind_tokens_and_refuse_every_bad_proof() {
    let gh = Gatehouse::start(CONFIG);
    let c = common::client();
    let mut jw = Jwcrypto::dpop();
    let token_url = gh.url("/api/oauth/token");
    let svc = Some(("svc", "svc-secret"));
    let cc = [("grant_type", "client_credentials"), ("scope", "photos")];
    let (key, jkt) = jw.key("EC");

    // No nonce yet: use_dpop_nonce with one to use.
    let p = jw.proof(&key, "POST", &token_url, json!({}));
    let (s, h, body) = token(&c, &gh, svc, &cc, Some(&p)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let nonce = nonce_of(&h);

    // With the nonce: a DPoP token bound to the key, and the nonce again.
    let p = jw.proof(&key, "POST", &token_url, json!({"nonce": nonce}));
    let (s, h, body) = token(&c, &gh, svc, &cc, Some(&p)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&access)["cnf"]["jkt"], jkt.as_str());
    assert!(h.get("dpop-nonce").is_some());

    // The same proof again: a replay.
    let (s, _, body) = token(&c, &gh, svc, &cc, Some(&p)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("used before"),
        "{body}"
    );

    // Wrong method, wrong URL, wrong typ, an RSA key too short for nothing,
    // a foreign jwk in the header, an old iat: each refused precisely.
    let bad = [
        (jw.proof(&key, "GET", &token_url, json!({"nonce": nonce})), "htm"),
        (
            jw.proof(&key, "POST", &gh.url("/api/oauth/other"), json!({"nonce": nonce})),
            "htu",
        ),
        (
            jw.proof(&key, "POST", &token_url, json!({"nonce": nonce, "typ": "JWT"})),
            "typ",
        ),
        (
            jw.proof(&key, "POST", &token_url, json!({"nonce": nonce, "iat": 1_000_000_000})),
            "iat",
        ),
        (
            jw.proof(&key, "POST", &token_url, json!({"nonce": "bm90LWEtbm9uY2U"})),
            "nonce",
        ),
    ];
    for (p, what) in &bad {
        let (s, _, body) = token(&c, &gh, svc, &cc, Some(p)).await;
        assert_eq!(s, 400, "{what}: {body}");
        let want = if *what == "nonce" {
            "use_dpop_nonce"
        } else {
            "invalid_dpop_proof"
        };
        assert_eq!(body["error"], want, "{what}: {body}");
        if *what != "nonce" {
            assert!(
                body["error_description"].as_str().unwrap().contains(what),
                "{what}: {body}"
            );
        }
    }
    let (other, _) = jw.key("EC");
    let other_public: Value = {
        let mut k = other.clone();
        k.as_object_mut().unwrap().remove("d");
        k
    };
    let p = jw.proof(&key, "POST", &token_url, json!({"nonce": nonce, "jwk": other_public}));
    let (s, _, body) = token(&c, &gh, svc, &cc, Some(&p)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    // Two DPoP headers.
    let p1 = jw.proof(&key, "POST", &token_url, json!({"nonce": nonce}));
    let p2 = jw.proof(&key, "POST", &token_url, json!({"nonce": nonce}));
    let r = c
        .post(&token_url)
        .basic_auth("svc", Some("svc-secret"))
        .header("DPoP", &p1)
        .header("DPoP", &p2)
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // An RSA (PS256) key works as well.
    let (rsa, rsa_jkt) = jw.key("RSA");
    let p = jw.proof(&rsa, "POST", &token_url, json!({"nonce": nonce}));
    let (s, _, body) = token(&c, &gh, svc, &cc, Some(&p)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        rsa_jkt.as_str()
    );

    // Introspection says DPoP and gives the confirmation.
    let r: Value = c
        .post(gh.url("/api/oauth/introspect"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "DPoP");
    assert_eq!(r["cnf"]["jkt"], jkt.as_str());

    // A client that must bind: no proof, no token.
    let (s, _, body) = token(&c, &gh, Some(("bound", "bound-secret")), &cc, None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    // Without a proof, a bearer token as before.
    let (s, _, body) = token(&c, &gh, svc, &cc, None).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("Bearer")), "{body}");

    // ---- userinfo
    let userinfo = gh.url("/api/openid/userinfo");
    let pw = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
        ("scope", "openid photos"),
    ];
    let p = jw.proof(&key, "POST", &token_url, json!({"nonce": nonce}));
    let (s, _, body) = token(&c, &gh, svc, &pw, Some(&p)).await;
    assert_eq!(s, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_string();
    let get = |auth: String, proof: Option<String>| {
        let mut r = c.get(&userinfo).header("authorization", auth);
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    // Bearer use of a bound token: refused with a DPoP challenge.
    let r = get(format!("Bearer {at}"), None).await.unwrap();
    assert_eq!(r.status(), 401);
    let chal = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        chal.starts_with("DPoP ") && chal.contains("algs=\"") && chal.contains("invalid_token"),
        "{chal}"
    );
    // No ath.
    let p = jw.proof(&key, "GET", &userinfo, json!({"nonce": nonce}));
    let r = get(format!("DPoP {at}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), 401);
    let chal = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(chal.contains("error=\"invalid_dpop_proof\""), "{chal}");
    assert!(r.text().await.unwrap().contains("ath"));
    // Another key than the token's.
    let p = jw.proof(&other, "GET", &userinfo, json!({"nonce": nonce, "ath_of": at}));
    let r = get(format!("DPoP {at}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("another key"));
    // No nonce: use_dpop_nonce with a DPoP-Nonce header.
    let p = jw.proof(&key, "GET", &userinfo, json!({"ath_of": at}));
    let r = get(format!("DPoP {at}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("dpop-nonce").is_some());
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("use_dpop_nonce"));
    // Right key, ath and nonce.
    let p = jw.proof(&key, "GET", &userinfo, json!({"nonce": nonce, "ath_of": at}));
    let r = get(format!("DPoP {at}"), Some(p)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], "alice");

    // ---- a public client's refresh token is bound to its key
    let (app_key, app_jkt) = jw.key("EC");
    let form = [
        ("grant_type", "password"),
        ("client_id", "app"),
        ("username", "alice"),
        ("password", "wonderland"),
        ("scope", "openid"),
    ];
    let p = jw.proof(&app_key, "POST", &token_url, json!({"nonce": nonce}));
    let (s, _, body) = token(&c, &gh, None, &form, Some(&p)).await;
    assert_eq!(s, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", rt.as_str()),
    ];
    let (s, _, body) = token(&c, &gh, None, &refresh, None).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    let p = jw.proof(&other, "POST", &token_url, json!({"nonce": nonce}));
    let (s, _, body) = token(&c, &gh, None, &refresh, Some(&p)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    let p = jw.proof(&app_key, "POST", &token_url, json!({"nonce": nonce}));
    let (s, _, body) = token(&c, &gh, None, &refresh, Some(&p)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        app_jkt.as_str()
    );

    // Discovery lists the proof algorithms.
    let d: Value = c
        .get(gh.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("ES256")));
}

#[test]
fn openid_client_and_oauth4webapi_use_dpop_with_nonces() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/panva");
    assert!(
        std::path::Path::new(dir).join("node_modules/openid-client").exists(),
        "run ./test.sh (it installs openid-client and oauth4webapi from npm)"
    );
    for format in ["jwt", "opaque"] {
        let gh = Gatehouse::start(&CONFIG.replace("access_format = \"jwt\"", &format!("access_format = \"{format}\"")));
        let issuer = format!("http://{}", gh.addr);
        let out = Command::new("node")
            .arg("dpop.mjs")
            .current_dir(dir)
            .env("ISSUER", &issuer)
            .env("API", "")
            .env("FORMAT", format)
            .env("CLIENT", "svc")
            .env("SECRET", "svc-secret")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("ALL OK"),
            "{format}:\n{stdout}\n{stderr}\n--- gatehouse log ---\n{}",
            gh.log()
        );
    }
}
