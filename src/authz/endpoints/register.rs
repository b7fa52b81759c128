//! Dynamic client registration: RFC 7591 at `POST /api/oauth/register`
//! (needs `[registration] initial_access_token`), and RFC 7592's read,
//! update and delete at the `registration_client_uri` with the client's
//! registration access token. Metadata passes the same rules as every
//! other registration (`authz::registration`).
//!
//! Only hashes of secrets and registration access tokens are stored, so
//! a read or an update answers with a fresh registration access token
//! (RFC 7592 §3 lets the server rotate it; the old one stops working).

use super::no_store_json;
use crate::authz::registration::{self, ClientMetadata, MetadataError};
use crate::authz::{secrets, AuthServer};
use crate::error::AdminError;
use crate::store::{self, hash_token, Client};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const PATH: &str = "/api/oauth/register";
const MAX_BODY: usize = 64 * 1024;

/// Grants a dynamically registered client may not have: the password
/// grant hands the user's password to the client (RFC 9700 §2.4).
const REFUSED_GRANTS: [&str; 1] = ["password"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegistrationRequest {
    /// RFC 7592 update: must equal the client being updated.
    pub client_id: Option<String>,
    /// RFC 7592 update: if sent, must be the client's current secret.
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// RFC 7591 §3.2.1 / RFC 7592 §3.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistrationResponse {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0 when a secret is issued: it does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub registration_access_token: String,
    pub registration_client_uri: String,
    /// Scopes the request asked for that `[registration] allowed_scopes`
    /// does not allow: they were left out of `scope` (RFC 7591 §3.2.1 lets
    /// the server replace metadata; this says what it replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_scope: Option<String>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

fn invalid_token(description: &'static str) -> AdminError {
    AdminError::Unauthorized {
        code: "invalid_token",
        description,
        challenge: "Bearer realm=\"gatehouse\", error=\"invalid_token\"",
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What a dynamic client may register: the shared rules, minus settings
/// only an operator may choose (they are dropped, RFC 7591 §2 lets the
/// server replace metadata), minus scopes outside `[registration]
/// allowed_scopes` (dropped, and named in the answer), minus refused grants.
fn sanitize(mut m: ClientMetadata, allowed: &[String]) -> Result<(ClientMetadata, Option<String>), AdminError> {
    let asked = m.scope.take().unwrap_or_default();
    let (mut kept, mut dropped): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for s in asked.split(' ').filter(|s| !s.is_empty()) {
        // Malformed scopes are refused (as any registration refuses them), not dropped.
        if !registration::scope_token_ok(s) {
            return Err(
                MetadataError::Metadata(format!("scope {s:?} has characters RFC 6749 §3.3 does not allow")).into(),
            );
        }
        if allowed.iter().any(|a| a == s) {
            kept.push(s);
        } else if !dropped.contains(&s) {
            dropped.push(s);
        }
    }
    m.scope = (!kept.is_empty()).then(|| kept.join(" "));
    let dropped = (!dropped.is_empty()).then(|| dropped.join(" "));
    m.audience.clear();
    m.access_token_ttl = None;
    m.refresh_token_ttl = None;
    m.access_token_format = None;
    m.token_exchange = None;
    if let Some(g) = m.grant_types.iter().find(|g| REFUSED_GRANTS.contains(&g.as_str())) {
        return Err(MetadataError::Metadata(format!(
            "grant type {g:?} is not available to dynamically registered clients"
        ))
        .into());
    }
    Ok((m, dropped))
}

fn response(s: &AuthServer, c: &Client, secret: Option<String>, token: String) -> RegistrationResponse {
    let mut metadata = registration::metadata_of(c);
    metadata.audience.clear();
    metadata.token_exchange = None;
    RegistrationResponse {
        client_id: c.id.clone(),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: c.created_at,
        registration_access_token: token,
        registration_client_uri: format!("{}{PATH}/{}", s.cfg.issuer, enc(&c.id)),
        dropped_scope: None,
        metadata,
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn body_json(headers: &HeaderMap, body: Body) -> Result<RegistrationRequest, AdminError> {
    super::read_json(headers, body, MAX_BODY)
        .await
        .map_err(|e| MetadataError::Metadata(e).into())
}

fn issue_secret(
    s: &AuthServer,
    id: &str,
    m: &ClientMetadata,
    old: Option<&Client>,
) -> Result<registration::IssuedSecret, AdminError> {
    registration::issue_secret(id, m, old, |id, secret| s.secret_box.seal(id, secret)).map_err(|e| {
        tracing::error!(error = %e, "cannot seal a client secret");
        AdminError::Server
    })
}

/// `POST /api/oauth/register`.
#[utoipa::path(post, path = "/api/oauth/register", tag = "registration", request_body = RegistrationRequest,
    security(("initial_access_token" = [])),
    responses((status = 201, body = RegistrationResponse), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn register(State(s): State<Arc<AuthServer>>, headers: HeaderMap, body: Body) -> Response {
    match create(&s, &headers, body).await {
        Ok(r) => no_store_json(StatusCode::CREATED, &r),
        Err(e) => e.into_response(),
    }
}

async fn create(s: &AuthServer, headers: &HeaderMap, body: Body) -> Result<RegistrationResponse, AdminError> {
    let Some(reg) = &s.cfg.registration else {
        return Err(AdminError::NotFound("dynamic registration is disabled".into()));
    };
    let ok = bearer(headers).is_some_and(|t| {
        // Hashing first makes the comparison constant-time in the length too.
        hash_token(t)
            .as_bytes()
            .ct_eq(hash_token(&reg.initial_access_token).as_bytes())
            .into()
    });
    if !ok {
        return Err(invalid_token("a valid initial access token is required"));
    }
    let req = body_json(headers, body).await?;
    let (m, dropped) = sanitize(req.metadata, &reg.allowed_scopes)?;
    let id = registration::new_client_id();
    let secret = issue_secret(s, &id, &m, None)?;
    let mut client = registration::build_client(
        &id,
        &m,
        secret.hash,
        s.cfg.tokens.signing_alg,
        store::now(),
        &s.cfg.outbound,
    )?;
    client.meta.client_secret_sealed = secret.sealed;
    let secret = secret.shown;
    let token = secrets::random_token();
    client.meta.registration_token_hash = Some(hash_token(&token));
    s.store.put_client(&client).await?;
    tracing::info!(client_id = %id, dropped_scope = dropped.as_deref().unwrap_or(""), "client registered dynamically");
    let mut r = response(s, &client, secret, token);
    r.dropped_scope = dropped;
    Ok(r)
}

/// The client a registration access token is for. Any mismatch is the
/// same 401 (RFC 7592 §2.1: nothing about which clients exist leaks).
async fn registered(s: &AuthServer, headers: &HeaderMap, id: &str) -> Result<Client, AdminError> {
    if s.cfg.registration.is_none() {
        return Err(AdminError::NotFound("dynamic registration is disabled".into()));
    }
    let token = bearer(headers).ok_or(invalid_token("the registration access token is required"))?;
    let client = s.store.get_client(id).await?;
    let presented = hash_token(token);
    match client {
        Some(c)
            if c.meta
                .registration_token_hash
                .as_deref()
                .is_some_and(|h| bool::from(h.as_bytes().ct_eq(presented.as_bytes()))) =>
        {
            Ok(c)
        }
        _ => Err(invalid_token(
            "the registration access token is not valid for this client",
        )),
    }
}

/// A new registration access token, stored (hashed) in place of the old.
async fn rotate_token(s: &AuthServer, c: &mut Client) -> Result<String, AdminError> {
    let token = secrets::random_token();
    c.meta.registration_token_hash = Some(hash_token(&token));
    s.store.put_client(c).await?;
    s.forget_client(&c.id);
    Ok(token)
}

/// `GET /api/oauth/register/{client_id}` (RFC 7592 §2.1).
#[utoipa::path(get, path = "/api/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path)),
    security(("registration_access_token" = [])),
    responses((status = 200, body = RegistrationResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn read(State(s): State<Arc<AuthServer>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let r = async {
        let mut c = registered(&s, &headers, &id).await?;
        let token = rotate_token(&s, &mut c).await?;
        Ok::<_, AdminError>(response(&s, &c, None, token))
    }
    .await;
    match r {
        Ok(r) => no_store_json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

/// `PUT /api/oauth/register/{client_id}` (RFC 7592 §2.2): the request
/// replaces the metadata; fields left out return to their defaults.
#[utoipa::path(put, path = "/api/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path)),
    request_body = RegistrationRequest, security(("registration_access_token" = [])),
    responses((status = 200, body = RegistrationResponse), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
pub async fn update(
    State(s): State<Arc<AuthServer>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let old = registered(&s, &headers, &id).await?;
        let req = body_json(&headers, body).await?;
        if req.client_id.as_deref() != Some(id.as_str()) {
            return Err(
                MetadataError::Metadata("client_id must be sent and match the client being updated".into()).into(),
            );
        }
        if let Some(sent) = &req.client_secret {
            let ok = old
                .secret_hash
                .as_deref()
                .is_some_and(|h| secrets::verify_client_secret(h, sent));
            if !ok {
                return Err(MetadataError::Metadata("client_secret does not match the client's secret".into()).into());
            }
        }
        let allowed = s.cfg.registration.as_ref().map_or(&[][..], |r| &r.allowed_scopes[..]);
        let (m, dropped) = sanitize(req.metadata, allowed)?;
        // The secret stays; a switch to a secret method issues one.
        let secret = issue_secret(&s, &id, &m, Some(&old))?;
        let mut c = registration::build_client(
            &id,
            &m,
            secret.hash,
            s.cfg.tokens.signing_alg,
            old.created_at,
            &s.cfg.outbound,
        )?;
        c.meta.client_secret_sealed = secret.sealed;
        let token = rotate_token(&s, &mut c).await?;
        let mut r = response(&s, &c, secret.shown, token);
        r.dropped_scope = dropped;
        Ok::<_, AdminError>(r)
    }
    .await;
    match r {
        Ok(r) => no_store_json(StatusCode::OK, &r),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /api/oauth/register/{client_id}` (RFC 7592 §2.3): the client
/// and everything issued to it are gone.
#[utoipa::path(delete, path = "/api/oauth/register/{client_id}", tag = "registration", params(("client_id" = String, Path)),
    security(("registration_access_token" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn delete(State(s): State<Arc<AuthServer>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let r = async {
        registered(&s, &headers, &id).await?;
        registration::remove_client(&s.store, &id, s.max_token_lifetime()).await?;
        s.forget_client(&id);
        s.forget_all_tokens();
        tracing::info!(client_id = %id, "dynamically registered client deleted");
        Ok::<_, AdminError>(())
    }
    .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}
