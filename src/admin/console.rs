//! The admin console: server-rendered pages over the same service as the
//! API. Works without JavaScript (one small script only adds a copy
//! button). Every page needs an admin session; every form carries a token
//! bound to that session; pages cannot be framed.

use super::service::{ClientView, NewClient, NewUser, TokenView};
use super::Admin;
use crate::authz::form::Form;
use crate::authz::registration::{metadata_of, ClientMetadata};
use crate::authz::session::{Session, ADMIN};
use crate::error::AdminError;
use crate::store::{self, Owner};
use crate::web::admin_page;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use minijinja::{context, Value};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

type S = State<Arc<Admin>>;
type Peer = ConnectInfo<SocketAddr>;

/// Grant types the client form offers, with their labels.
const GRANTS: [(&str, &str); 7] = [
    ("authorization_code", "Authorization code"),
    ("refresh_token", "Refresh token"),
    ("client_credentials", "Client credentials"),
    ("password", "Resource owner password"),
    ("implicit", "Implicit and hybrid"),
    ("urn:ietf:params:oauth:grant-type:jwt-bearer", "JWT bearer (RFC 7523)"),
    (
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "SAML 2.0 bearer (RFC 7522)",
    ),
];

/// The grants of `GRANTS` this build serves (SAML only with the `saml` feature).
fn offered_grants() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    GRANTS.iter().filter(|(g, _)| crate::config::KNOWN_GRANTS.contains(g))
}

const SCRIPT: &str = include_str!("../web/templates/admin/console.js");

pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/", get(home))
        .route("/admin/assets/console.js", get(script))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/clients", get(clients))
        .route("/admin/clients/new", get(new_client_page).post(new_client))
        .route("/admin/clients/{id}", get(client))
        .route("/admin/clients/{id}/edit", get(edit_client_page).post(edit_client))
        .route("/admin/clients/{id}/secret", post(regenerate_secret))
        .route(
            "/admin/clients/{id}/delete",
            get(delete_client_page).post(delete_client),
        )
        .route("/admin/clients/{id}/tokens", get(client_tokens))
        .route("/admin/clients/{id}/tokens/revoke", post(revoke_client_tokens))
        .route("/admin/users", get(users))
        .route("/admin/users/new", get(new_user_page).post(new_user))
        .route("/admin/users/{u}", get(user))
        .route("/admin/users/{u}/password", post(reset_password))
        .route("/admin/users/{u}/delete", get(delete_user_page).post(delete_user))
        .route("/admin/users/{u}/tokens", get(user_tokens))
        .route("/admin/users/{u}/tokens/revoke", post(revoke_user_tokens))
        .route("/admin/keys", get(keys))
        .route("/admin/keys/rotate", post(rotate_keys))
        .with_state(admin)
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn date(t: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.replacen('T', " ", 1).replace('Z', " UTC")
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A signed-in request: the session and its form token.
struct Signed {
    csrf: String,
}

impl Signed {
    /// A page of `section` with the shared context.
    fn page(&self, name: &str, section: &str, status: StatusCode, extra: Value) -> Response {
        admin_page(
            name,
            context! { signed_in => true, section => section, csrf => &self.csrf, ..extra },
            status,
        )
    }

    fn error(&self, e: &AdminError) -> Response {
        let status = e.status();
        self.page(
            "confirm",
            "",
            status,
            context! {
                title => match status { StatusCode::NOT_FOUND => "Not found", _ => "Something went wrong" },
                error => e.to_string(),
                message => "",
                button => "",
                back => "/admin/clients",
                action => "",
            },
        )
        .into_response()
    }
}

async fn session(a: &Admin, h: &HeaderMap) -> Option<Session> {
    a.authz.session_of(&ADMIN, h, store::now()).await
}

/// The signed-in caller, or the way to the sign-in page.
async fn signed(a: &Admin, h: &HeaderMap) -> Result<Signed, Response> {
    match session(a, h).await {
        Some(s) => Ok(Signed {
            csrf: a.authz.session_csrf(&s),
        }),
        None => Err(see_other("/admin/login")),
    }
}

/// A signed-in form post whose token matches the session.
async fn signed_form(a: &Admin, h: &HeaderMap, body: Body) -> Result<(Signed, Form), Response> {
    let Some(s) = session(a, h).await else {
        return Err(see_other("/admin/login"));
    };
    let form = match Form::read(h, body).await {
        Ok(f) => f,
        Err(e) => return Err(forbidden(e.description())),
    };
    if !a.authz.session_csrf_ok(&s, form.get("csrf_token")) {
        return Err(forbidden(
            "The form was not sent from this console (missing or wrong CSRF token). Reload the page and try again.",
        ));
    }
    Ok((
        Signed {
            csrf: a.authz.session_csrf(&s),
        },
        form,
    ))
}

fn forbidden(message: &str) -> Response {
    admin_page(
        "confirm",
        context! { signed_in => false, title => "Request refused", error => message, message => "", button => "", back => "/admin/", action => "" },
        StatusCode::FORBIDDEN,
    )
}

/// The overview: this instance's traffic of the last minutes.
async fn home(State(a): S, h: HeaderMap) -> Response {
    match signed(&a, &h).await {
        Ok(s) => s.page(
            "overview",
            "overview",
            StatusCode::OK,
            super::traffic::context(&crate::ops::traffic::overview()),
        ),
        Err(r) => r,
    }
}

async fn script() -> Response {
    let mut r = SCRIPT.into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

// ---- sign-in

fn login_form(
    csrf: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
    cookie: Option<HeaderValue>,
) -> Response {
    let mut r = admin_page(
        "login",
        context! { signed_in => false, csrf => csrf, username => username, error => error },
        status,
    );
    if let Some(c) = cookie {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

async fn login_page(State(a): S, h: HeaderMap) -> Response {
    if session(&a, &h).await.is_some() {
        return see_other("/admin/");
    }
    let (csrf, cookie) = a.authz.csrf_token(&h);
    login_form(&csrf, "", None, StatusCode::OK, cookie)
}

async fn login(State(a): S, ConnectInfo(peer): Peer, h: HeaderMap, body: Body) -> Response {
    let (csrf, cookie) = a.authz.csrf_token(&h);
    let form = match Form::read(&h, body).await {
        Ok(f) => f,
        Err(e) => return login_form(&csrf, "", Some(e.description()), StatusCode::BAD_REQUEST, cookie),
    };
    if !a.authz.csrf_ok(&h, form.get("csrf_token")) {
        return login_form(
            &csrf,
            "",
            Some("The sign-in form expired. Please try again."),
            StatusCode::FORBIDDEN,
            cookie,
        );
    }
    let user = form.get("username").unwrap_or("");
    let pass = form.get("password").unwrap_or("");
    match a.check_password(user, pass, peer.ip()).await {
        Ok(true) => match a.authz.start_session_of(&ADMIN, user.to_string(), store::now()).await {
            Ok((_, c)) => {
                let mut r = see_other("/admin/");
                if let Some(c) = c {
                    r.headers_mut().append(SET_COOKIE, c);
                }
                r
            }
            Err(_) => login_form(
                &csrf,
                user,
                Some("The server could not sign you in. Try again shortly."),
                StatusCode::SERVICE_UNAVAILABLE,
                cookie,
            ),
        },
        Ok(false) => login_form(
            &csrf,
            user,
            Some("Wrong username or password."),
            StatusCode::UNAUTHORIZED,
            cookie,
        ),
        Err(e @ AdminError::Throttled { .. }) => {
            let mut r = login_form(
                &csrf,
                user,
                Some("Too many failed attempts. Wait a few minutes and try again."),
                StatusCode::TOO_MANY_REQUESTS,
                cookie,
            );
            if let AdminError::Throttled { retry_after } = e {
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            r
        }
        Err(e) => login_form(&csrf, user, Some(&e.to_string()), e.status(), cookie),
    }
}

async fn logout(State(a): S, h: HeaderMap, body: Body) -> Response {
    let Some(s) = session(&a, &h).await else {
        return see_other("/admin/login");
    };
    let ok = match Form::read(&h, body).await {
        Ok(f) => a.authz.session_csrf_ok(&s, f.get("csrf_token")),
        Err(_) => false,
    };
    if !ok {
        return forbidden("The sign-out form was not sent from this console. Reload the page and try again.");
    }
    let mut r = see_other("/admin/login");
    if let Ok(Some(c)) = a.authz.end_session_of(&ADMIN, &s).await {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

// ---- clients

/// `search` and `after` of a list page's query, bounded.
fn list_query(uri: &Uri) -> (String, String) {
    let (mut search, mut after) = (String::new(), String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match &*k {
            "search" => search = v.chars().take(200).collect(),
            "after" => after = v.chars().take(200).collect(),
            _ => {}
        }
    }
    (search, after)
}

async fn clients(State(a): S, h: HeaderMap, uri: Uri) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (search, after) = list_query(&uri);
    match a.service.list_clients(Some(&search), Some(&after), 50).await {
        Ok(p) => s.page(
            "clients",
            "clients",
            StatusCode::OK,
            context! { items => p.items, next => p.next, search => search },
        ),
        Err(e) => s.error(&e),
    }
}

/// The client form's fields as typed, so a refused form comes back filled.
#[derive(Serialize, Default)]
struct ClientFields {
    client_id: String,
    client_name: String,
    client_type: String,
    redirect_uris: String,
    grant_types: Vec<String>,
    scope: String,
    access_token_format: String,
    access_token_ttl: String,
    refresh_token_ttl: String,
    logo_uri: String,
}

impl ClientFields {
    fn of(v: &ClientView) -> ClientFields {
        let m = &v.metadata;
        ClientFields {
            client_id: v.client_id.clone(),
            client_name: m.client_name.clone().unwrap_or_default(),
            client_type: if v.public { "public" } else { "confidential" }.into(),
            redirect_uris: m.redirect_uris.join("\n"),
            grant_types: m.grant_types.clone(),
            scope: m.scope.clone().unwrap_or_default(),
            access_token_format: m.access_token_format.clone().unwrap_or_default(),
            access_token_ttl: m.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            refresh_token_ttl: m.refresh_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
            logo_uri: m.logo_uri.clone().unwrap_or_default(),
        }
    }

    fn read(f: &Form) -> ClientFields {
        let get = |k: &str| f.get(k).unwrap_or("").trim().to_string();
        ClientFields {
            client_id: get("client_id"),
            client_name: get("client_name"),
            client_type: get("client_type"),
            redirect_uris: f.get("redirect_uris").unwrap_or("").to_string(),
            grant_types: offered_grants()
                .filter(|(g, _)| f.get(&format!("grant:{g}")).is_some())
                .map(|(g, _)| g.to_string())
                .collect(),
            scope: get("scope"),
            access_token_format: get("access_token_format"),
            access_token_ttl: get("access_token_ttl"),
            refresh_token_ttl: get("refresh_token_ttl"),
            logo_uri: get("logo_uri"),
        }
    }

    /// The metadata these fields describe, on top of `base` (what an
    /// edited client had: settings the form does not show are kept).
    fn metadata(&self, mut base: ClientMetadata) -> Result<ClientMetadata, AdminError> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let ttl = |field: &str, s: &str| -> Result<Option<i64>, AdminError> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| AdminError::BadRequest(format!("{field}: a whole number of seconds")))
        };
        base.client_name = opt(&self.client_name);
        base.token_endpoint_auth_method = match (self.client_type.as_str(), base.token_endpoint_auth_method.as_deref())
        {
            ("public", _) => Some("none".into()),
            (_, Some("none") | None) => Some("client_secret_basic".into()),
            (_, Some(m)) => Some(m.to_string()),
        };
        base.redirect_uris = self
            .redirect_uris
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        base.grant_types = self.grant_types.clone();
        base.response_types = Vec::new();
        base.scope = opt(&self.scope);
        base.access_token_format = opt(&self.access_token_format);
        base.access_token_ttl = ttl("access token lifetime", &self.access_token_ttl)?;
        base.refresh_token_ttl = ttl("refresh token lifetime", &self.refresh_token_ttl)?;
        base.logo_uri = opt(&self.logo_uri);
        Ok(base)
    }
}

fn client_form(s: &Signed, f: &ClientFields, editing: bool, error: Option<String>, status: StatusCode) -> Response {
    let action = if editing {
        format!("/admin/clients/{}/edit", enc(&f.client_id))
    } else {
        "/admin/clients/new".to_string()
    };
    s.page(
        "client_form",
        "clients",
        status,
        context! { f => f, editing => editing, action => action, grants => offered_grants().collect::<Vec<_>>(), error => error },
    )
}

fn secret_page(s: &Signed, client_id: &str, secret: &str, status: StatusCode) -> Response {
    s.page(
        "secret",
        "clients",
        status,
        context! { client_id => client_id, secret => secret },
    )
}

async fn new_client_page(State(a): S, h: HeaderMap) -> Response {
    match signed(&a, &h).await {
        Ok(s) => {
            let f = ClientFields {
                client_type: "confidential".into(),
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                ..Default::default()
            };
            client_form(&s, &f, false, None, StatusCode::OK)
        }
        Err(r) => r,
    }
}

async fn new_client(State(a): S, h: HeaderMap, body: Body) -> Response {
    let (s, form) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = ClientFields::read(&form);
    let r = async {
        let metadata = f.metadata(ClientMetadata::default())?;
        let client_id = (!f.client_id.is_empty()).then(|| f.client_id.clone());
        a.service.create_client(NewClient { client_id, metadata }).await
    }
    .await;
    match r {
        Ok(c) => match c.client_secret {
            Some(secret) => secret_page(&s, &c.client.client_id, &secret, StatusCode::CREATED),
            None => see_other(&format!("/admin/clients/{}", enc(&c.client.client_id))),
        },
        Err(e) => client_form(&s, &f, false, Some(e.to_string()), e.status()),
    }
}

async fn client(State(a): S, h: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match a.service.client(&id).await {
        Ok(c) => s.page(
            "client",
            "clients",
            StatusCode::OK,
            context! { c => ClientView::of(&c), created => date(c.created_at) },
        ),
        Err(e) => s.error(&e),
    }
}

async fn edit_client_page(State(a): S, h: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match a.service.client(&id).await {
        Ok(c) => client_form(&s, &ClientFields::of(&ClientView::of(&c)), true, None, StatusCode::OK),
        Err(e) => s.error(&e),
    }
}

async fn edit_client(State(a): S, h: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    let (s, form) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut f = ClientFields::read(&form);
    f.client_id = id.clone();
    let r = async {
        let old = a.service.client(&id).await?;
        let m = f.metadata(metadata_of(&old))?;
        a.service.update_client(&id, &m).await
    }
    .await;
    match r {
        Ok(c) => match c.client_secret {
            Some(secret) => secret_page(&s, &id, &secret, StatusCode::OK),
            None => see_other(&format!("/admin/clients/{}", enc(&id))),
        },
        Err(e @ AdminError::NotFound(_)) => s.error(&e),
        Err(e) => client_form(&s, &f, true, Some(e.to_string()), e.status()),
    }
}

async fn regenerate_secret(State(a): S, h: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    let (s, _) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match a.service.regenerate_secret(&id).await {
        Ok(n) => secret_page(&s, &id, &n.client_secret, StatusCode::OK),
        Err(e) => s.error(&e),
    }
}

fn confirm(
    s: &Signed,
    section: &str,
    title: &str,
    message: String,
    button: &str,
    action: String,
    back: String,
) -> Response {
    s.page(
        "confirm",
        section,
        StatusCode::OK,
        context! { title => title, message => message, button => button, action => action, back => back },
    )
}

async fn delete_client_page(State(a): S, h: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match a.service.client(&id).await {
        Ok(c) => confirm(
            &s,
            "clients",
            "Delete client",
            format!(
                "Delete “{}” ({})? Its tokens are revoked and it can no longer sign in users. This cannot be undone.",
                c.name, c.id
            ),
            "Delete client",
            format!("/admin/clients/{}/delete", enc(&id)),
            format!("/admin/clients/{}", enc(&id)),
        ),
        Err(e) => s.error(&e),
    }
}

async fn delete_client(State(a): S, h: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    let (s, _) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match a.service.delete_client(&id).await {
        Ok(()) => see_other("/admin/clients"),
        Err(e) => s.error(&e),
    }
}

#[derive(Serialize)]
struct TokenRow {
    #[serde(flatten)]
    t: TokenView,
    expires: String,
}

async fn tokens_page(a: &Admin, h: &HeaderMap, owner: Owner<'_>, notice: Option<String>) -> Response {
    let s = match signed(a, h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (section, base, label) = match owner {
        Owner::Client(id) => ("clients", format!("/admin/clients/{}", enc(id)), format!("client {id}")),
        Owner::Subject(u) => ("users", format!("/admin/users/{}", enc(u)), format!("user {u}")),
    };
    match a.service.tokens(owner).await {
        Ok(items) => {
            let items: Vec<TokenRow> = items
                .into_iter()
                .map(|t| TokenRow {
                    expires: date(t.expires_at),
                    t,
                })
                .collect();
            s.page(
                "tokens",
                section,
                StatusCode::OK,
                context! { items => items, base => base, owner_label => label, notice => notice },
            )
        }
        Err(e) => s.error(&e),
    }
}

async fn revoke(a: &Admin, h: &HeaderMap, owner: Owner<'_>, body: Body) -> Response {
    let (s, form) = match signed_form(a, h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = match form.get("token_id").unwrap_or("") {
        "all" => a.service.revoke_all(owner).await,
        id => {
            // Only a token of this owner may be revoked from its page.
            match a.service.tokens(owner).await {
                Ok(list) if list.iter().any(|t| t.id == id) => a.service.revoke_token(id).await,
                Ok(_) => Err(AdminError::NotFound("no such active token".into())),
                Err(e) => Err(e),
            }
        }
    };
    match r {
        Ok(n) => {
            let notice = format!(
                "Revoked: {} stored token(s), and every JWT access token issued until now.",
                n.revoked
            );
            tokens_page(a, h, owner, Some(notice)).await
        }
        Err(e) => s.error(&e),
    }
}

async fn client_tokens(State(a): S, h: HeaderMap, Path(id): Path<String>) -> Response {
    tokens_page(&a, &h, Owner::Client(&id), None).await
}

async fn revoke_client_tokens(State(a): S, h: HeaderMap, Path(id): Path<String>, body: Body) -> Response {
    revoke(&a, &h, Owner::Client(&id), body).await
}

// ---- users

async fn users(State(a): S, h: HeaderMap, uri: Uri) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (search, after) = list_query(&uri);
    match a.service.list_users(Some(&search), Some(&after), 50).await {
        Ok(p) => s.page(
            "users",
            "users",
            StatusCode::OK,
            context! { items => p.items, next => p.next, search => search },
        ),
        Err(e) => s.error(&e),
    }
}

#[derive(Serialize, Default)]
struct UserFields {
    username: String,
    name: String,
    email: String,
}

async fn new_user_page(State(a): S, h: HeaderMap) -> Response {
    match signed(&a, &h).await {
        Ok(s) => s.page(
            "user_form",
            "users",
            StatusCode::OK,
            context! { f => UserFields::default() },
        ),
        Err(r) => r,
    }
}

async fn new_user(State(a): S, h: HeaderMap, body: Body) -> Response {
    let (s, form) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| form.get(k).unwrap_or("").trim().to_string();
    let f = UserFields {
        username: get("username"),
        name: get("name"),
        email: get("email"),
    };
    let n = NewUser {
        username: f.username.clone(),
        password: form.get("password").unwrap_or("").to_string(),
        name: Some(f.name.clone()),
        email: Some(f.email.clone()),
    };
    match a.service.create_user(n).await {
        Ok(u) => see_other(&format!("/admin/users/{}", enc(&u.username))),
        Err(e) => s.page(
            "user_form",
            "users",
            e.status(),
            context! { f => f, error => e.to_string() },
        ),
    }
}

async fn user_page(
    a: &Admin,
    s: &Signed,
    u: &str,
    notice: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    match a.service.user(u).await {
        Ok(v) => s.page(
            "user",
            "users",
            status,
            context! { created => date(v.created_at), u => v, notice => notice, error => error },
        ),
        Err(e) => s.error(&e),
    }
}

async fn user(State(a): S, h: HeaderMap, Path(u): Path<String>) -> Response {
    match signed(&a, &h).await {
        Ok(s) => user_page(&a, &s, &u, None, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

async fn reset_password(State(a): S, h: HeaderMap, Path(u): Path<String>, body: Body) -> Response {
    let (s, form) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = form.get("password").unwrap_or("").to_string();
    match a.service.reset_password(&u, p).await {
        Ok(()) => {
            user_page(
                &a,
                &s,
                &u,
                Some("Password changed; the user was signed out everywhere."),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(e @ AdminError::NotFound(_)) => s.error(&e),
        Err(e) => user_page(&a, &s, &u, None, Some(e.to_string()), e.status()).await,
    }
}

async fn delete_user_page(State(a): S, h: HeaderMap, Path(u): Path<String>) -> Response {
    let s = match signed(&a, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match a.service.user(&u).await {
        Ok(_) => confirm(
            &s,
            "users",
            "Delete user",
            format!("Delete user “{u}”? Their sessions end and their tokens are revoked. This cannot be undone."),
            "Delete user",
            format!("/admin/users/{}/delete", enc(&u)),
            format!("/admin/users/{}", enc(&u)),
        ),
        Err(e) => s.error(&e),
    }
}

async fn delete_user(State(a): S, h: HeaderMap, Path(u): Path<String>, body: Body) -> Response {
    let (s, _) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match a.service.delete_user(&u).await {
        Ok(()) => see_other("/admin/users"),
        Err(e) => s.error(&e),
    }
}

async fn user_tokens(State(a): S, h: HeaderMap, Path(u): Path<String>) -> Response {
    tokens_page(&a, &h, Owner::Subject(&u), None).await
}

async fn revoke_user_tokens(State(a): S, h: HeaderMap, Path(u): Path<String>, body: Body) -> Response {
    revoke(&a, &h, Owner::Subject(&u), body).await
}

// ---- keys

#[derive(Serialize)]
struct KeyRow {
    #[serde(flatten)]
    k: super::service::KeyView,
    created: String,
    until: Option<String>,
}

async fn keys_page(a: &Admin, s: &Signed, notice: Option<&str>) -> Response {
    match a.service.keys().await {
        Ok(list) => {
            let items: Vec<KeyRow> = list
                .into_iter()
                .map(|k| KeyRow {
                    created: date(k.created_at),
                    until: k.publish_until.map(date),
                    k,
                })
                .collect();
            s.page(
                "keys",
                "keys",
                StatusCode::OK,
                context! { items => items, notice => notice },
            )
        }
        Err(e) => s.error(&e),
    }
}

async fn keys(State(a): S, h: HeaderMap) -> Response {
    match signed(&a, &h).await {
        Ok(s) => keys_page(&a, &s, None).await,
        Err(r) => r,
    }
}

async fn rotate_keys(State(a): S, h: HeaderMap, body: Body) -> Response {
    let (s, _) = match signed_form(&a, &h, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match a.service.rotate_keys().await {
        Ok(_) => keys_page(&a, &s, Some("Rotated: a new key signs from now on.")).await,
        Err(e) => s.error(&e),
    }
}
