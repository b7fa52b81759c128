//! POST /api/oauth/introspect (RFC 7662). The caller must authenticate as a
//! client; anything not currently valid is just `{"active": false}`.

use super::no_store_json;
use crate::authz::form::Form;
use crate::authz::AuthServer;
use crate::error::{AuthError, OAuthError};
use crate::store::{self, hash_token, TokenKind};
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub async fn introspect(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Body) -> Response {
    match run(&s, &headers, body).await {
        Ok(v) => no_store_json(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn run(s: &AuthServer, headers: &HeaderMap, body: Body) -> Result<Value, OAuthError> {
    let form = Form::read(headers, body).await?;
    let client = s.authenticate_client(headers, &form).await?;
    if client.is_public() {
        return Err(OAuthError::InvalidClient {
            description: "introspection needs client authentication",
        });
    }
    let token = form.require("token")?;
    let refresh_first = form.get("token_type_hint") == Some("refresh_token");
    if refresh_first {
        if let Some(v) = refresh(s, token).await? {
            return Ok(v);
        }
    }
    match s.validate_access(token).await {
        Ok(v) => {
            let mut out = Map::new();
            out.insert("active".into(), json!(true));
            // RFC 9449 §6.2: a DPoP-bound token says so, with its `cnf`.
            let dpop = v.claims.get("cnf").is_some_and(|c| c.get("jkt").is_some());
            out.insert("token_type".into(), json!(if dpop { "DPoP" } else { "Bearer" }));
            out.insert("token_use".into(), json!("access_token"));
            for k in [
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
            ] {
                if let Some(val) = v.claims.get(k) {
                    out.insert(k.into(), val.clone());
                }
            }
            let sub = v.claim_str("sub");
            if sub.is_some() && sub != v.claim_str("client_id") {
                out.insert("username".into(), json!(sub));
            }
            Ok(Value::Object(out))
        }
        Err(AuthError::Unavailable) => Err(OAuthError::TemporarilyUnavailable),
        Err(_) if !refresh_first => Ok(refresh(s, token).await?.unwrap_or_else(inactive)),
        Err(_) => Ok(inactive()),
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
