//! HTTP endpoints of the authorization server (paths per SPEC §4).

mod authorize;
mod device;
mod device_authorization;
mod discovery;
mod introspect;
mod logout;
mod par;
pub mod register;
mod revoke;
mod token;
mod tokeninfo;
mod userinfo;

use super::AuthServer;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use std::sync::Arc;

pub const TOKEN: &str = super::TOKEN_PATH;
pub const REVOKE: &str = "/api/oauth/revoke";
pub const INTROSPECT: &str = "/api/oauth/introspect";
pub const TOKENINFO: &str = "/api/oauth/tokeninfo";
pub const JWKS: &str = "/api/oauth/jwks";
pub const AUTHORIZE: &str = authorize::PATH;
pub const USERINFO: &str = userinfo::PATH;
pub const LOGOUT: &str = logout::PATH;
pub const DEVICE_AUTHORIZATION: &str = device_authorization::PATH;
pub const DEVICE: &str = device::PATH;
pub const PAR: &str = par::PATH;

pub fn router(server: Arc<AuthServer>) -> Router {
    let discovery = Arc::new(discovery::document(&server));
    Router::new()
        .route(TOKEN, post(token::token))
        .route(REVOKE, post(revoke::revoke))
        .route(par::PATH, post(par::par))
        .route(INTROSPECT, post(introspect::introspect))
        .route(TOKENINFO, get(tokeninfo::get).post(tokeninfo::post))
        .route(JWKS, get(discovery::jwks))
        .route(authorize::PATH, get(authorize::authorize).post(authorize::authorize))
        .route(userinfo::PATH, get(userinfo::userinfo).post(userinfo::userinfo))
        .route(logout::PATH, get(logout::logout).post(logout::logout))
        .route(
            device_authorization::PATH,
            post(device_authorization::device_authorization),
        )
        .route(device::PATH, get(device::device).post(device::device))
        .route(register::PATH, post(register::register))
        .route(
            "/api/oauth/register/{client_id}",
            get(register::read).put(register::update).delete(register::delete),
        )
        .with_state(server)
        .merge(discovery::router(discovery))
}

/// JSON that must never be cached (RFC 6749 §5.1).
pub fn no_store_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => no_store_body(status, body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `no_store_json` for a body already serialised.
pub fn no_store_body(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// A JSON request body: `application/json`, at most `limit` bytes.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    headers: &http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, String> {
    use http_body_util::BodyExt;
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err("the request body must be application/json".into());
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| format!("the request body could not be read (limit {limit} bytes)"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON body: {e}"))
}
