//! POST /api/oauth/token (RFC 6749 §3.2): authenticate the client, pick the
//! grant, let it decide, answer per §5.1 / §5.2.

use super::no_store_json;
use crate::authz::form::Form;
use crate::authz::grants::Request;
use crate::authz::AuthServer;
use crate::error::OAuthError;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn token(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match exchange(&s, &headers, body, peer).await {
        Ok((r, dpop)) => {
            let mut resp = no_store_json(StatusCode::OK, &r);
            // RFC 9449 §8: hand out the current nonce with every answer to
            // a DPoP request, so the client follows its rotation.
            if let Some(n) = dpop.then(|| s.dpop_nonce()).flatten() {
                if let Ok(v) = http::HeaderValue::from_str(&n) {
                    resp.headers_mut().insert(crate::error::DPOP_NONCE, v);
                }
            }
            resp
        }
        Err(e) => {
            crate::ops::metrics::token_error(e.code());
            e.into_response()
        }
    }
}

async fn exchange(
    s: &AuthServer,
    headers: &HeaderMap,
    body: Body,
    peer: SocketAddr,
) -> Result<(crate::authz::issuer::TokenResponse, bool), OAuthError> {
    let form = Form::read_limited(headers, body, crate::authz::form::MAX_TOKEN_FORM_BYTES).await?;
    let client = s.authenticate_client(headers, &form, peer.ip()).await?;
    let grant_type = form.require("grant_type")?;
    let grant = s.grant(grant_type).ok_or(OAuthError::UnsupportedGrantType)?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::UnauthorizedClient(
            "the client is not allowed this grant type",
        ));
    }
    let proof = s.dpop_at_token(headers, &client).await?;
    let dpop = proof.is_some();
    let resp = grant
        .exchange(
            s,
            Request {
                client: &client,
                form: &form,
                ip: peer.ip(),
                cnf: proof.map(|p| crate::store::Confirmation::dpop(p.jkt)),
            },
        )
        .await?;
    crate::ops::metrics::token_issued(grant.grant_type());
    Ok((resp, dpop))
}
