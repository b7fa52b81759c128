//! The authorization server end to end over HTTP against the real binary:
//! every grant, both token formats, both stores; RFC 6749 §5.2 errors;
//! refresh rotation and family revocation; revocation seen by the gateway;
//! token info and introspection; scope checks at the gateway; restart.

mod common;

use common::{client, Gatehouse};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

const ISSUER: &str = "http://gatehouse.test";

fn config(store: &str, format: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"

[store]
url = "{store}"
revocation_staleness = "1s"

[tokens]
access_format = "{format}"

[keys]
dir = "keys"

[[clients]]
id = "printer"
name = "Printing App"
secret = "printer-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["photos", "profile", "print"]

[[clients]]
id = "other"
secret = "other-secret"
grant_types = ["client_credentials"]
scopes = ["photos"]

[[clients]]
id = "mobile"
public = true
grant_types = ["password", "refresh_token", "client_credentials"]
scopes = ["photos"]

[[users]]
username = "alice"
password = "wonderland"

[[users]]
username = "mallory"
password = "secret-password"

[[apis]]
name = "photos"
path = "/flickr/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos" }} }}

[[apis]]
name = "print"
path = "/print"
auth = {{ kind = "oauth2", scopes = ["print"] }}
backend = {{ mock = {{ body = "printed" }} }}
"#
    )
}

enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    Public(&'a str),
    Nothing,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

impl Reply {
    fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("<none>")
    }
    fn s(&self, k: &str) -> String {
        self.json[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {}", self.json))
            .to_string()
    }
}

async fn post(gh: &Gatehouse, path: &str, auth: Auth<'_>, form: &[(&str, &str)]) -> Reply {
    let mut pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut req = client().post(gh.url(path));
    match auth {
        Auth::Basic(id, secret) => req = req.basic_auth(id, Some(secret)),
        Auth::Post(id, secret) => {
            pairs.push(("client_id".into(), id.into()));
            pairs.push(("client_secret".into(), secret.into()));
        }
        Auth::Public(id) => pairs.push(("client_id".into(), id.into())),
        Auth::Nothing => {}
    }
    let resp = req.form(&pairs).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    Reply { status, headers, json }
}

async fn token(gh: &Gatehouse, auth: Auth<'_>, form: &[(&str, &str)]) -> Reply {
    post(gh, "/api/oauth/token", auth, form).await
}

async fn call_api(gh: &Gatehouse, path: &str, access: &str) -> (StatusCode, String, String) {
    let r = client().get(gh.url(path)).bearer_auth(access).send().await.unwrap();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), www, r.text().await.unwrap())
}

