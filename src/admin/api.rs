//! The admin JSON API. Every handler authenticates, parses its input
//! itself (so malformed input gets this API's JSON errors, never a
//! framework's text), calls the service, and answers JSON. The OpenAPI
//! document is generated from these handlers and types.

use super::service::{
    ClientPage, ClientView, CreatedClient, KeyView, NewClient, NewSecret, NewUser, PasswordReset, Revoked, TokenView,
    UserPage, UserView,
};
use super::Admin;
use crate::authz::endpoints::register;
use crate::authz::registration::ClientMetadata;
use crate::authz::session::ADMIN;
use crate::error::{AdminError, ErrorBody};
use crate::store::{self, Owner};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};

const MAX_JSON: usize = 256 * 1024;

type S = State<Arc<Admin>>;
type Peer = ConnectInfo<SocketAddr>;
type Id = Result<Path<String>, axum::extract::rejection::PathRejection>;

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gatehouse admin API", description = "Clients, users, tokens and signing keys of a gatehouse server."),
    paths(
        login, list_clients, create_client, get_client, update_client, delete_client, regenerate_secret,
        client_tokens, revoke_client_tokens, list_users, create_user, get_user, reset_password, delete_user,
        user_tokens, revoke_user_tokens, revoke_token, list_keys, rotate_keys, traffic,
        register::register, register::read, register::update, register::delete
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = [])),
    servers((url = "/"))
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/admin/api/openapi.json", get(openapi))
        .route("/admin/api/login", post(login))
        .route("/admin/api/clients", get(list_clients).post(create_client))
        .route(
            "/admin/api/clients/{id}",
            get(get_client).put(update_client).delete(delete_client),
        )
        .route("/admin/api/clients/{id}/secret", post(regenerate_secret))
        .route(
            "/admin/api/clients/{id}/tokens",
            get(client_tokens).delete(revoke_client_tokens),
        )
        .route("/admin/api/users", get(list_users).post(create_user))
        .route("/admin/api/users/{username}", get(get_user).delete(delete_user))
        .route("/admin/api/users/{username}/password", put(reset_password))
        .route(
            "/admin/api/users/{username}/tokens",
            get(user_tokens).delete(revoke_user_tokens),
        )
        .route("/admin/api/tokens/{id}", delete(revoke_token))
        .route("/admin/api/keys", get(list_keys))
        .route("/admin/api/keys/rotate", post(rotate_keys))
        .route("/admin/api/traffic", get(traffic))
        // Not a fallback: the gateway's is the application's one.
        .route("/admin/api/{*rest}", axum::routing::any(not_found))
        .with_state(admin)
}

async fn not_found(uri: Uri) -> Response {
    AdminError::NotFound(format!("no admin API at {}", uri.path())).into_response()
}

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(s) => ([(CONTENT_TYPE, "application/json")], s).into_response(),
        Err(_) => AdminError::Server.into_response(),
    }
}

fn ok<T: Serialize>(status: StatusCode, v: &T) -> Response {
    crate::authz::endpoints::no_store_json(status, v)
}

fn reply<T: Serialize>(r: Result<T, AdminError>, status: StatusCode) -> Response {
    match r {
        Ok(v) => ok(status, &v),
        Err(e) => e.into_response(),
    }
}

fn path(p: Id) -> Result<String, AdminError> {
    p.map(|Path(s)| s)
        .map_err(|_| AdminError::BadRequest("malformed path parameter".into()))
}

async fn json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, AdminError> {
    crate::authz::endpoints::read_json(headers, body, MAX_JSON)
        .await
        .map_err(AdminError::BadRequest)
}

/// `search`, `after` and `limit` of a listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case-insensitive substring of the id or name.
    search: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// 1 to 200 (default 50).
    limit: Option<u32>,
}

