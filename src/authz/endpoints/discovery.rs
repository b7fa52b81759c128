//! Discovery (RFC 8414 and OpenID Connect Discovery) and the JWKS. The
//! document lists only what this server actually implements.

use crate::authz::authorize::{ResponseMode, ResponseType};
use crate::authz::client_auth::{ASSERTION_ALGS, METHODS};
use crate::authz::AuthServer;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn document(s: &AuthServer) -> Value {
    let iss = &s.cfg.issuer;
    let mut scopes: Vec<String> = s.cfg.clients.iter().flat_map(|c| c.scopes.iter().cloned()).collect();
    scopes.sort();
    scopes.dedup();
    for std in ["openid", "profile", "email"] {
        if !scopes.iter().any(|x| x == std) {
            scopes.push(std.to_string());
        }
    }
    scopes.sort();
    let keys = s.keys.load();
    let alg = keys.alg.as_str();
    let mut grants = s.grant_types();
    grants.push("implicit");
    let mut doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}{}", super::AUTHORIZE),
        "token_endpoint": format!("{iss}{}", super::TOKEN),
        "userinfo_endpoint": format!("{iss}{}", super::USERINFO),
        "jwks_uri": format!("{iss}{}", super::JWKS),
        "revocation_endpoint": format!("{iss}{}", super::REVOKE),
        "introspection_endpoint": format!("{iss}{}", super::INTROSPECT),
        "end_session_endpoint": format!("{iss}{}", super::LOGOUT),
        // OIDC Back-Channel Logout §2.1: logout tokens carry `sid`, and
        // so do ID tokens issued in a browser session.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": METHODS,
        "revocation_endpoint_auth_methods_supported": METHODS,
        // Introspection is for confidential callers only.
        "introspection_endpoint_auth_methods_supported": &METHODS[..4],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        // RFC 9701 §7: JWT answers (Accept: application/token-introspection+jwt),
        // RS256 by default or per client `introspection_signed_response_alg`.
        "introspection_signing_alg_values_supported": keys.algs().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "scopes_supported": scopes,
        "response_types_supported": ResponseType::SUPPORTED,
        "response_modes_supported": ResponseMode::SUPPORTED,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "c_hash", "s_hash", "azp", "sid", "amr", "name", "preferred_username", "email", "email_verified"],
        "claims_parameter_supported": false,
        // RFC 9101: signed request objects by value; request_uri only for
        // our own PAR URIs (nothing is fetched), which RFC 9126 §5 says
        // needs no request_uri_parameter_supported.
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": crate::authz::request_object::ALGS,
        "request_uri_parameter_supported": false,
        "pushed_authorization_request_endpoint": format!("{iss}{}", super::PAR),
        "require_pushed_authorization_requests": s.cfg.tokens.require_pushed_authorization_requests,
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        // RS256 is always there (OIDC Discovery §3), beside the configured one.
        "id_token_signing_alg_values_supported": keys.algs().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "access_token_signing_alg_values_supported": [alg],
        // RFC 9449 §5.1: DPoP at the token endpoint and userinfo.
        "dpop_signing_alg_values_supported": crate::token::dpop::ALGS,
    });
    if s.grant(crate::config::DEVICE_CODE_GRANT).is_some() {
        doc["device_authorization_endpoint"] = json!(format!("{iss}{}", super::DEVICE_AUTHORIZATION));
    }
    if s.cfg.registration.is_some() {
        doc["registration_endpoint"] = json!(format!("{iss}{}", super::register::PATH));
    }
    doc
}

pub fn router(doc: Arc<Value>) -> Router {
    let d2 = doc.clone();
    Router::new()
        .route("/.well-known/openid-configuration", get(move || serve(doc.clone())))
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || serve(d2.clone())),
        )
}

async fn serve(doc: Arc<Value>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        doc.to_string(),
    )
}

pub async fn jwks(State(s): State<Arc<AuthServer>>) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/jwk-set+json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        s.keys.load().jwks_json.clone(),
    )
}