/// Polls until the API answers `want` for the token, up to the staleness
/// bound plus slack; returns how long it took.
async fn until_status(gh: &Gatehouse, access: &str, want: StatusCode) -> Duration {
    let start = Instant::now();
    loop {
        let (s, _, _) = call_api(gh, "/flickr/photos", access).await;
        if s == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "gateway still answers {s}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.json);
    assert_eq!(r.error(), code, "{}", r.json);
    assert!(r.json["error_description"].is_string(), "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    // Every 401 carries a challenge, whichever way the client authenticated
    // (RFC 6749 §5.2, RFC 9110 §15.5.2).
    if status == 401 {
        let www = r.headers.get("www-authenticate").map(|v| v.to_str().unwrap_or(""));
        assert!(
            www.is_some_and(|v| v.starts_with("Basic realm=")),
            "401 without a challenge: {www:?}"
        );
    }
}

async fn check_jwt_shape(gh: &Gatehouse, access: &str, sub: &str, scope: &str) {
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.clone().unwrap();
    let jwks: Value = client()
        .get(gh.url("/api/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in JWKS");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[ISSUER]);
    let claims = jsonwebtoken::decode::<Value>(access, &key, &v).unwrap().claims;
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["client_id"], "printer");
    assert_eq!(claims["scope"], scope);
    for k in ["jti", "iat", "exp"] {
        assert!(!claims[k].is_null(), "claim {k} missing: {claims}");
    }
}

async fn every_grant_and_error(store: &str, format: &str) {
    let gh = Gatehouse::start_full(&config(store, format));

    // Discovery lists what exists and nothing more.
    let d: Value = client()
        .get(gh.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(d["token_endpoint"], format!("{ISSUER}/api/oauth/token"));
    let grants: Vec<&str> = d["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    for g in ["client_credentials", "password", "refresh_token"] {
        assert!(grants.contains(&g), "{grants:?}");
    }

    // client_credentials, basic and post.
    let cc = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "client_credentials"), ("scope", "photos")],
    )
    .await;
    assert_eq!(cc.status, StatusCode::OK, "{}", cc.json);
    assert_eq!(cc.headers["cache-control"], "no-store");
    assert_eq!(cc.headers["pragma"], "no-cache");
    assert_eq!(cc.json["token_type"], "Bearer");
    assert_eq!(cc.json["expires_in"], 3600);
    assert_eq!(cc.json["scope"], "photos");
    assert!(
        cc.json.get("refresh_token").is_none(),
        "client_credentials issues no refresh token"
    );
    let cc_access = cc.s("access_token");
    if format == "jwt" {
        check_jwt_shape(&gh, &cc_access, "printer", "photos").await;
    } else {
        assert!(!cc_access.contains('.') && cc_access.len() >= 43, "opaque: {cc_access}");
    }
    let post_cc = token(
        &gh,
        Auth::Post("printer", "printer-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(post_cc.status, StatusCode::OK);
    assert_eq!(
        post_cc.json["scope"], "photos print profile",
        "no scope asked: all registered scopes"
    );

    // The gateway: scope present → 200, missing → 403 insufficient_scope.
    let (s, _, body) = call_api(&gh, "/flickr/photos", &cc_access).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "photos"));
    let (s, www, _) = call_api(&gh, "/print", &cc_access).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"print\""),
        "{www}"
    );
    let r = client().get(gh.url("/flickr/photos")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");
    let (s, www, _) = call_api(&gh, "/flickr/photos", "not-a-token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(www.contains("error=\"invalid_token\""), "{www}");

    // RFC 6749 §5.2 errors.
    let r = token(
        &gh,
        Auth::Basic("printer", "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_error(&r, 401, "invalid_client");
    assert!(
        r.headers["www-authenticate"].to_str().unwrap().starts_with("Basic"),
        "basic → challenge"
    );
    let r = token(
        &gh,
        Auth::Post("printer", "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_error(&r, 401, "invalid_client");
    let r = token(&gh, Auth::Basic("nobody", "x"), &[("grant_type", "client_credentials")]).await;
    assert_error(&r, 401, "invalid_client");
    let r = token(&gh, Auth::Nothing, &[("grant_type", "client_credentials")]).await;
    assert_error(&r, 401, "invalid_client");
    let r = token(&gh, Auth::Public("printer"), &[("grant_type", "client_credentials")]).await;
    assert_error(&r, 401, "invalid_client");
    let r = token(&gh, Auth::Basic("printer", "printer-secret"), &[("scope", "photos")]).await;
    assert_error(&r, 400, "invalid_request");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "client_credentials"), ("grant_type", "password")],
    )
    .await;
    assert_error(&r, 400, "invalid_request");
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth("printer", Some("printer-secret"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "urn:example:nope")],
    )
    .await;
    assert_error(&r, 400, "unsupported_grant_type");
    let r = token(
        &gh,
        Auth::Basic("other", "other-secret"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client");
    let r = token(&gh, Auth::Public("mobile"), &[("grant_type", "client_credentials")]).await;
    assert_error(&r, 400, "unauthorized_client");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "client_credentials"), ("scope", "photos admin")],
    )
    .await;
    assert_error(&r, 400, "invalid_scope");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "password"), ("username", "alice"), ("password", "nope")],
    )
    .await;
    assert_error(&r, 400, "invalid_grant");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "password"), ("username", "ghost"), ("password", "nope")],
    )
    .await;
    assert_error(&r, 400, "invalid_grant");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "password"), ("username", "alice")],
    )
    .await;
    assert_error(&r, 400, "invalid_request");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", "bogus")],
    )
    .await;
    assert_error(&r, 400, "invalid_grant");

    // Password grant: a user token with a refresh token; a public client too.
    let pw = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "photos print"),
        ],
    )
    .await;
    assert_eq!(pw.status, StatusCode::OK, "{}", pw.json);
    assert_eq!(pw.json["scope"], "photos print");
    let (access1, refresh1) = (pw.s("access_token"), pw.s("refresh_token"));
    if format == "jwt" {
        check_jwt_shape(&gh, &access1, "alice", "photos print").await;
    }
    let mobile = token(
        &gh,
        Auth::Public("mobile"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    )
    .await;
    assert_eq!(mobile.status, StatusCode::OK, "{}", mobile.json);

    // Token info (Axway shape), GET and POST.
    let info: Value = client()
        .get(gh.url(&format!("/api/oauth/tokeninfo?access_token={access1}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["audience"], "printer");
    assert_eq!(info["user_id"], "alice");
    assert_eq!(info["scope"], "photos print");
    let left = info["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "{info}");
    let r = post(
        &gh,
        "/api/oauth/tokeninfo",
        Auth::Nothing,
        &[("access_token", &cc_access)],
    )
    .await;
    assert_eq!(r.json["user_id"], "printer");
    let r = post(
        &gh,
        "/api/oauth/tokeninfo",
        Auth::Nothing,
        &[("access_token", "garbage")],
    )
    .await;
    assert_error(&r, 400, "invalid_token");

    // Introspection needs an authenticated caller.
    let r = post(&gh, "/api/oauth/introspect", Auth::Nothing, &[("token", &access1)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Public("mobile"),
        &[("token", &access1)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Basic("other", "other-secret"),
        &[("token", &access1)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["client_id"], "printer");
    assert_eq!(r.json["username"], "alice");
    assert_eq!(r.json["scope"], "photos print");
    assert_eq!(r.json["iss"], ISSUER);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["token_use"], "access_token");
    assert!(r.json["exp"].as_i64().unwrap() > 0);
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Basic("other", "other-secret"),
        &[("token", &refresh1), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(r.json["active"], true);
    // A refresh token has no RFC 6749 §7.1 access token type; its kind is
    // in token_use.
    assert!(r.json.get("token_type").is_none(), "{}", r.json);
    assert_eq!(r.json["token_use"], "refresh_token");
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Basic("other", "other-secret"),
        &[("token", "nothing-like-a-token")],
    )
    .await;
    assert_eq!(r.json, serde_json::json!({"active": false}));

    // Refresh: rotation, narrowing only, reuse revokes the family.
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh1),
            ("scope", "photos profile"),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_scope");
    let r = token(
        &gh,
        Auth::Basic("other", "other-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh1)],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client");
    let r2 = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh1),
            ("scope", "photos"),
        ],
    )
    .await;
    assert_eq!(r2.status, StatusCode::OK, "{}", r2.json);
    assert_eq!(r2.json["scope"], "photos");
    let (access2, refresh2) = (r2.s("access_token"), r2.s("refresh_token"));
    assert_ne!(refresh1, refresh2, "rotation: a new refresh token each use");
    assert_eq!(call_api(&gh, "/flickr/photos", &access2).await.0, StatusCode::OK);
    let reuse = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh1)],
    )
    .await;
    assert_error(&reuse, 400, "invalid_grant");
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh2)],
    )
    .await;
    assert_error(&r, 400, "invalid_grant");
    let took = until_status(&gh, &access2, StatusCode::UNAUTHORIZED).await;
    assert!(
        took <= Duration::from_millis(2500),
        "family revocation seen after {took:?}"
    );
    let (_, www, _) = call_api(&gh, "/flickr/photos", &access2).await;
    assert!(www.contains("invalid_token"), "{www}");
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Basic("other", "other-secret"),
        &[("token", &refresh2)],
    )
    .await;
    assert_eq!(r.json["active"], false);

    // Revocation (RFC 7009): owner only; unknown tokens are fine; the
    // gateway stops accepting within the staleness bound.
    let r = post(
        &gh,
        "/api/oauth/revoke",
        Auth::Basic("other", "other-secret"),
        &[("token", &cc_access)],
    )
    .await;
    assert_error(&r, 400, "unauthorized_client");
    let r = post(
        &gh,
        "/api/oauth/revoke",
        Auth::Basic("printer", "printer-secret"),
        &[("token", "unknown-token")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(call_api(&gh, "/flickr/photos", &cc_access).await.0, StatusCode::OK);
    let r = post(
        &gh,
        "/api/oauth/revoke",
        Auth::Basic("printer", "printer-secret"),
        &[("token", &cc_access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    until_status(&gh, &cc_access, StatusCode::UNAUTHORIZED).await;
    let r = post(
        &gh,
        "/api/oauth/introspect",
        Auth::Basic("other", "other-secret"),
        &[("token", &cc_access)],
    )
    .await;
    assert_eq!(r.json["active"], false);
    let r = post(
        &gh,
        "/api/oauth/tokeninfo",
        Auth::Nothing,
        &[("access_token", &cc_access)],
    )
    .await;
    assert_error(&r, 400, "invalid_token");

    // Throttling: after 5 failures even the right password is refused.
    for _ in 0..5 {
        let r = token(
            &gh,
            Auth::Basic("printer", "printer-secret"),
            &[
                ("grant_type", "password"),
                ("username", "mallory"),
                ("password", "guess"),
            ],
        )
        .await;
        assert_error(&r, 400, "invalid_grant");
    }
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "password"),
            ("username", "mallory"),
            ("password", "secret-password"),
        ],
    )
    .await;
    assert_error(&r, 400, "invalid_grant");
    assert!(
        r.headers.contains_key("retry-after"),
        "throttled answers carry Retry-After"
    );
    // Another user is unaffected.
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // No secret in the logs.
    let log = gh.log();
    for secret in ["printer-secret", "wonderland", "secret-password", &refresh1, &access1] {
        assert!(!log.contains(secret), "log leaks a secret");
    }
}

#[tokio::test]
async fn memory_store_jwt_tokens() {
    every_grant_and_error("memory://", "jwt").await;
}

#[tokio::test]
async fn memory_store_opaque_tokens() {
    every_grant_and_error("memory://", "opaque").await;
}

#[tokio::test]
async fn sqlite_store_jwt_tokens() {
    every_grant_and_error("sqlite://gatehouse.db", "jwt").await;
}

#[tokio::test]
async fn sqlite_store_opaque_tokens() {
    every_grant_and_error("sqlite://gatehouse.db", "opaque").await;
}

async fn survives_restart(format: &str) {
    let mut gh = Gatehouse::start_full(&config("sqlite://gatehouse.db", format));
    let pw = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "photos"),
        ],
    )
    .await;
    let (keep, refresh) = (pw.s("access_token"), pw.s("refresh_token"));
    let gone = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "client_credentials"), ("scope", "photos")],
    )
    .await
    .s("access_token");
    let r = post(
        &gh,
        "/api/oauth/revoke",
        Auth::Basic("printer", "printer-secret"),
        &[("token", &gone)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    gh.restart();
    assert_eq!(
        call_api(&gh, "/flickr/photos", &keep).await.0,
        StatusCode::OK,
        "token survives the restart"
    );
    assert_eq!(
        call_api(&gh, "/flickr/photos", &gone).await.0,
        StatusCode::UNAUTHORIZED,
        "revocation survives the restart"
    );
    let r = token(
        &gh,
        Auth::Basic("printer", "printer-secret"),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "refresh token survives the restart: {}",
        r.json
    );
}

#[tokio::test]
async fn sqlite_tokens_survive_restart_jwt() {
    survives_restart("jwt").await;
}

#[tokio::test]
async fn sqlite_tokens_survive_restart_opaque() {
    survives_restart("opaque").await;
}

/// Two instances share one SQLite file and one key directory: a token
/// revoked through one is refused by the other within the bound.
#[tokio::test]
async fn revocation_reaches_another_instance_within_the_bound() {
    for format in ["jwt", "opaque"] {
        let a = Gatehouse::start_full(&config("sqlite://gatehouse.db", format));
        let shared = a.dir.path().to_str().unwrap().to_string();
        let b_cfg = config(&format!("sqlite://{shared}/gatehouse.db"), format)
            .replace("dir = \"keys\"", &format!("dir = \"{shared}/keys\""));
        let b = Gatehouse::start_full(&b_cfg);
        let t = token(
            &a,
            Auth::Basic("printer", "printer-secret"),
            &[("grant_type", "client_credentials"), ("scope", "photos")],
        )
        .await
        .s("access_token");
        assert_eq!(
            call_api(&b, "/flickr/photos", &t).await.0,
            StatusCode::OK,
            "{format}: b accepts a's token"
        );
        let r = post(
            &a,
            "/api/oauth/revoke",
            Auth::Basic("printer", "printer-secret"),
            &[("token", &t)],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let took = until_status(&b, &t, StatusCode::UNAUTHORIZED).await;
        assert!(
            took <= Duration::from_millis(2500),
            "{format}: b saw the revocation after {took:?} (bound 1s)"
        );
    }
}