fn list_params(uri: &Uri) -> Result<ListParams, AdminError> {
    let mut p = ListParams {
        search: None,
        after: None,
        limit: None,
    };
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match &*k {
            "search" => p.search = Some(v.into_owned()),
            "after" => p.after = Some(v.into_owned()),
            "limit" => {
                p.limit = Some(
                    v.parse()
                        .map_err(|_| AdminError::BadRequest("limit: a number from 1 to 200".into()))?,
                )
            }
            _ => {}
        }
    }
    Ok(p)
}

macro_rules! auth {
    ($a:expr, $h:expr, $peer:expr) => {
        if let Err(e) = $a.authenticate(&$h, $peer.ip()).await {
            return e.into_response();
        }
    };
}

/// Exchanges the admin credential (Basic) for a bearer token valid for 8 hours.
#[utoipa::path(post, path = "/admin/api/login", tag = "session",
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap) -> Response {
    let r = async {
        let Ok(Some((user, pass))) = crate::authz::client_auth::basic_credentials(&h) else {
            return Err(super::unauthorized("Basic admin credentials are required"));
        };
        if !a.check_password(&user, &pass, peer.ip()).await? {
            return Err(super::unauthorized("wrong admin username or password"));
        }
        let (s, _) = a
            .authz
            .start_session_of(&ADMIN, user, store::now())
            .await
            .map_err(|_| AdminError::Unavailable)?;
        Ok(LoginResponse {
            access_token: s.sid,
            token_type: "Bearer".into(),
            expires_in: ADMIN.ttl,
        })
    }
    .await;
    reply(r, StatusCode::OK)
}

/// Clients in id order, a page at a time.
#[utoipa::path(get, path = "/admin/api/clients", tag = "clients", params(ListParams),
    responses((status = 200, body = ClientPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_clients(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, uri: Uri) -> Response {
    auth!(a, h, peer);
    let r = async {
        let p = list_params(&uri)?;
        a.service
            .list_clients(p.search.as_deref(), p.after.as_deref(), p.limit.unwrap_or(50))
            .await
    }
    .await;
    reply(r, StatusCode::OK)
}

/// Registers a client. A confidential client's generated secret is in this response only.
#[utoipa::path(post, path = "/admin/api/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = CreatedClient), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_client(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, body: Body) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.create_client(json(&h, body).await?).await }.await;
    reply(r, StatusCode::CREATED)
}

#[utoipa::path(get, path = "/admin/api/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_client(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    let r = async { Ok(ClientView::of(&a.service.client(&path(id)?).await?)) }.await;
    reply(r, StatusCode::OK)
}

/// Replaces a client's metadata; its secret is kept (a switch to a secret method returns a new one).
#[utoipa::path(put, path = "/admin/api/clients/{id}", tag = "clients", params(("id" = String, Path)), request_body = ClientMetadata,
    responses((status = 200, body = CreatedClient), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_client(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id, body: Body) -> Response {
    auth!(a, h, peer);
    let r = async {
        let id = path(id)?;
        let m: ClientMetadata = json(&h, body).await?;
        a.service.update_client(&id, &m).await
    }
    .await;
    reply(r, StatusCode::OK)
}

/// Deletes a client and revokes everything issued to it.
#[utoipa::path(delete, path = "/admin/api/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_client(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    match async { a.service.delete_client(&path(id)?).await }.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A new secret, in this response only; the old one stops working.
#[utoipa::path(post, path = "/admin/api/clients/{id}/secret", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn regenerate_secret(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.regenerate_secret(&path(id)?).await }.await;
    reply(r, StatusCode::OK)
}

/// The client's active stored tokens (refresh tokens, opaque access tokens), newest first.
#[utoipa::path(get, path = "/admin/api/clients/{id}/tokens", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Vec<TokenView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn client_tokens(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.tokens(Owner::Client(&path(id)?)).await }.await;
    reply(r, StatusCode::OK)
}

