//! The admin API (`/admin/api/`), the console's security, and dynamic
//! client registration (RFC 7591/7592), against the real binary. The
//! console's happy path runs in Chromium (tests/admin_browser.rs); the
//! OpenAPI document is fuzzed by schemathesis (tests/admin_schemathesis.rs).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::web::{hidden_fields, Browser};
use common::{client, Gatehouse, PRELUDE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ADMIN_PW: &str = "correct horse battery";
const IAT: &str = "initial-access-token-0123456789";
const CB: &str = "http://127.0.0.1:9000/cb";

fn config(extra: &str) -> String {
    format!(
        r#"{PRELUDE}
[tokens]
access_format = "jwt"

[admin]
username = "admin"
password = "{ADMIN_PW}"

[registration]
initial_access_token = "{IAT}"
allowed_scopes = ["openid", "profile", "photos"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos!" }} }}
{extra}"#
    )
}

struct Api<'a> {
    gh: &'a Gatehouse,
    http: reqwest::Client,
}

impl Api<'_> {
    fn new(gh: &Gatehouse) -> Api<'_> {
        Api { gh, http: client() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.gh.url(path))
            .basic_auth("admin", Some(ADMIN_PW));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn client_credentials(gh: &Gatehouse, id: &str, secret: &str) -> (StatusCode, Value) {
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "photos")])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn photos(gh: &Gatehouse, token: &str) -> StatusCode {
    client()
        .get(gh.url("/photos"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn admin_api_manages_clients_users_and_tokens() {
    use reqwest::Method as M;
    let gh = Gatehouse::start_full(&config(""));
    let api = Api::new(&gh);

    // Without credentials, or with wrong ones: 401 with a challenge.
    let r = client().get(gh.url("/admin/api/clients")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let r = client()
        .get(gh.url("/admin/api/clients"))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");

    // Create a confidential service client: the secret comes back once.
    let (st, created) = api
        .call(
            M::POST,
            "/admin/api/clients",
            Some(json!({"client_id": "svc", "client_name": "Service", "grant_types": ["client_credentials"], "scope": "photos"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(created["client"]["client_id"], "svc");
    assert_eq!(created["client"]["public"], false);
    let (st, tok) = client_credentials(&gh, "svc", &secret).await;
    assert_eq!(st, StatusCode::OK, "{tok}");
    let first_token = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(photos(&gh, &first_token).await, StatusCode::OK);

    // The same id again is a conflict; bad metadata is a 400 with RFC 7591's code.
    let (st, e) = api
        .call(
            M::POST,
            "/admin/api/clients",
            Some(json!({"client_id": "svc", "grant_types": ["client_credentials"]})),
        )
        .await;
    assert_eq!((st, e["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (st, e) = api
        .call(
            M::POST,
            "/admin/api/clients",
            Some(json!({"redirect_uris": ["not a url"]})),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")),
        "{e}"
    );
    let (st, e) = api
        .call(
            M::POST,
            "/admin/api/clients",
            Some(json!({"grant_types": ["telepathy"]})),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    let r = client()
        .post(gh.url("/admin/api/clients"))
        .basic_auth("admin", Some(ADMIN_PW))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");

    // Read never shows a secret or its hash.
    let (st, got) = api.call(M::GET, "/admin/api/clients/svc", None).await;
    assert_eq!(st, StatusCode::OK);
    let text = got.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("secret_hash") && !text.contains("sha256"),
        "{text}"
    );
    let (st, e) = api.call(M::GET, "/admin/api/clients/nobody", None).await;
    assert_eq!((st, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // Listing: search and paging.
    for i in 0..5 {
        let (st, _) = api
            .call(
                M::POST,
                "/admin/api/clients",
                Some(
                    json!({"client_id": format!("web-{i}"), "client_name": format!("Web {i}"), "redirect_uris": [CB]}),
                ),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
    }
    let (_, page) = api.call(M::GET, "/admin/api/clients?search=web&limit=3", None).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["web-0", "web-1", "web-2"]);
    let next = page["next"].as_str().unwrap();
    let (_, page2) = api
        .call(
            M::GET,
            &format!("/admin/api/clients?search=web&limit=3&after={next}"),
            None,
        )
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    assert!(page2.get("next").is_none());
    let (_, page) = api.call(M::GET, "/admin/api/clients?search=SERVICE", None).await;
    assert_eq!(
        page["items"][0]["client_id"], "svc",
        "search is case-insensitive and matches names"
    );

    // Update keeps the secret.
    let (st, up) = api
        .call(
            M::PUT,
            "/admin/api/clients/svc",
            Some(json!({"client_name": "Service 2", "grant_types": ["client_credentials"], "scope": "photos", "access_token_format": "opaque"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{up}");
    assert!(up.get("client_secret").is_none());
    assert_eq!(up["client"]["client_name"], "Service 2");
    let (st, tok) = client_credentials(&gh, "svc", &secret).await;
    assert_eq!(st, StatusCode::OK);
    let opaque = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        opaque.matches('.').count(),
        0,
        "the client's token format applies: {opaque}"
    );

    // Its stored (opaque) token is listed, and can be revoked by id.
    let (st, list) = api.call(M::GET, "/admin/api/clients/svc/tokens", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(!list.to_string().contains(&opaque), "ids are hashes, never tokens");
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(photos(&gh, &opaque).await, StatusCode::OK);
    let (st, n) = api.call(M::DELETE, &format!("/admin/api/tokens/{id}"), None).await;
    assert_eq!((st, n["revoked"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(photos(&gh, &opaque).await, StatusCode::UNAUTHORIZED);

    // Regenerating the secret: the old one fails, the new one works.
    let (st, ns) = api.call(M::POST, "/admin/api/clients/svc/secret", None).await;
    assert_eq!(st, StatusCode::OK);
    let new_secret = ns["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        client_credentials(&gh, "svc", &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(client_credentials(&gh, "svc", new_secret).await.0, StatusCode::OK);

    // Revoking all of a client's tokens covers JWTs (not stored) too.
    assert_eq!(photos(&gh, &first_token).await, StatusCode::OK);
    let (st, _) = api.call(M::DELETE, "/admin/api/clients/svc/tokens", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(photos(&gh, &first_token).await, StatusCode::UNAUTHORIZED);

    // Deleting the client: it can no longer get tokens.
    let (st, _) = api.call(M::DELETE, "/admin/api/clients/svc", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        client_credentials(&gh, "svc", new_secret).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call(M::GET, "/admin/api/clients/svc", None).await.0,
        StatusCode::NOT_FOUND
    );

    // Users: create, reset password (the old one stops working), delete.
    let (st, u) = api
        .call(
            M::POST,
            "/admin/api/users",
            Some(json!({"username": "bob", "password": "builder-1234", "email": "bob@example.com"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    assert!(!u.to_string().contains("argon2"));
    let (st, e) = api
        .call(
            M::POST,
            "/admin/api/users",
            Some(json!({"username": "carol", "password": "short"})),
        )
        .await;
    assert_eq!(
        (st, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (st, list) = api.call(M::GET, "/admin/api/users?search=bob", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["items"][0]["username"], "bob");
    let (st, _) = api
        .call(
            M::PUT,
            "/admin/api/users/bob/password",
            Some(json!({"password": "new-password-5678"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = api.call(M::DELETE, "/admin/api/users/bob", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call(M::GET, "/admin/api/users/bob", None).await.0,
        StatusCode::NOT_FOUND
    );

    // A bearer token from /admin/api/login works like Basic.
    let r = client()
        .post(gh.url("/admin/api/login"))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let r = client()
        .get(gh.url("/admin/api/users"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .get(gh.url("/admin/api/users"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unknown API paths are JSON 404s; the OpenAPI document is served.
    let (st, e) = api.call(M::GET, "/admin/api/nothing", None).await;
    assert_eq!((st, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let doc: Value = client()
        .get(gh.url("/admin/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/admin/api/clients",
        "/admin/api/clients/{id}/secret",
        "/admin/api/users/{username}/password",
        "/admin/api/keys/rotate",
        "/admin/api/traffic",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["ClientMetadata"].is_object());
}

#[tokio::test]
async fn admin_is_404_without_its_table() {
    let gh = Gatehouse::start("");
    for p in [
        "/admin/",
        "/admin/api/clients",
        "/admin/api/openapi.json",
        "/admin/login",
    ] {
        let r = client()
            .get(gh.url(p))
            .basic_auth("admin", Some("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
    }
    let r = client()
        .post(gh.url("/api/oauth/register"))
        .bearer_auth(IAT)
        .json(&json!({"redirect_uris": [CB]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let d: Value = reqwest::get(gh.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d.get("registration_endpoint").is_none());
}

/// The console's sign-in form, as a page a browser would get.
async fn sign_in_page(b: &Browser<'_>) -> common::web::Page {
    Browser::page(b.http.get(b.gh.url("/admin/login")).send().await.unwrap()).await
}

async fn sign_in(b: &Browser<'_>, password: &str) -> common::web::Page {
    let page = sign_in_page(b).await;
    let mut form = hidden_fields(&page.html);
    form.push(("username".into(), "admin".into()));
    form.push(("password".into(), password.into()));
    Browser::page(b.http.post(b.gh.url("/admin/login")).form(&form).send().await.unwrap()).await
}

#[tokio::test]
async fn console_security() {
    let gh = Gatehouse::start_full(&config(
        r#"
[[clients]]
id = "printer"
secret = "printer-secret"
redirect_uris = ["http://127.0.0.1:9000/cb"]
scopes = ["photos"]
"#,
    ));

    // No session: every page leads to the sign-in page.
    let b = Browser::new(&gh);
    for p in [
        "/admin/",
        "/admin/clients",
        "/admin/clients/new",
        "/admin/users",
        "/admin/keys",
        "/admin/clients/printer",
    ] {
        let page = Browser::page(b.http.get(gh.url(p)).send().await.unwrap()).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{p}");
        assert_eq!(page.location.as_deref(), Some("/admin/login"), "{p}");
    }
    let login = sign_in_page(&b).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.headers["x-frame-options"], "DENY");
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );

    // The end-user session cookie does not open the console.
    let user = Browser::new(&gh);
    let verifier = "v".repeat(50);
    let ch = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let page = user
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "printer"),
            ("redirect_uri", CB),
            ("scope", "photos"),
            ("state", "s"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ])
        .await;
    let after = user.login(&page, "alice", "wonderland").await;
    let user_cookie = after.set_cookie("gh_session").expect("a user session");
    for p in ["/admin/clients", "/admin/api/clients"] {
        let r = client()
            .get(gh.url(p))
            .header("cookie", &user_cookie)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::SEE_OTHER || r.status() == StatusCode::UNAUTHORIZED,
            "{p}: {}",
            r.status()
        );
    }
    // Nor does a user cookie renamed to the admin cookie's name.
    let forged = user_cookie.replacen("gh_session", "gh_admin", 1);
    let r = client()
        .get(gh.url("/admin/clients"))
        .header("cookie", &forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a user session never passes for an admin one"
    );

    // Sign in; the session cookie is HttpOnly, SameSite=Strict, path /admin.
    let ok = sign_in(&b, ADMIN_PW).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert_eq!(ok.location.as_deref(), Some("/admin/"), "to the overview");
    let set = ok.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.starts_with("gh_admin=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/admin"),
        "{set}"
    );
    let list = Browser::page(b.http.get(gh.url("/admin/clients")).send().await.unwrap()).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("printer"), "{}", list.html);
    assert_eq!(list.headers["x-frame-options"], "DENY");

    // A form without the CSRF token, or with a wrong one, is refused.
    let new = Browser::page(b.http.get(gh.url("/admin/clients/new")).send().await.unwrap()).await;
    let csrf = hidden_fields(&new.html)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .unwrap()
        .1;
    let fields = [
        ("client_name", "Evil"),
        ("client_type", "confidential"),
        ("grant:client_credentials", "on"),
        ("scope", "photos"),
    ];
    let r = b
        .http
        .post(gh.url("/admin/clients/new"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let r = b
        .http
        .post(gh.url("/admin/clients/new"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .http
        .post(gh.url("/admin/clients/printer/delete"))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another admin session's token does not fit this session either.
    let other = Browser::new(&gh);
    assert_eq!(sign_in(&other, ADMIN_PW).await.status, StatusCode::SEE_OTHER);
    let other_new = Browser::page(other.http.get(gh.url("/admin/clients/new")).send().await.unwrap()).await;
    let other_csrf = hidden_fields(&other_new.html)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .unwrap()
        .1;
    assert_ne!(other_csrf, csrf);
    let mut cross = fields.to_vec();
    cross.push(("csrf_token", &other_csrf));
    let r = b
        .http
        .post(gh.url("/admin/clients/new"))
        .form(&cross)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (st, list) = Api::new(&gh)
        .call(reqwest::Method::GET, "/admin/api/clients", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing was created: {list}"
    );

    // Redirect URIs are checked like every registration: the form comes back
    // with the reason and the fields as typed.
    let bad_uri = [
        ("csrf_token", csrf.as_str()),
        ("client_name", "Fragment App"),
        ("client_type", "confidential"),
        ("grant:authorization_code", "on"),
        ("redirect_uris", "https://app.example/cb#frag"),
    ];
    let page = Browser::page(
        b.http
            .post(gh.url("/admin/clients/new"))
            .form(&bad_uri)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.html.contains("must not contain a fragment") && page.html.contains("Fragment App"),
        "{}",
        page.html
    );

    // With the right token it works, and the secret is shown once only.
    let mut good = fields.to_vec();
    good.push(("csrf_token", &csrf));
    good.push(("client_id", "made-here"));
    let shown = Browser::page(
        b.http
            .post(gh.url("/admin/clients/new"))
            .form(&good)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(shown.status, StatusCode::CREATED, "{}", shown.html);
    let secret = shown
        .html
        .split("id=\"client-secret\" type=\"text\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(secret.len() >= 40);
    assert_eq!(client_credentials(&gh, "made-here", &secret).await.0, StatusCode::OK);
    for p in [
        "/admin/clients/made-here",
        "/admin/clients/made-here/edit",
        "/admin/clients",
    ] {
        let page = Browser::page(b.http.get(gh.url(p)).send().await.unwrap()).await;
        assert_eq!(page.status, StatusCode::OK, "{p}");
        assert!(!page.html.contains(&secret), "{p} shows the secret again");
    }
    let (_, api_view) = Api::new(&gh)
        .call(reqwest::Method::GET, "/admin/api/clients/made-here", None)
        .await;
    assert!(!api_view.to_string().contains(&secret));

    // Signing out ends the session on the server: the old cookie is dead.
    let cookie = ok.set_cookie("gh_admin").unwrap();
    let r = b
        .http
        .post(gh.url("/admin/logout"))
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = client()
        .get(gh.url("/admin/clients"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a replayed cookie after sign-out");

    // Wrong passwords are throttled: after 5 failures even the right one waits.
    let t = Browser::new(&gh);
    for i in 0..5 {
        let p = sign_in(&t, "wrong-password").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(p.html.contains("Wrong username or password"));
    }
    let p = sign_in(&t, ADMIN_PW).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.headers.get("retry-after").is_some());
    let r = client()
        .get(gh.url("/admin/api/clients"))
        .basic_auth("admin", Some(ADMIN_PW))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the API shares the throttle");
}

async fn register(gh: &Gatehouse, token: Option<&str>, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client().post(gh.url("/api/oauth/register")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let (st, h) = (r.status(), r.headers().clone());
    (st, h, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn dynamic_client_registration() {
    let gh = Gatehouse::start_full(&config(""));
    let d: Value = reqwest::get(gh.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["registration_endpoint"], gh.url("/api/oauth/register"));

    // 401 without or with a wrong initial access token.
    for t in [None, Some("wrong-token")] {
        let (st, h, e) = register(&gh, t, json!({"redirect_uris": [CB]})).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{t:?}");
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        assert_eq!(e["error"], "invalid_token");
    }

    // A confidential web client.
    let (st, h, web) = register(
        &gh,
        Some(IAT),
        json!({"client_name": "Web App", "redirect_uris": [CB], "grant_types": ["authorization_code", "refresh_token"],
               "response_types": ["code"], "scope": "openid photos", "logo_uri": "https://app.example/logo.png",
               "software_id": "ignored-unknown-member"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{web}");
    assert_eq!(h["cache-control"], "no-store");
    let id = web["client_id"].as_str().unwrap().to_string();
    let secret = web["client_secret"].as_str().unwrap().to_string();
    assert_eq!(web["client_secret_expires_at"], 0);
    assert!(web["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(web["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(web["redirect_uris"], json!([CB]));
    assert_eq!(web["client_name"], "Web App");
    assert_eq!(web["logo_uri"], "https://app.example/logo.png");
    let rat = web["registration_access_token"].as_str().unwrap().to_string();
    let uri = web["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(uri, gh.url(&format!("/api/oauth/register/{id}")));

    // The registered client completes an authorization-code flow.
    let b = Browser::new(&gh);
    let verifier = "x".repeat(64);
    let ch = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let login = b
        .authorize(&[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", CB),
            ("scope", "openid photos"),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert!(login.html.contains("Web App"), "{}", login.html);
    let consent = b.login(&login, "alice", "wonderland").await;
    let back = b.allow(&consent).await;
    let p = back.redirect_params();
    assert_eq!(p["state"], "st");
    let r = client()
        .post(gh.url("/api/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert!(t["id_token"].is_string() && t["refresh_token"].is_string());
    assert_eq!(photos(&gh, t["access_token"].as_str().unwrap()).await, StatusCode::OK);

    // A public (native) client gets no secret.
    let (st, _, public) = register(
        &gh,
        Some(IAT),
        json!({"redirect_uris": ["com.example.app:/callback"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{public}");
    assert!(public.get("client_secret").is_none() && public.get("client_secret_expires_at").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert_eq!(public["grant_types"], json!(["authorization_code"]));

    // A private_key_jwt client keeps its JWKS.
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
                     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let (st, _, pk) = register(
        &gh,
        Some(IAT),
        json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{pk}");
    assert_eq!(pk["jwks"]["keys"][0]["kid"], "k1");
    assert!(pk.get("client_secret").is_none());

    // Each invalid-metadata case.
    let bad: Vec<(Value, &str)> = vec![
        (json!({}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["/relative"]}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)//"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "grant_types": ["magic"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "scope": "a\"b"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "logo_uri": "javascript:x"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CB], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
    ];
    for (body, code) in bad {
        let (st, h, e) = register(&gh, Some(IAT), body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"], code, "{body}: {e}");
        assert!(!e["error_description"].as_str().unwrap().is_empty());
        assert_eq!(h["content-type"], "application/json");
    }
    let r = client()
        .post(gh.url("/api/oauth/register"))
        .bearer_auth(IAT)
        .header("content-type", "application/json")
        .body("{\"redirect_uris\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .post(gh.url("/api/oauth/register"))
        .bearer_auth(IAT)
        .header("content-type", "application/json")
        .body(vec![b' '; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an oversized body");

    // RFC 7592 read: with the registration access token only; it rotates.
    let r = client().get(&uri).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client().get(&uri).bearer_auth(IAT).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the initial token is not a registration token"
    );
    let other_uri = public["registration_client_uri"].as_str().unwrap();
    let r = client().get(other_uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "one client's token does not read another"
    );
    let r = client().get(&uri).bearer_auth(&rat).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["client_id"], id.as_str());
    assert_eq!(read["client_name"], "Web App");
    assert!(read.get("client_secret").is_none(), "only a hash is kept");
    let rat2 = read["registration_access_token"].as_str().unwrap().to_string();
    assert_ne!(rat2, rat);
    assert_eq!(
        client().get(&uri).bearer_auth(&rat).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // RFC 7592 update: replaces the metadata, keeps the secret.
    let r = client()
        .put(&uri)
        .bearer_auth(&rat2)
        .json(&json!({"client_id": id, "client_secret": secret, "client_name": "Web App 2",
                      "redirect_uris": [CB, "http://127.0.0.1:9000/cb2"], "grant_types": ["authorization_code", "client_credentials"], "scope": "photos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["client_name"], "Web App 2");
    assert_eq!(up["redirect_uris"].as_array().unwrap().len(), 2);
    let rat3 = up["registration_access_token"].as_str().unwrap().to_string();
    assert_eq!(
        client_credentials(&gh, &id, &secret).await.0,
        StatusCode::OK,
        "the secret survived the update"
    );
    let r = client()
        .put(&uri)
        .bearer_auth(&rat3)
        .json(&json!({"client_id": "someone-else", "redirect_uris": [CB]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .put(&uri)
        .bearer_auth(&rat3)
        .json(&json!({"client_id": id, "client_secret": "wrong", "redirect_uris": [CB]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // RFC 7592 delete: gone, with its tokens.
    let (_, tok) = client_credentials(&gh, &id, &secret).await;
    let at = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(photos(&gh, &at).await, StatusCode::OK);
    let r = client().delete(&uri).bearer_auth(&rat3).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(client_credentials(&gh, &id, &secret).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(photos(&gh, &at).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        client().get(&uri).bearer_auth(&rat3).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // The admin API sees dynamically registered clients as such.
    let (_, v) = Api::new(&gh)
        .call(
            reqwest::Method::GET,
            &format!("/admin/api/clients/{}", public["client_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(v["dynamically_registered"], true);
}

/// A `client_secret_jwt` client registered through the admin API: its
/// secret is sealed so HS256 assertions verify; a regenerated secret is
/// sealed again and the old key stops working.
#[tokio::test]
async fn admin_registers_client_secret_jwt_clients() {
    let gh = Gatehouse::start_full(&config(""));
    let api = Api::new(&gh);
    let (st, created) = api
        .call(
            reqwest::Method::POST,
            "/admin/api/clients",
            Some(
                json!({"client_id": "kiosk", "token_endpoint_auth_method": "client_secret_jwt",
                        "grant_types": ["client_credentials"], "scope": "photos"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["client"]["token_endpoint_auth_method"], "client_secret_jwt");
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let token_url = gh.url("/api/oauth/token");
    let assertion = |key: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({"iss": "kiosk", "sub": "kiosk", "aud": token_url, "exp": now + 60, "iat": now,
                            "jti": format!("{now}-{}", rand_jti())});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let call = |a: String| {
        client().post(gh.url("/api/oauth/token")).form(&[
            ("grant_type", "client_credentials".to_string()),
            ("scope", "photos".into()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion", a),
        ])
    };
    let r = call(assertion(&secret)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let (st, ns) = api
        .call(reqwest::Method::POST, "/admin/api/clients/kiosk/secret", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let new_secret = ns["client_secret"].as_str().unwrap();
    assert_eq!(
        call(assertion(&secret)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(assertion(new_secret)).send().await.unwrap().status(),
        StatusCode::OK
    );
}

fn rand_jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
