//! GET|POST /api/oauth/device (RFC 8628 §3.3): the verification page.
//! The user enters the code their device shows (or arrives with it from
//! `verification_uri_complete`, and confirms it), signs in if needed, and
//! allows or denies the device, seeing the client's name and scopes.
//! Every form carries the CSRF double-submit token of the login pages.
//!
//! User codes are short, so guessing is throttled (§5.1): wrong codes are
//! counted per client address and over all addresses, in the store (every
//! instance counts the same attempts); past either limit the page refuses
//! to look codes up until the window has passed.

use crate::authz::form::Form;
use crate::authz::{user_code, AuthServer};
use crate::error::OAuthError;
use crate::store::device_codes::DeviceStatus;
use crate::store::{self, hash_token, DeviceCode, DeviceDecision};
use crate::web::{self, Page};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub const PATH: &str = "/api/oauth/device";

/// Wrong codes one address may enter within `IP_WINDOW` seconds.
pub const IP_ATTEMPTS: u32 = 10;
pub const IP_WINDOW: i64 = 600;
/// Wrong codes all addresses together may enter within `ALL_WINDOW`
/// seconds: bounds a guesser that spreads over many addresses (at most
/// ~14,000 guesses a day against 2.6·10^10 codes).
pub const ALL_ATTEMPTS: u32 = 50;
pub const ALL_WINDOW: i64 = 300;
const ALL_KEY: &str = "device:all";

fn ip_key(ip: IpAddr) -> String {
    format!("device:i:{ip}")
}

pub async fn device(
    State(s): State<Arc<AuthServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match Form::of_request(&method, &uri, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(e.description(), StatusCode::BAD_REQUEST),
    };
    let mut page = DevicePage {
        s: &s,
        headers: &headers,
        ip: peer.ip(),
        set_cookies: Vec::new(),
    };
    if method != Method::POST {
        // From verification_uri_complete the code is filled in, but the
        // user still confirms it (§5.4: a code sent by someone else).
        let typed = form.get("user_code").unwrap_or("").chars().take(20).collect::<String>();
        return page.code_page(&typed, None, StatusCode::OK);
    }
    if !s.csrf_ok(&headers, form.get("csrf_token")) {
        return page.code_page(
            "",
            Some("The form expired or was not sent from this site. Try again."),
            StatusCode::BAD_REQUEST,
        );
    }
    let typed = form.get("user_code").unwrap_or("");
    let found = match page.find(typed).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    match form.get("action") {
        Some("login") => page.login(&form, found).await,
        Some("consent") => page.consent(&form, found).await,
        _ => page.after_code(found).await,
    }
}

fn error_page(message: &str, status: StatusCode) -> Response {
    Page::Error(web::ErrorPage {
        title: "This request cannot be completed",
        message,
    })
    .respond(status, None)
}

fn unavailable() -> Response {
    web::unavailable_page()
}

struct DevicePage<'a> {
    s: &'a AuthServer,
    headers: &'a HeaderMap,
    ip: IpAddr,
    set_cookies: Vec<HeaderValue>,
}

/// A pending code the user may act on, and the name of its client.
struct Found {
    code: DeviceCode,
    shown: String,
    client_name: String,
}

