//! The Canon printing application of the Flickr story (reference/002): a
//! confidential OAuth 2.0 client that sends the user to gatehouse, receives
//! the authorization code on its callback, exchanges it (with PKCE S256) for
//! an access token and calls `/flickr/photos` through the gateway.
//!
//! Shared by `main.rs` (the runnable example) and `tests/browser.rs`.

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Where gatehouse is and who this application is there.
#[derive(Clone, Debug)]
pub struct Settings {
    /// gatehouse's issuer URL; every endpoint is discovered from it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This application's callback, as registered with gatehouse.
    pub redirect_uri: String,
}

/// Settings that may be filled in after the app is bound (the browser test
/// learns gatehouse's address only after it has started the app).
pub type SharedSettings = Arc<RwLock<Settings>>;

/// The browser's cookie naming its pending authorization on this app. Not
/// gatehouse's cookie: both run on 127.0.0.1, and cookies ignore ports.
const COOKIE_NAME: &str = "canon_print_session";

/// What the app remembers between sending the user away and the callback.
struct Pending {
    state: CsrfToken,
    verifier: PkceCodeVerifier,
}

struct App {
    settings: SharedSettings,
    pending: Mutex<HashMap<String, Pending>>,
    http: reqwest::Client,
}

pub fn router(settings: SharedSettings) -> Router {
    let app = Arc::new(App {
        settings,
        pending: Mutex::new(HashMap::new()),
        // Never follow redirects from the token endpoint (oauth2 crate advice).
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Start-up only (TLS backend init); a fallback client would follow redirects.
            .expect("HTTP client"),
    });
    Router::new()
        .route("/", get(home))
        .route("/print", get(print))
        .route("/callback", get(callback))
        .with_state(app)
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

#[derive(Deserialize)]
struct Photos {
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct Photo {
    title: String,
}

impl App {
    fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn discover(&self, issuer: &str) -> Result<Discovery, String> {
        let url = format!("{issuer}/.well-known/openid-configuration");
        let d: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("discovery at {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("discovery at {url}: {e}"))?;
        if d.issuer != issuer {
            return Err(format!("discovery names issuer {} instead of {issuer}", d.issuer));
        }
        Ok(d)
    }
}

/// Step 1: the printing site, with the button that starts the flow.
async fn home() -> Response {
    page(
        StatusCode::OK,
        "Canon Printing",
        r#"<p>Print your photos on fine paper, delivered to your door.</p>
<p><a id="print" class="button" href="/print">Print my Flickr photos</a></p>"#,
    )
}

/// Step 1 (continued): send the user to gatehouse with PKCE and a state.
async fn print(State(app): State<Arc<App>>) -> Response {
    let s = app.settings();
    let d = match app.discover(&s.issuer).await {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let client = match (AuthUrl::new(d.authorization_endpoint), RedirectUrl::new(s.redirect_uri)) {
        (Ok(auth), Ok(redirect)) => BasicClient::new(ClientId::new(s.client_id))
            .set_auth_uri(auth)
            .set_redirect_uri(redirect),
        _ => {
            return error(
                StatusCode::BAD_GATEWAY,
                "malformed authorization endpoint or redirect URI",
            )
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("photos".into()))
        .set_pkce_challenge(challenge)
        .url();
    let sid = CsrfToken::new_random().secret().clone();
    app.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sid.clone(), Pending { state, verifier });
    let mut r = StatusCode::SEE_OTHER.into_response();
    let cookie = format!("{COOKIE_NAME}={sid}; Path=/; HttpOnly; SameSite=Lax");
    // The session id is base64url, so the header is always valid; fail soft anyway.
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(url.as_str()).unwrap_or(HeaderValue::from_static("/")),
    );
    r
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// Steps 3–5: receive the code, exchange it, fetch the photos.
async fn callback(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let s = app.settings();
    let pending =
        cookie(&headers, COOKIE_NAME).and_then(|sid| app.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(sid));
    let Some(pending) = pending else {
        return error(StatusCode::BAD_REQUEST, "No authorization in progress in this browser.");
    };
    if q.state.as_deref() != Some(pending.state.secret().as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "The state does not match: this callback was not for us.",
        );
    }
    // RFC 9207: the response names the server that sent it.
    if q.iss.as_deref().is_some_and(|iss| iss != s.issuer) {
        return error(StatusCode::BAD_REQUEST, "The response comes from another issuer.");
    }
    if let Some(e) = q.error {
        if e == "access_denied" {
            return page(
                StatusCode::OK,
                "Canon Printing",
                r#"<p id="denied">Access was denied: you did not allow Canon Printing to see your Flickr photos.</p>
<p><a href="/">Back</a></p>"#,
            );
        }
        return error(StatusCode::BAD_GATEWAY, &format!("Authorization failed: {e}"));
    }
    let Some(code) = q.code else {
        return error(StatusCode::BAD_REQUEST, "The callback carries no code.");
    };
    let d = match app.discover(&s.issuer).await {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let (Ok(token_url), Ok(redirect)) = (TokenUrl::new(d.token_endpoint), RedirectUrl::new(s.redirect_uri)) else {
        return error(StatusCode::BAD_GATEWAY, "malformed token endpoint or redirect URI");
    };
    let client = BasicClient::new(ClientId::new(s.client_id))
        .set_client_secret(ClientSecret::new(s.client_secret))
        .set_token_uri(token_url)
        .set_redirect_uri(redirect);
    let token = match client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(pending.verifier)
        .request_async(&app.http)
        .await
    {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("Code exchange failed: {e}")),
    };
    let photos = app
        .http
        .get(format!("{}/flickr/photos", s.issuer))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let photos: Photos = match photos {
        Ok(r) => match r.json().await {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("Unexpected photos: {e}")),
        },
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("Fetching photos failed: {e}")),
    };
    let items: String = photos
        .photos
        .iter()
        .map(|p| format!("  <li>{}</li>\n", escape(&p.title)))
        .collect();
    page(
        StatusCode::OK,
        "Canon Printing",
        &format!("<p>Your Flickr photos, ready to print:</p>\n<ul id=\"photos\">\n{items}</ul>"),
    )
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Canon Printing",
        &format!("<p id=\"error\">{}</p>\n<p><a href=\"/\">Back</a></p>", escape(message)),
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
  h1 {{ color: #c00; }}
  .button {{ display: inline-block; padding: .6rem 1.2rem; background: #c00; color: #fff; border-radius: 6px; text-decoration: none; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"#
    );
    let mut r = (status, html).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}
