//! GET|POST /api/oauth/tokeninfo: the Axway "Access Token Information"
//! shape: `audience` (the client), `user_id`, `scope`, `expires_in`.

use super::no_store_json;
use crate::authz::form::Form;
use crate::authz::AuthServer;
use crate::error::{json_error, AuthError};
use crate::token::extract::bearer;
use crate::token::now_secs;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::{HeaderMap, StatusCode, Uri};
use std::sync::Arc;

pub async fn get(State(s): State<Arc<AuthServer>>, uri: Uri, headers: HeaderMap) -> Response {
    let form = match Form::parse(uri.query().unwrap_or("").as_bytes()) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    answer(&s, &headers, &form).await
}

pub async fn post(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Body) -> Response {
    match Form::read(&headers, body).await {
        Ok(f) => answer(&s, &headers, &f).await,
        Err(e) => e.into_response(),
    }
}

async fn answer(s: &AuthServer, headers: &HeaderMap, form: &Form) -> Response {
    let from_header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let Some(token) = form.get("access_token").or(from_header) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing parameter \"access_token\"",
        );
    };
    match s.validate_access(token).await {
        Ok(v) => {
            let client = v.claim_str("client_id").unwrap_or_default();
            let body = serde_json::json!({
                "audience": client,
                "user_id": v.claim_str("sub").unwrap_or(client),
                "scope": v.claim_str("scope").unwrap_or_default(),
                "expires_in": v.exp.saturating_sub(now_secs()),
            });
            no_store_json(StatusCode::OK, &body)
        }
        Err(AuthError::Invalid(r)) => json_error(StatusCode::BAD_REQUEST, "invalid_token", r.description()),
        Err(_) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again later",
        ),
    }
}