impl DevicePage<'_> {
    fn csrf(&mut self) -> String {
        let (csrf, cookie) = self.s.csrf_token(self.headers);
        self.set_cookies.extend(cookie);
        csrf
    }

    fn send(&self, page: Page<'_>, status: StatusCode) -> Response {
        let mut r = page.respond(status, None);
        for c in &self.set_cookies {
            r.headers_mut().append(SET_COOKIE, c.clone());
        }
        r
    }

    fn code_page(&mut self, typed: &str, error: Option<&str>, status: StatusCode) -> Response {
        let csrf = self.csrf();
        self.send(
            Page::Device(web::Device {
                action: PATH,
                step: "code",
                csrf: &csrf,
                user_code: typed,
                client_name: "",
                scopes: Vec::new(),
                username: "",
                error,
            }),
            status,
        )
    }

    /// Seconds to wait when this address, or everyone, guessed wrong too often.
    async fn locked(&self, now: i64) -> Result<Option<i64>, OAuthError> {
        let mut wait = None;
        for (key, limit) in [(ip_key(self.ip), IP_ATTEMPTS), (ALL_KEY.to_string(), ALL_ATTEMPTS)] {
            if let Some(f) = self.s.store.get_failures(&key, now).await? {
                if f.count >= limit {
                    wait = Some(wait.unwrap_or(0).max(f.until - now).max(1));
                }
            }
        }
        Ok(wait)
    }

    async fn wrong_code(&self, now: i64) -> Result<(), OAuthError> {
        self.s.store.add_failure(&ip_key(self.ip), now, IP_WINDOW).await?;
        self.s.store.add_failure(ALL_KEY, now, ALL_WINDOW).await?;
        Ok(())
    }

    /// The pending, unexpired authorization the typed code names; every
    /// step looks it up again (a hidden field is just more input), and
    /// every look-up is throttled.
    async fn find(&mut self, typed: &str) -> Result<Found, Response> {
        let shown_typed: String = typed.chars().take(20).collect();
        let Some(code) = user_code::normalise(typed) else {
            return Err(self.code_page(
                &shown_typed,
                Some("Enter the 8-letter code shown on your device, like BCDF-GHJK."),
                StatusCode::BAD_REQUEST,
            ));
        };
        let now = store::now();
        match self.locked(now).await {
            Ok(None) => {}
            Ok(Some(wait)) => {
                let msg = format!("Too many wrong codes. Try again in {wait} seconds.");
                return Err(self.code_page(&shown_typed, Some(&msg), StatusCode::TOO_MANY_REQUESTS));
            }
            Err(_) => return Err(unavailable()),
        }
        let row = match self.s.store.device_code_by_user_code(&hash_token(&code)).await {
            Ok(r) => r,
            Err(_) => return Err(unavailable()),
        };
        let Some(row) = row.filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now) else {
            if self.wrong_code(now).await.is_err() {
                return Err(unavailable());
            }
            return Err(self.code_page(
                &shown_typed,
                Some("That code is not valid, was already used, or has expired. Check your device and try again."),
                StatusCode::BAD_REQUEST,
            ));
        };
        let client_name = match self.s.client(&row.client_id).await {
            Ok(Some(c)) => c.name.clone(),
            // The client was removed since: its codes are dead.
            Ok(None) => {
                return Err(self.code_page(
                    &shown_typed,
                    Some("That code is no longer valid."),
                    StatusCode::BAD_REQUEST,
                ))
            }
            Err(_) => return Err(unavailable()),
        };
        Ok(Found {
            shown: user_code::display(&code),
            code: row,
            client_name,
        })
    }

    /// A good code: consent when signed in, else sign in first.
    async fn after_code(mut self, found: Found) -> Response {
        match self.s.session(self.headers, store::now()).await {
            Some(session) => self.consent_page(&found, &session.sub),
            None => self.login_page(&found, None, StatusCode::OK),
        }
    }

    fn login_page(&mut self, found: &Found, error: Option<&str>, status: StatusCode) -> Response {
        let csrf = self.csrf();
        let params = [("user_code".to_string(), found.shown.clone())];
        self.send(
            Page::Login(web::Login {
                action: PATH,
                client_name: &found.client_name,
                params: &params,
                csrf: &csrf,
                username: "",
                error,
            }),
            status,
        )
    }

    fn consent_page(&mut self, found: &Found, username: &str) -> Response {
        let csrf = self.csrf();
        let scopes = crate::authz::scope::split(&found.code.scope)
            .iter()
            .map(|s| web::describe_scope(s))
            .collect();
        self.send(
            Page::Device(web::Device {
                action: PATH,
                step: "consent",
                csrf: &csrf,
                user_code: &found.shown,
                client_name: &found.client_name,
                scopes,
                username,
                error: None,
            }),
            StatusCode::OK,
        )
    }

    async fn login(mut self, form: &Form, found: Found) -> Response {
        let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
            return self.login_page(
                &found,
                Some("Enter your username and password."),
                StatusCode::BAD_REQUEST,
            );
        };
        match self.s.check_user_password(username, password, self.ip).await {
            Ok(user) => match self.s.start_session(user.username, store::now()).await {
                Ok((session, cookie)) => {
                    self.set_cookies.extend(cookie);
                    self.consent_page(&found, &session.sub)
                }
                Err(_) => unavailable(),
            },
            Err(OAuthError::Throttled { retry_after }) => {
                let msg = format!("Too many failed attempts. Try again in {retry_after} seconds.");
                let mut r = self.login_page(&found, Some(&msg), StatusCode::TOO_MANY_REQUESTS);
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(retry_after));
                r
            }
            Err(OAuthError::InvalidGrant(_)) => {
                self.login_page(&found, Some("Wrong username or password."), StatusCode::UNAUTHORIZED)
            }
            Err(_) => unavailable(),
        }
    }

    async fn consent(mut self, form: &Form, found: Found) -> Response {
        let now = store::now();
        let Some(session) = self.s.session(self.headers, now).await else {
            return self.login_page(&found, Some("Your sign-in expired. Sign in again."), StatusCode::OK);
        };
        let (decision, step) = match form.get("decision") {
            Some("allow") => (
                DeviceDecision::Approve {
                    subject: session.sub.clone(),
                    auth_time: session.auth_time,
                },
                "approved",
            ),
            Some("deny") => (
                DeviceDecision::Deny {
                    subject: session.sub.clone(),
                },
                "denied",
            ),
            _ => return error_page("The consent form was incomplete.", StatusCode::BAD_REQUEST),
        };
        match self
            .s
            .store
            .decide_device_code(&found.code.user_code_hash, &decision, now)
            .await
        {
            Ok(true) => {
                tracing::info!(client = %found.code.client_id, user = %session.sub, step, "device authorization decided");
                let csrf = self.csrf();
                self.send(
                    Page::Device(web::Device {
                        action: PATH,
                        step,
                        csrf: &csrf,
                        user_code: &found.shown,
                        client_name: &found.client_name,
                        scopes: Vec::new(),
                        username: &session.sub,
                        error: None,
                    }),
                    StatusCode::OK,
                )
            }
            // Decided meanwhile (another tab, another instance) or expired.
            Ok(false) => self.code_page(
                "",
                Some("That code was already used or has expired. Check your device and try again."),
                StatusCode::CONFLICT,
            ),
            Err(_) => unavailable(),
        }
    }
}
