//! POST /api/oauth/introspect (RFC 7662). The caller must authenticate as a
//! client; anything not currently valid is just `{"active": false}`.

use super::{no_store_body, no_store_json};
use crate::authz::form::Form;
use crate::authz::AuthServer;
use crate::error::{AuthError, OAuthError};
use crate::store::{self, hash_token, TokenKind};
use crate::token::Verified;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn introspect(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&s, &headers, body, peer).await {
        Ok(Answer::Active(v)) => no_store_body(StatusCode::OK, active_json(&v)),
        Ok(Answer::Other(v)) => no_store_json(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

enum Answer {
    /// An active access token: written straight from its claims.
    Active(Arc<Verified>),
    /// Inactive, or a refresh token.
    Other(Value),
}

/// Members of an active access token's answer taken from its claims, in
/// this order.
const CLAIMS: [&str; 11] = [
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "jti",
    "auth_time",
    "cnf",
    // RFC 8693 §4.1: who acts for the subject (exchanged tokens).
    "act",
];

/// The answer for an active access token, serialised directly from the
/// cached claims (no intermediate map: building and dropping one cost a
/// tenth of an introspection's instructions).
fn active_json(v: &Verified) -> Vec<u8> {
    let mut out = Vec::with_capacity(384);
    // RFC 9449 §6.2: a DPoP-bound token says so, with its `cnf`.
    let dpop = v.claims.get("cnf").is_some_and(|c| c.get("jkt").is_some());
    out.extend_from_slice(if dpop {
        br#"{"active":true,"token_type":"DPoP","token_use":"access_token""#
    } else {
        br#"{"active":true,"token_type":"Bearer","token_use":"access_token""#
    });
    for k in CLAIMS {
        if let Some(val) = v.claims.get(k) {
            member(&mut out, k, val);
        }
    }
    let sub = v.claim_str("sub");
    if let Some(sub) = sub.filter(|s| Some(*s) != v.claim_str("client_id")) {
        member(&mut out, "username", sub);
    }
    out.push(b'}');
    out
}

/// `,"name":value`. Names are the constants above; serde_json writing
/// into a Vec cannot fail (a value it refused would be written as null).
fn member<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn run(s: &AuthServer, headers: &HeaderMap, body: Body, peer: SocketAddr) -> Result<Answer, OAuthError> {
    let form = Form::read(headers, body).await?;
    let client = s.authenticate_client(headers, &form, peer.ip()).await?;
    if client.is_public() {
        return Err(OAuthError::InvalidClient {
            description: "introspection needs client authentication",
        });
    }
    let token = form.require("token")?;
    let refresh_first = form.get("token_type_hint") == Some("refresh_token");
    if refresh_first {
        if let Some(v) = refresh(s, token).await? {
            return Ok(Answer::Other(v));
        }
    }
    match s.validate_access(token).await {
        Ok(v) => Ok(Answer::Active(v)),
        Err(AuthError::Unavailable) => Err(OAuthError::TemporarilyUnavailable),
        Err(_) if !refresh_first => Ok(Answer::Other(refresh(s, token).await?.unwrap_or_else(inactive))),
        Err(_) => Ok(Answer::Other(inactive())),
    }
}

async fn refresh(s: &AuthServer, token: &str) -> Result<Option<Value>, OAuthError> {
    let Some(r) = s.store.get_token(&hash_token(token)).await? else {
        return Ok(None);
    };
    if r.kind != TokenKind::Refresh {
        return Ok(None);
    }
    if r.used || !r.is_active(store::now()) {
        return Ok(Some(inactive()));
    }
    let mut v = json!({
        "active": true,
        // RFC 7662 `token_type` names an access token type (RFC 6749
        // §7.1), which a refresh token has none of; the kind goes in
        // `token_use`, as Hydra does.
        "token_use": "refresh_token",
        "scope": r.scope,
        "client_id": r.client_id,
        "exp": r.expires_at,
        "iat": r.issued_at,
        "iss": s.cfg.issuer,
    });
    if let (Some(sub), Some(o)) = (&r.subject, v.as_object_mut()) {
        o.insert("sub".into(), json!(sub));
        o.insert("username".into(), json!(sub));
    }
    if let (Some(cnf), Some(o)) = (&r.cnf, v.as_object_mut()) {
        o.insert("cnf".into(), json!(cnf));
    }
    Ok(Some(v))
}