/// Revokes everything issued to the client until now, JWT access tokens included.
#[utoipa::path(delete, path = "/admin/api/clients/{id}/tokens", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_client_tokens(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.revoke_all(Owner::Client(&path(id)?)).await }.await;
    reply(r, StatusCode::OK)
}

/// Users in username order, a page at a time.
#[utoipa::path(get, path = "/admin/api/users", tag = "users", params(ListParams),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_users(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, uri: Uri) -> Response {
    auth!(a, h, peer);
    let r = async {
        let p = list_params(&uri)?;
        a.service
            .list_users(p.search.as_deref(), p.after.as_deref(), p.limit.unwrap_or(50))
            .await
    }
    .await;
    reply(r, StatusCode::OK)
}

#[utoipa::path(post, path = "/admin/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, body: Body) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.create_user(json(&h, body).await?).await }.await;
    reply(r, StatusCode::CREATED)
}

#[utoipa::path(get, path = "/admin/api/users/{username}", tag = "users", params(("username" = String, Path)),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, u: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.user(&path(u)?).await }.await;
    reply(r, StatusCode::OK)
}

/// Sets a new password and ends the user's browser sessions.
#[utoipa::path(put, path = "/admin/api/users/{username}/password", tag = "users", params(("username" = String, Path)), request_body = PasswordReset,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, u: Id, body: Body) -> Response {
    auth!(a, h, peer);
    let r = async {
        let u = path(u)?;
        let p: PasswordReset = json(&h, body).await?;
        a.service.reset_password(&u, p.password).await
    }
    .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Deletes a user, ends their sessions and revokes their tokens.
#[utoipa::path(delete, path = "/admin/api/users/{username}", tag = "users", params(("username" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_user(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, u: Id) -> Response {
    auth!(a, h, peer);
    match async { a.service.delete_user(&path(u)?).await }.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/admin/api/users/{username}/tokens", tag = "tokens", params(("username" = String, Path)),
    responses((status = 200, body = Vec<TokenView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn user_tokens(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, u: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.tokens(Owner::Subject(&path(u)?)).await }.await;
    reply(r, StatusCode::OK)
}

#[utoipa::path(delete, path = "/admin/api/users/{username}/tokens", tag = "tokens", params(("username" = String, Path)),
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_user_tokens(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, u: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.revoke_all(Owner::Subject(&path(u)?)).await }.await;
    reply(r, StatusCode::OK)
}

/// Revokes the grant a stored token belongs to (by the token's `id` from a listing).
#[utoipa::path(delete, path = "/admin/api/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, id: Id) -> Response {
    auth!(a, h, peer);
    let r = async { a.service.revoke_token(&path(id)?).await }.await;
    reply(r, StatusCode::OK)
}

/// Signing keys with their state.
#[utoipa::path(get, path = "/admin/api/keys", tag = "keys",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody)))]
async fn list_keys(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap) -> Response {
    auth!(a, h, peer);
    reply(a.service.keys().await, StatusCode::OK)
}

/// Makes a new current signing key; old keys stay published until their tokens expire.
#[utoipa::path(post, path = "/admin/api/keys/rotate", tag = "keys",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody)))]
async fn rotate_keys(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap) -> Response {
    auth!(a, h, peer);
    reply(a.service.rotate_keys().await, StatusCode::OK)
}

/// This instance's traffic of the last minutes, per interval: per route
/// requests per second, 5xx and 4xx shares, p50/p99 latency and rate-limit
/// refusals; per upstream target its health, attempts and failures;
/// tokens issued per grant. Series run oldest first; the last interval is
/// the one running now.
#[utoipa::path(get, path = "/admin/api/traffic", tag = "traffic",
    responses((status = 200, body = crate::ops::traffic::Overview), (status = 401, body = ErrorBody)))]
async fn traffic(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap) -> Response {
    auth!(a, h, peer);
    ok(StatusCode::OK, &crate::ops::traffic::overview())
}
