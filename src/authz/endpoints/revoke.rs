//! POST /api/oauth/revoke (RFC 7009). Unknown tokens answer 200 (§2.2);
//! only the client a token was issued to may revoke it. Revoking a refresh
//! token revokes its whole grant (§2.1 "SHOULD").

use super::no_store_json;
use crate::authz::form::Form;
use crate::authz::AuthServer;
use crate::error::{AuthError, InvalidToken, OAuthError};
use crate::store::{hash_token, TokenKind};
use crate::token::own::looks_like_jwt;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn revoke(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&s, &headers, body, peer).await {
        Ok(()) => no_store_json(StatusCode::OK, &serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}

fn not_yours() -> OAuthError {
    OAuthError::UnauthorizedClient("the token was not issued to this client")
}

async fn run(s: &AuthServer, headers: &HeaderMap, body: Body, peer: SocketAddr) -> Result<(), OAuthError> {
    let form = Form::read(headers, body).await?;
    let client = s.authenticate_client(headers, &form, peer.ip()).await?;
    let token = form.require("token")?;
    // The hint only orders the look-ups (§2.1); every kind is tried.
    if looks_like_jwt(token) {
        match s.validate_access(token).await {
            Ok(v) => {
                if v.claim_str("client_id") != Some(client.id.as_str()) {
                    return Err(not_yours());
                }
                if let Some(jti) = v.claim_str("jti") {
                    s.store.revoke_id(jti, v.exp as i64).await?;
                    // Tokens exchanged from it (RFC 8693) name its jti as
                    // their `fid`: their cached verdicts go too.
                    s.forget_all_tokens();
                }
                Ok(())
            }
            Err(AuthError::Unavailable) => Err(OAuthError::TemporarilyUnavailable),
            // Expired, revoked already or not ours to know: nothing to do.
            Err(AuthError::Invalid(InvalidToken::Revoked | _)) | Err(_) => Ok(()),
        }
    } else {
        let hash = hash_token(token);
        let Some(rec) = s.store.get_token(&hash).await? else {
            return Ok(());
        };
        if rec.client_id != client.id {
            return Err(not_yours());
        }
        match rec.kind {
            TokenKind::Refresh => {
                s.store.revoke_family(&rec.family_id, rec.expires_at).await?;
                // The family's JWT access tokens (and tokens exchanged from
                // them) are cached as valid until the staleness bound; a
                // revocation is rare, so drop every cached verdict at once.
                s.forget_all_tokens();
            }
            TokenKind::Access => {
                s.store.revoke_token(&hash).await?;
                // Tokens exchanged from it (RFC 8693) carry its hash as
                // their family when it has none of its own.
                if rec.family_id.is_empty() {
                    s.store.revoke_id(&hash, rec.expires_at).await?;
                    s.forget_all_tokens();
                }
            }
        }
        s.forget(token, None);
        Ok(())
    }
}
