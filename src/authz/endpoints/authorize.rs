//! GET|POST /api/oauth/authorize: the browser side of the code and implicit
//! flows. Each request is re-validated from its parameters (carried through
//! the forms as hidden fields), then: sign in if needed, ask consent if
//! needed, and send the user back with a code or tokens.

use crate::authz::authorize::{AuthorizeError, AuthorizeRequest, ResponseMode};
use crate::authz::form::Form;
use crate::authz::id_token::IdTokenInput;
use crate::authz::issuer::Issue;
use crate::authz::session::Session;
use crate::authz::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::{self, hash_token, AuthCode, Consent};
use crate::web::{self, Page};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use std::net::SocketAddr;
use std::sync::Arc;

pub const PATH: &str = "/api/oauth/authorize";

pub async fn authorize(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match Form::of_request(&method, &uri, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(e.description()),
    };
    let req = match s.authorize_request(&form).await {
        Ok(r) => r,
        Err(e) => return s.authorize_error(e),
    };
    let flow = Flow {
        s: &s,
        req: &req,
        headers: &headers,
        set_cookies: Vec::new(),
    };
    let action = if method == Method::POST {
        form.get("action")
    } else {
        None
    };
    match action {
        Some("login") => flow.login(&form, peer).await,
        Some("consent") => flow.consent(&form).await,
        _ => flow.start().await,
    }
}

fn error_page(message: &str) -> Response {
    Page::Error(web::ErrorPage {
        title: "This request cannot be completed",
        message,
    })
    .respond(StatusCode::BAD_REQUEST, None)
}

impl AuthServer {
    fn authorize_error(&self, e: AuthorizeError) -> Response {
        match e {
            AuthorizeError::Page(msg) => error_page(msg),
            AuthorizeError::Unavailable => web::unavailable_page(),
            AuthorizeError::Redirect {
                redirect_uri,
                mode,
                state,
                error,
                description,
            } => {
                let mut p = vec![("error", error.to_string()), ("error_description", description)];
                if let Some(st) = state {
                    p.push(("state", st));
                }
                p.push(("iss", self.cfg.issuer.clone()));
                redirect(&redirect_uri, mode, &p, &[])
            }
        }
    }
}

/// Sends the user back to the client: a 303 with the parameters in the
/// query or the fragment, or a page that POSTs them (form_post).
fn redirect(redirect_uri: &str, mode: ResponseMode, params: &[(&str, String)], cookies: &[HeaderValue]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("The redirect URI is malformed.");
    };
    if mode == ResponseMode::FormPost {
        return form_post(&url, params, cookies);
    }
    if mode == ResponseMode::Fragment {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        url.set_fragment(Some(&ser.finish()));
    } else {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        r.headers_mut().append(SET_COOKIE, c.clone());
    }
    r
}

/// The script that submits the form_post page, allowed by its hash only.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit()";

fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// OAuth 2.0 Form Post Response Mode: a page whose form POSTs the response
/// to the redirect URI, submitted by a hash-pinned script (a button
/// without JavaScript). Values never appear in a URL.
fn form_post(url: &url::Url, params: &[(&str, String)], cookies: &[HeaderValue]) -> Response {
    use base64::Engine;
    use sha2::Digest;
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to the application</title></head><body><form method=\"post\" action=\"",
    );
    html_escape(url.as_str(), &mut html);
    html.push_str("\">");
    for (k, v) in params {
        html.push_str("<input type=\"hidden\" name=\"");
        html_escape(k, &mut html);
        html.push_str("\" value=\"");
        html_escape(v, &mut html);
        html.push_str("\">");
    }
    html.push_str("<noscript><p>JavaScript is off: continue to the application.</p><button type=\"submit\">Continue</button></noscript></form><script>");
    html.push_str(FORM_POST_SCRIPT);
    html.push_str("</script></body></html>");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
    // The origin rebuilt from its parts (see `web::csp_source`): a host
    // that cannot be said safely leaves the form nowhere to go.
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{hash}'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        web::csp_source(url.as_str()).unwrap_or_else(|| "'none'".into())
    );
    let mut r = Response::new(Body::from(html));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", v);
    }
    for c in cookies {
        h.append(SET_COOKIE, c.clone());
    }
    r
}

struct Flow<'a> {
    s: &'a AuthServer,
    req: &'a AuthorizeRequest,
    headers: &'a HeaderMap,
    set_cookies: Vec<HeaderValue>,
}

