//! GET|POST /api/oauth/logout: OpenID Connect RP-Initiated Logout 1.0.
//! With a valid `id_token_hint` naming the signed-in user the session ends
//! at once; otherwise the user confirms on a page (a CSRF-protected form),
//! so a third-party page cannot sign people out. The session is deleted
//! from the store, which ends it on every instance. A
//! `post_logout_redirect_uri` must be registered for the client named by
//! the hint or by `client_id`; without one the user sees a signed-out page.

use crate::authz::form::Form;
use crate::authz::AuthServer;
use crate::store;
use crate::web::{self, Page};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;
use std::sync::Arc;

pub const PATH: &str = "/api/oauth/logout";

/// Parameters carried through the confirmation form.
const CARRIED: [&str; 4] = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

fn error_page(message: &str) -> Response {
    Page::Error(web::ErrorPage {
        title: "This sign-out request cannot be completed",
        message,
    })
    .respond(StatusCode::BAD_REQUEST, None)
}

fn unavailable() -> Response {
    web::unavailable_page()
}

/// The ID token's audience: the client it was issued to.
fn audience(claims: &Value) -> Option<&str> {
    match &claims["aud"] {
        Value::String(a) => Some(a),
        Value::Array(a) => a.first().and_then(Value::as_str),
        _ => None,
    }
}

pub async fn logout(
    State(s): State<Arc<AuthServer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match Form::of_request(&method, &uri, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(e.description()),
    };
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(t) => match s.verify_own_id_token(t) {
            Some(c) => Some(c),
            None => return error_page("The id_token_hint is not an ID token issued by this server."),
        },
    };
    let client_id = match (form.get("client_id"), hint.as_ref().and_then(audience)) {
        (Some(a), Some(b)) if a != b => return error_page("client_id does not match the id_token_hint."),
        (a, b) => a.or(b),
    };
    let client = match client_id {
        None => None,
        Some(id) => match s.client(id).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => return error_page("The application is not registered here (unknown client_id)."),
            Err(_) => return unavailable(),
        },
    };
    let redirect = match (form.get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(u), Some(c)) if c.meta.post_logout_redirect_uris.iter().any(|r| r == u) => Some(u.to_string()),
        (Some(_), Some(_)) => {
            return error_page("The post_logout_redirect_uri is not registered for this application.")
        }
        (Some(_), None) => return error_page("A post_logout_redirect_uri needs an id_token_hint or a client_id."),
    };
    let state = form.get("state");

    let confirming = method == Method::POST && form.get("action") == Some("logout");
    if confirming && !s.csrf_ok(&headers, form.get("csrf_token")) {
        return error_page("The form expired or was not sent from this site. Go back and try again.");
    }
    let Some(session) = s.session(&headers, store::now()).await else {
        // Already signed out: nothing to end.
        return done(redirect.as_deref(), state, None);
    };
    let hint_names_user = hint.as_ref().and_then(|c| c["sub"].as_str()) == Some(session.sub.as_str());
    if hint_names_user || confirming {
        return match s.end_session(&session).await {
            Ok(clear) => {
                tracing::info!(sub = %session.sub, client = client_id.unwrap_or("-"), "signed out");
                done(redirect.as_deref(), state, clear)
            }
            Err(_) => unavailable(),
        };
    }
    let (csrf, cookie) = s.csrf_token(&headers);
    let params: Vec<(String, String)> = CARRIED
        .iter()
        .filter_map(|k| form.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let mut r = Page::Logout(web::Logout {
        action: PATH,
        signed_out: false,
        username: &session.sub,
        client_name: client.as_ref().map(|c| c.name.as_str()),
        params: &params,
        csrf: &csrf,
    })
    .respond(StatusCode::OK, redirect.as_deref());
    if let Some(c) = cookie {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

/// Back to the client (with `state`), or the signed-out page.
fn done(redirect: Option<&str>, state: Option<&str>, clear: Option<HeaderValue>) -> Response {
    let mut r = match redirect.and_then(|u| url::Url::parse(u).ok()) {
        Some(mut url) => {
            if let Some(st) = state {
                url.query_pairs_mut().append_pair("state", st);
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(LOCATION, v);
            }
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        None => Page::Logout(web::Logout {
            action: PATH,
            signed_out: true,
            username: "",
            client_name: None,
            params: &[],
            csrf: "",
        })
        .respond(StatusCode::OK, None),
    };
    if let Some(c) = clear {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}
