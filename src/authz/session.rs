//! Browser state: the login session (an HMAC-signed cookie, so any
//! instance sharing the key directory accepts it without a store look-up)
//! and the CSRF double-submit cookie for the login and consent forms.

use super::AuthServer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "gh_session";
pub const CSRF_COOKIE: &str = "gh_csrf";

/// How long a login lasts.
pub const SESSION_TTL: i64 = 8 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub sub: String,
    pub auth_time: i64,
    pub exp: i64,
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl AuthServer {
    fn cookie_attrs(&self) -> &'static str {
        if self.cfg.is_https() {
            "; Path=/; HttpOnly; Secure"
        } else {
            "; Path=/; HttpOnly"
        }
    }

    pub fn session(&self, headers: &HeaderMap, now: i64) -> Option<Session> {
        let raw = cookie(headers, SESSION_COOKIE)?;
        let (payload, tag) = raw.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !self.session_key.verify(payload.as_bytes(), &tag) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let s: Session = serde_json::from_slice(&json).ok()?;
        (s.exp > now).then_some(s)
    }

    pub fn session_cookie(&self, s: &Session) -> Option<HeaderValue> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(s).ok()?);
        let tag = URL_SAFE_NO_PAD.encode(self.session_key.sign(payload.as_bytes()));
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={payload}.{tag}; Max-Age={SESSION_TTL}; SameSite=Lax{}",
            self.cookie_attrs()
        ))
        .ok()
    }

    /// The CSRF token for a form: the caller's cookie value, or a new one
    /// (then `Some(Set-Cookie)` must be sent with the page).
    pub fn csrf_token(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(v) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 32) {
            return (v.to_string(), None);
        }
        let t = super::secrets::random_token();
        let c = HeaderValue::from_str(&format!("{CSRF_COOKIE}={t}; SameSite=Strict{}", self.cookie_attrs())).ok();
        (t, c)
    }

    /// The form's token must equal the cookie's (double submit).
    pub fn csrf_ok(&self, headers: &HeaderMap, form_token: Option<&str>) -> bool {
        match (cookie(headers, CSRF_COOKIE), form_token) {
            (Some(c), Some(f)) if c.len() >= 32 => c.as_bytes().ct_eq(f.as_bytes()).into(),
            _ => false,
        }
    }
}
