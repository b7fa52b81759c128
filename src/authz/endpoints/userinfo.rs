//! GET|POST /api/openid/userinfo (OIDC Core §5.3): claims about the user an
//! access token with the `openid` scope speaks for. Errors per RFC 6750.

use crate::authz::dpop::Presented;
use crate::authz::form::Form;
use crate::authz::id_token::user_claims;
use crate::authz::AuthServer;
use crate::error::{AuthError, InvalidToken};
use crate::token::dpop;
use crate::token::extract::bearer;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method};
use serde_json::{json, Value};
use std::sync::Arc;

pub const PATH: &str = "/api/openid/userinfo";

pub async fn userinfo(State(s): State<Arc<AuthServer>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    match run(&s, method, &headers, body).await {
        Ok(v) => super::no_store_json(http::StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

async fn run(s: &AuthServer, method: Method, headers: &HeaderMap, body: Body) -> Result<Value, AuthError> {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let header_token = authorization.and_then(|a| {
        bearer(a)
            .map(|t| Presented {
                token: t.to_owned(),
                dpop: false,
            })
            .or_else(|| {
                dpop::scheme_token(a).map(|t| Presented {
                    token: t.to_owned(),
                    dpop: true,
                })
            })
    });
    // RFC 6750 §2.2: a form-encoded body may carry the token instead.
    let presented = match (header_token, method == Method::POST) {
        (Some(t), _) => t,
        (None, true) => Form::read(headers, body)
            .await
            .ok()
            .and_then(|f| f.get("access_token").map(str::to_owned))
            .map(|token| Presented { token, dpop: false })
            .ok_or(AuthError::Missing)?,
        (None, false) => return Err(AuthError::Missing),
    };
    let url = format!("{}{PATH}", s.cfg.issuer);
    let v = s.validate_presented(headers, &presented, method.as_str(), &url).await?;
    if !v.scopes.iter().any(|x| x == "openid") {
        return Err(AuthError::InsufficientScope("openid".into()));
    }
    let sub = v
        .claim_str("sub")
        .ok_or(AuthError::Invalid(InvalidToken::MissingClaim))?;
    let user = s
        .store
        .get_user(sub)
        .await
        .map_err(|_| AuthError::Unavailable)?
        .ok_or(AuthError::Invalid(InvalidToken::Unknown))?;
    let mut claims = user_claims(&user, &v.scopes);
    claims.insert("sub".into(), json!(user.username));
    Ok(Value::Object(claims))
}
