//! POST /api/oauth/device_authorization (RFC 8628 §3.1–3.2): a client
//! without a browser (a TV, a CLI) asks for a device code to poll with and
//! a user code for its user to enter at the verification page. Public
//! clients identify themselves with `client_id`; confidential ones
//! authenticate as at the token endpoint. Scopes follow the rules of the
//! authorization endpoint.

use super::no_store_json;
use crate::authz::form::Form;
use crate::authz::{scope, secrets, user_code, AuthServer};
use crate::config::DEVICE_CODE_GRANT;
use crate::error::OAuthError;
use crate::store::device_codes::DeviceStatus;
use crate::store::{self, hash_token, DeviceCode, StoreError};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub const PATH: &str = "/api/oauth/device_authorization";

/// RFC 8628 §3.2.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

pub async fn device_authorization(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&s, &headers, body, peer).await {
        Ok(r) => no_store_json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

async fn run(
    s: &AuthServer,
    headers: &HeaderMap,
    body: Body,
    peer: SocketAddr,
) -> Result<DeviceAuthorization, OAuthError> {
    let form = Form::read(headers, body).await?;
    let client = s.authenticate_client(headers, &form, peer.ip()).await?;
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::UnauthorizedClient(
            "the client is not allowed the device authorization grant",
        ));
    }
    let scopes = scope::grant(form.get("scope"), &client.scopes)?;
    let ttl = s.cfg.tokens.device_code_ttl.as_secs() as i64;
    let interval = s.cfg.tokens.device_poll_interval.as_secs() as i64;
    let device_code = secrets::random_token();
    // A user code already in use (a 1 in 2.6·10^10 chance per live code)
    // is drawn again.
    for _ in 0..5 {
        let code = user_code::generate();
        let row = DeviceCode {
            device_code_hash: hash_token(&device_code),
            user_code_hash: hash_token(&code),
            client_id: client.id.clone(),
            scope: scope::join(&scopes),
            status: DeviceStatus::Pending,
            subject: None,
            auth_time: None,
            family_id: secrets::random_token(),
            poll_interval: interval,
            last_poll_ms: 0,
            expires_at: store::now() + ttl,
        };
        match s.store.put_device_code(&row).await {
            Ok(()) => {
                let shown = user_code::display(&code);
                let page = format!("{}{}", s.cfg.issuer, super::device::PATH);
                return Ok(DeviceAuthorization {
                    device_code,
                    verification_uri_complete: format!("{page}?user_code={shown}"),
                    verification_uri: page,
                    user_code: shown,
                    expires_in: ttl,
                    interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    tracing::error!("could not draw a free user code in 5 tries");
    Err(OAuthError::TemporarilyUnavailable)
}
