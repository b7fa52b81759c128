//! POST /api/oauth/par (RFC 9126): the client authenticates as at the token
//! endpoint and pushes its authorization request (its parameters, or a
//! request object in `request`, RFC 9101); it is validated at once, so
//! errors come back here as JSON rather than later in the browser, and
//! stored under a fresh `request_uri` that the authorization endpoint
//! takes once, on any instance, within `[tokens] par_ttl`.

use super::no_store_json;
use crate::authz::authorize::{AuthorizeError, Origin, REQUEST_URI_PREFIX};
use crate::authz::form::Form;
use crate::authz::request_object::ObjectError;
use crate::authz::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::{self, hash_token, PushedRequest};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub const PATH: &str = "/api/oauth/par";

/// Client authentication parameters: not part of the request pushed.
const AUTH_PARAMS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2.
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

pub async fn par(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&s, &headers, body, peer).await {
        Ok(r) => no_store_json(StatusCode::CREATED, &r),
        Err(e) => e.into_response(),
    }
}

async fn run(s: &AuthServer, headers: &HeaderMap, body: Body, peer: SocketAddr) -> Result<Pushed, OAuthError> {
    let form = Form::read(headers, body).await?;
    let client = s.authenticate_client(headers, &form, peer.ip()).await?;
    if form.get("request_uri").is_some() {
        return Err(OAuthError::InvalidRequest(
            "request_uri cannot be pushed (RFC 9126 §2.1)".into(),
        ));
    }
    let pairs: Vec<(String, String)> = match form.get("request") {
        // RFC 9126 §3: with a request object, it alone is the request.
        Some(jwt) => s.request_object(&client, jwt).await.map_err(|e| match e {
            ObjectError::Invalid(d) => OAuthError::InvalidRequestObject(d),
            ObjectError::Unavailable => OAuthError::TemporarilyUnavailable,
        })?,
        None => {
            let mut p: Vec<(String, String)> = form
                .pairs()
                .iter()
                .filter(|(k, _)| !AUTH_PARAMS.contains(&k.as_str()) && k != "client_id")
                .cloned()
                .collect();
            // Basic authentication need not repeat client_id in the body.
            p.push(("client_id".into(), client.id.clone()));
            p
        }
    };
    let pushed = Form::from_pairs(pairs)?;
    let req = s
        .authorize_request_from(&pushed, Origin::Pushed)
        .await
        .map_err(|e| match e {
            AuthorizeError::Page(d) => OAuthError::InvalidRequest(d.trim_end_matches('.').to_lowercase()),
            AuthorizeError::Unavailable => OAuthError::TemporarilyUnavailable,
            AuthorizeError::Redirect { error, description, .. } => {
                OAuthError::AuthorizationRequest { error, description }
            }
        })?;
    if req.client.id != client.id {
        return Err(OAuthError::InvalidRequest(
            "client_id differs from the authenticated client".into(),
        ));
    }
    let ttl = s.cfg.tokens.par_ttl.as_secs() as i64;
    let id = secrets::random_token();
    s.store
        .put_pushed_request(&PushedRequest {
            uri_hash: hash_token(&id),
            client_id: client.id.clone(),
            params: req.params,
            expires_at: store::now() + ttl,
        })
        .await?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{id}"),
        expires_in: ttl,
    })
}
