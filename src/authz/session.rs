//! Browser state: the login session and the CSRF double-submit cookie for
//! the login, consent and logout forms. The session cookie is HMAC-signed
//! (forgeries are refused without a store look-up) and names a session id
//! that must still exist in the store, so a logout on one instance ends the
//! session on every instance.

use super::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::{hash_token, SessionRecord};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// One kind of browser session: its store kind, cookie and lifetime. A
/// session of one kind never passes for another (the store record's kind
/// and the cookie name both differ).
#[derive(Debug, Clone, Copy)]
pub struct SessionKind {
    /// `SessionRecord::kind`.
    pub kind: &'static str,
    pub cookie: &'static str,
    /// Cookie attributes beyond HttpOnly/Secure: path and SameSite.
    pub attrs: &'static str,
    pub ttl: i64,
}

/// End-user sessions of the login pages. SameSite=Lax: the authorization
/// request arrives by a top-level navigation from the client's site.
pub const USER: SessionKind = SessionKind {
    kind: "user",
    cookie: "gh_session",
    attrs: "; Path=/; SameSite=Lax",
    ttl: 8 * 3600,
};

/// Admin console sessions: Strict, and only sent to /admin.
pub const ADMIN: SessionKind = SessionKind {
    kind: "admin",
    cookie: "gh_admin",
    attrs: "; Path=/admin; SameSite=Strict",
    ttl: 8 * 3600,
};

pub const SESSION_COOKIE: &str = USER.cookie;
pub const CSRF_COOKIE: &str = "gh_csrf";

/// How long a login lasts.
pub const SESSION_TTL: i64 = USER.ttl;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The session id; the store keys the session on its hash.
    pub sid: String,
    pub sub: String,
    pub auth_time: i64,
    pub exp: i64,
    /// The clients the session issued to so far (from the store record;
    /// not in the cookie).
    #[serde(skip)]
    pub clients: Vec<String>,
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
            "; HttpOnly; Secure"
        } else {
            "; HttpOnly"
        }
    }

    /// The caller's end-user session (see `session_of`).
    pub async fn session(&self, headers: &HeaderMap, now: i64) -> Option<Session> {
        self.session_of(&USER, headers, now).await
    }

    /// The caller's session of `kind`: a cookie we signed, not expired, and
    /// not ended (still in the store). A store failure reads as no session.
    pub async fn session_of(&self, kind: &SessionKind, headers: &HeaderMap, now: i64) -> Option<Session> {
        let mut s = self.session_from_cookie(kind, headers, now)?;
        match self.store.get_session(&hash_token(&s.sid)).await {
            Ok(Some(r)) if r.kind == kind.kind && r.subject == s.sub && r.expires_at > now => {
                s.clients = r.clients;
                Some(s)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "session check failed");
                None
            }
        }
    }

    fn session_from_cookie(&self, kind: &SessionKind, headers: &HeaderMap, now: i64) -> Option<Session> {
        let raw = cookie(headers, kind.cookie)?;
        let (payload, tag) = raw.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !self.session_key.verify(payload.as_bytes(), &tag) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let s: Session = serde_json::from_slice(&json).ok()?;
        (s.exp > now).then_some(s)
    }

    /// Records that the session issued a code or tokens to `client_id`
    /// (once per client and session), so that the client hears of its
    /// end; returns the session's `sid` for its ID tokens.
    pub async fn session_issued_to(&self, s: &Session, client_id: &str) -> Result<String, OAuthError> {
        let id_hash = hash_token(&s.sid);
        // Registration refuses ids with spaces; a config-declared one is
        // not recorded (the SQL stores keep the list space-separated).
        let recordable = !client_id.chars().any(char::is_whitespace);
        if recordable && !s.clients.iter().any(|c| c == client_id) {
            self.store.add_session_client(&id_hash, client_id, s.exp).await?;
        }
        Ok(self.session_sid(&id_hash))
    }

    /// Signs `sub` in: records a new end-user session and returns it with
    /// its cookie.
    pub async fn start_session(&self, sub: String, now: i64) -> Result<(Session, Option<HeaderValue>), OAuthError> {
        self.start_session_of(&USER, sub, now).await
    }

    /// Records a new session of `kind` for `sub`; returns it and its cookie.
    pub async fn start_session_of(
        &self,
        kind: &SessionKind,
        sub: String,
        now: i64,
    ) -> Result<(Session, Option<HeaderValue>), OAuthError> {
        let s = Session {
            sid: secrets::random_token(),
            sub,
            auth_time: now,
            exp: now + kind.ttl,
            clients: Vec::new(),
        };
        self.store
            .put_session(&SessionRecord {
                id_hash: hash_token(&s.sid),
                kind: kind.kind.into(),
                subject: s.sub.clone(),
                auth_time: s.auth_time,
                expires_at: s.exp,
                clients: Vec::new(),
            })
            .await?;
        let cookie = self.session_cookie(kind, &s);
        Ok((s, cookie))
    }

    /// Ends the end-user session on every instance (its clients are told
    /// by back-channel logout); returns the cookie that clears it.
    pub async fn end_session(&self, s: &Session) -> Result<Option<HeaderValue>, OAuthError> {
        self.end_session_of(&USER, s).await
    }

    pub async fn end_session_of(&self, kind: &SessionKind, s: &Session) -> Result<Option<HeaderValue>, OAuthError> {
        if let Some(ended) = self.store.delete_session(&hash_token(&s.sid)).await? {
            self.sessions_ended(&[ended]).await;
        }
        Ok(HeaderValue::from_str(&format!(
            "{}=; Max-Age=0{}{}",
            kind.cookie,
            kind.attrs,
            self.cookie_attrs()
        ))
        .ok())
    }

    fn session_cookie(&self, kind: &SessionKind, s: &Session) -> Option<HeaderValue> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(s).ok()?);
        let tag = URL_SAFE_NO_PAD.encode(self.session_key.sign(payload.as_bytes()));
        HeaderValue::from_str(&format!(
            "{}={payload}.{tag}; Max-Age={}{}{}",
            kind.cookie,
            kind.ttl,
            kind.attrs,
            self.cookie_attrs()
        ))
        .ok()
    }

    /// A form token bound to a session: only a page served within that
    /// session can know it (the admin console's synchronizer token).
    pub fn session_csrf(&self, s: &Session) -> String {
        URL_SAFE_NO_PAD.encode(self.session_key.sign(format!("csrf:{}", s.sid).as_bytes()))
    }

    pub fn session_csrf_ok(&self, s: &Session, form_token: Option<&str>) -> bool {
        let want = self.session_csrf(s);
        form_token.is_some_and(|f| want.as_bytes().ct_eq(f.as_bytes()).into())
    }

    /// The CSRF token for a form: the caller's cookie value, or a new one
    /// (then `Some(Set-Cookie)` must be sent with the page).
    pub fn csrf_token(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(v) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 32) {
            return (v.to_string(), None);
        }
        let t = super::secrets::random_token();
        let c = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={t}; Path=/; SameSite=Strict{}",
            self.cookie_attrs()
        ))
        .ok();
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