impl Flow<'_> {
    fn back(&self, error: &'static str, description: &str) -> Response {
        self.s.authorize_error(AuthorizeError::Redirect {
            redirect_uri: self.req.redirect_uri.clone(),
            mode: self.req.mode,
            state: self.req.state.clone(),
            error,
            description: description.to_string(),
        })
    }

    fn with_cookies(&self, mut r: Response) -> Response {
        for c in &self.set_cookies {
            r.headers_mut().append(SET_COOKIE, c.clone());
        }
        r
    }

    /// A plain GET (or POST without action): decide whether to sign in.
    async fn start(self) -> Response {
        let now = store::now();
        let session = self.s.session(self.headers, now).await;
        let too_old = |s: &Session| self.req.max_age.is_some_and(|m| now - s.auth_time > m);
        match session {
            Some(s) if !self.req.prompt.login && !too_old(&s) => self.after_login(s, false).await,
            _ if self.req.prompt.none => self.back("login_required", "the user is not signed in"),
            _ => self.login_page(None, StatusCode::OK),
        }
    }

    fn login_page(mut self, error: Option<&str>, status: StatusCode) -> Response {
        let (csrf, cookie) = self.s.csrf_token(self.headers);
        self.set_cookies.extend(cookie);
        let params = self.s.sealed(self.req.origin, self.req.params.clone());
        let page = Page::Login(web::Login {
            action: PATH,
            client_name: &self.req.client.name,
            params: &params,
            csrf: &csrf,
            username: self.req.login_hint.as_deref().unwrap_or(""),
            error,
        });
        let r = page.respond(status, None);
        self.with_cookies(r)
    }

    async fn login(mut self, form: &Form, peer: SocketAddr) -> Response {
        if !self.s.csrf_ok(self.headers, form.get("csrf_token")) {
            return error_page("The form expired or was not sent from this site. Go back and try again.");
        }
        let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
            return self.login_page(Some("Enter your username and password."), StatusCode::BAD_REQUEST);
        };
        match self.s.check_user_password(username, password, peer.ip()).await {
            Ok(user) => {
                let session = match self.s.start_session(user.username, store::now()).await {
                    Ok((s, cookie)) => {
                        self.set_cookies.extend(cookie);
                        s
                    }
                    Err(_) => return web::unavailable_page(),
                };
                self.after_login(session, true).await
            }
            Err(OAuthError::Throttled { retry_after }) => {
                let msg = format!("Too many failed attempts. Try again in {retry_after} seconds.");
                let mut r = self.login_page(Some(&msg), StatusCode::TOO_MANY_REQUESTS);
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(retry_after));
                r
            }
            Err(OAuthError::InvalidGrant(_)) => {
                self.login_page(Some("Wrong username or password."), StatusCode::UNAUTHORIZED)
            }
            Err(_) => web::unavailable_page(),
        }
    }

    /// Signed in: ask for consent unless it is remembered (or `prompt=consent`).
    async fn after_login(self, session: Session, just_signed_in: bool) -> Response {
        let remembered = match self.s.store.get_consent(&session.sub, &self.req.client.id).await {
            Ok(c) => c.is_some_and(|c| self.req.scopes.iter().all(|s| c.scopes.contains(s))),
            Err(_) => return web::unavailable_page(),
        };
        if remembered && !self.req.prompt.consent {
            return self.finish(&session).await;
        }
        if self.req.prompt.none {
            return self.back("consent_required", "the user has not approved this application");
        }
        self.consent_page(&session, just_signed_in)
    }

    fn consent_page(mut self, session: &Session, just_signed_in: bool) -> Response {
        let (csrf, cookie) = self.s.csrf_token(self.headers);
        self.set_cookies.extend(cookie);
        let params = if just_signed_in {
            self.req.params_after_login()
        } else {
            self.req.params.clone()
        };
        let params = self.s.sealed(self.req.origin, params);
        let redirect_host = url::Url::parse(&self.req.redirect_uri)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| format!("{h}{}", u.port().map(|p| format!(":{p}")).unwrap_or_default()))
            })
            .unwrap_or_default();
        let page = Page::Consent(web::Consent {
            action: PATH,
            client_name: &self.req.client.name,
            scopes: self.req.scopes.iter().map(|s| web::describe_scope(s)).collect(),
            params: &params,
            csrf: &csrf,
            username: &session.sub,
            redirect_host: &redirect_host,
        });
        let r = page.respond(StatusCode::OK, Some(&self.req.redirect_uri));
        self.with_cookies(r)
    }

    async fn consent(self, form: &Form) -> Response {
        if !self.s.csrf_ok(self.headers, form.get("csrf_token")) {
            return error_page("The form expired or was not sent from this site. Go back and try again.");
        }
        let Some(session) = self.s.session(self.headers, store::now()).await else {
            return self.login_page(Some("Your sign-in expired. Sign in again."), StatusCode::OK);
        };
        match form.get("decision") {
            Some("allow") => {
                let mut scopes = match self.s.store.get_consent(&session.sub, &self.req.client.id).await {
                    Ok(c) => c.map(|c| c.scopes).unwrap_or_default(),
                    Err(_) => return web::unavailable_page(),
                };
                scopes.extend(self.req.scopes.iter().cloned());
                scopes.sort();
                scopes.dedup();
                let consent = Consent {
                    username: session.sub.clone(),
                    client_id: self.req.client.id.clone(),
                    scopes,
                    granted_at: store::now(),
                };
                if self.s.store.put_consent(&consent).await.is_err() {
                    return web::unavailable_page();
                }
                self.finish(&session).await
            }
            Some("deny") => self.back("access_denied", "the user denied the request"),
            _ => error_page("The consent form was incomplete."),
        }
    }

    /// Issue what the response type asks for and send the user back.
    async fn finish(self, session: &Session) -> Response {
        match self.issue(session).await {
            Ok(params) => {
                let p: Vec<(&str, String)> = params.iter().map(|(k, v)| (*k, v.clone())).collect();
                redirect(&self.req.redirect_uri, self.req.mode, &p, &self.set_cookies)
            }
            Err(e) => {
                let r = self.back(e.code(), e.description());
                self.with_cookies(r)
            }
        }
    }

    async fn issue(&self, session: &Session) -> Result<Vec<(&'static str, String)>, OAuthError> {
        let s = self.s;
        let req = self.req;
        let mut out: Vec<(&'static str, String)> = Vec::new();
        // Whatever is issued, the client now hears when the session ends.
        let sid = s.session_issued_to(session, &req.client.id).await?;
        let mut code = None;
        if req.response.code {
            let c = secrets::random_token();
            s.store
                .put_code(&AuthCode {
                    code_hash: hash_token(&c),
                    client_id: req.client.id.clone(),
                    username: session.sub.clone(),
                    redirect_uri: req.redirect_uri.clone(),
                    scope: req.scopes.join(" "),
                    code_challenge: req.code_challenge.clone(),
                    code_challenge_method: req.code_challenge.as_ref().map(|_| "S256".to_string()),
                    nonce: req.nonce.clone(),
                    auth_time: session.auth_time,
                    family_id: secrets::random_token(),
                    expires_at: store::now() + s.cfg.tokens.code_ttl.as_secs() as i64,
                    resource: req.resources.clone(),
                    sid: Some(sid.clone()),
                })
                .await?;
            out.push(("code", c.clone()));
            code = Some(c);
        }
        let mut access = None;
        if req.response.token {
            let t = s
                .issue(Issue {
                    client: &req.client,
                    subject: Some(session.sub.clone()),
                    scopes: req.scopes.clone(),
                    family: None,
                    refresh: false,
                    auth_time: Some(session.auth_time),
                    cnf: None,
                    audience: (!req.resources.is_empty()).then(|| req.resources.clone()),
                    grant_audience: None,
                })
                .await?;
            out.push(("token_type", t.token_type.to_string()));
            out.push(("expires_in", t.expires_in.to_string()));
            out.push(("scope", t.scope.clone()));
            access = Some(t.access_token.clone());
            out.push(("access_token", t.access_token));
        }
        if req.response.id_token {
            let user = s
                .store
                .get_user(&session.sub)
                .await?
                .ok_or(OAuthError::AccessDenied("the user no longer exists"))?;
            let id = s.id_token(IdTokenInput {
                client: &req.client,
                user: &user,
                scopes: &req.scopes,
                nonce: req.nonce.as_deref(),
                auth_time: session.auth_time,
                access_token: access.as_deref(),
                code: code.as_deref(),
                state: req.state.as_deref(),
                sid: Some(&sid),
            })?;
            out.push(("id_token", id));
        }
        if let Some(st) = &req.state {
            out.push(("state", st.clone()));
        }
        out.push(("iss", s.cfg.issuer.clone()));
        Ok(out)
    }
}
