//! Browser state: the login session and the CSRF double-submit cookie for
//! the login, consent and logout forms. The session cookie is sealed by the
//! cookie crate's private jar (AES-256-GCM with the cookie's name as
//! associated data: forgeries, and a session cookie presented under another
//! cookie's name, are refused without a store look-up) and names a session
//! id that must still exist in the store, so a logout on one instance ends
//! the session on every instance.

use super::{secrets, AuthServer};
use crate::error::OAuthError;
use crate::store::{hash_token, SessionRecord};
use crate::token::extract::{cookie, find_cookie};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::time::Duration;
use cookie::{Cookie, CookieBuilder, CookieJar, SameSite};
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
    pub path: &'static str,
    pub same_site: SameSite,
    pub ttl: i64,
}

/// End-user sessions of the login pages. SameSite=Lax: the authorization
/// request arrives by a top-level navigation from the client's site.
pub const USER: SessionKind = SessionKind {
    kind: "user",
    cookie: "gh_session",
    path: "/",
    same_site: SameSite::Lax,
    ttl: 8 * 3600,
};

/// Admin console sessions: Strict, and only sent to /admin.
pub const ADMIN: SessionKind = SessionKind {
    kind: "admin",
    cookie: "gh_admin",
    path: "/admin",
    same_site: SameSite::Strict,
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

/// `Set-Cookie` for `c`: never readable by scripts, and Secure when the
/// server is reached over https.
fn set_cookie(c: CookieBuilder<'_>, https: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&c.http_only(true).secure(https).build().to_string()).ok()
}

/// The `Set-Cookie` carrying `s` sealed under `kind`'s cookie name.
fn seal_session(key: &cookie::Key, kind: &SessionKind, s: &Session, https: bool) -> Option<HeaderValue> {
    let mut jar = CookieJar::new();
    jar.private_mut(key)
        .add(Cookie::new(kind.cookie, serde_json::to_string(s).ok()?));
    let sealed = jar.get(kind.cookie)?.value().to_owned();
    set_cookie(
        Cookie::build((kind.cookie, sealed))
            .path(kind.path)
            .same_site(kind.same_site)
            .max_age(Duration::seconds(kind.ttl)),
        https,
    )
}

/// The unexpired session sealed in the request's `kind` cookie.
fn open_session(key: &cookie::Key, kind: &SessionKind, headers: &HeaderMap, now: i64) -> Option<Session> {
    let sealed = find_cookie(headers, kind.cookie)?.into_owned();
    let plain = CookieJar::new().private(key).decrypt(sealed)?;
    let s: Session = serde_json::from_str(plain.value()).ok()?;
    (s.exp > now).then_some(s)
}

impl AuthServer {
    fn set_cookie(&self, c: CookieBuilder<'_>) -> Option<HeaderValue> {
        set_cookie(c, self.cfg.is_https())
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
        open_session(self.session_key.cookie_key(), kind, headers, now)
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
        Ok(self.set_cookie(
            Cookie::build(kind.cookie)
                .path(kind.path)
                .same_site(kind.same_site)
                .removal(),
        ))
    }

    fn session_cookie(&self, kind: &SessionKind, s: &Session) -> Option<HeaderValue> {
        seal_session(self.session_key.cookie_key(), kind, s, self.cfg.is_https())
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
        let c = self.set_cookie(
            Cookie::build((CSRF_COOKIE, t.clone()))
                .path("/")
                .same_site(SameSite::Strict),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;

    fn session(now: i64) -> Session {
        Session {
            sid: secrets::random_token(),
            sub: "alice".into(),
            auth_time: now,
            exp: now + USER.ttl,
            clients: Vec::new(),
        }
    }

    /// The request a browser sends back: `name=value` of a Set-Cookie.
    fn request_with(set_cookie: &HeaderValue, rename: Option<(&str, &str)>) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split_once(';').unwrap().0;
        let pair = match rename {
            Some((from, to)) => pair.replacen(from, to, 1),
            None => pair.to_string(),
        };
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        h
    }

    #[test]
    fn session_cookie_keeps_its_attributes_and_opens_only_under_its_name_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::session::SessionKey::load_or_create(dir.path()).unwrap();
        let key = key.cookie_key();
        let now = 1_700_000_000;
        let s = session(now);
        let set = seal_session(key, &USER, &s, true).unwrap();
        let text = set.to_str().unwrap();
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=28800"] {
            assert!(text.split("; ").any(|a| a == attr), "{attr} missing: {text}");
        }
        assert!(!text.contains("alice"), "the subject is sealed: {text}");
        let admin = seal_session(key, &ADMIN, &s, false).unwrap();
        let admin = admin.to_str().unwrap();
        assert!(admin.contains("; Path=/admin") && admin.contains("SameSite=Strict") && !admin.contains("Secure"));

        assert_eq!(
            open_session(key, &USER, &request_with(&set, None), now),
            Some(s.clone())
        );
        assert_eq!(
            open_session(key, &USER, &request_with(&set, None), s.exp),
            None,
            "expired"
        );
        // The old HMAC covered the value only: the same value under the
        // admin cookie's name passed the cookie check (the store's kind
        // refused it later). The jar authenticates the name too.
        let renamed = request_with(&set, Some(("gh_session=", "gh_admin=")));
        assert_eq!(open_session(key, &ADMIN, &renamed, now), None);
        let other = crate::keys::session::SessionKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_eq!(
            open_session(other.cookie_key(), &USER, &request_with(&set, None), now),
            None
        );
    }

    #[test]
    fn tampered_and_old_format_session_cookies_are_refused() {
        let key = cookie::Key::generate();
        let now = 1_700_000_000;
        let set = seal_session(&key, &USER, &session(now), false).unwrap();
        let pair = set.to_str().unwrap().split_once(';').unwrap().0.to_string();
        let value = pair.strip_prefix("gh_session=").unwrap();
        let mut h = HeaderMap::new();
        for i in [0, value.len() / 2, value.len() - 2] {
            let mut bytes = value.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            h.insert(
                COOKIE,
                HeaderValue::from_str(&format!("gh_session={tampered}")).unwrap(),
            );
            assert_eq!(open_session(&key, &USER, &h, now), None, "byte {i} changed");
        }
        // A cookie of the hand-made format (base64url JSON "." HMAC tag):
        // sessions from before the cookie crate end at the upgrade.
        let json = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session(now)).unwrap());
        let tag = URL_SAFE_NO_PAD.encode([0u8; 32]);
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("gh_session={json}.{tag}")).unwrap(),
        );
        assert_eq!(open_session(&key, &USER, &h, now), None);
    }

    #[test]
    fn the_removal_cookie_keeps_the_session_attributes() {
        let gone = set_cookie(
            Cookie::build(ADMIN.cookie)
                .path(ADMIN.path)
                .same_site(ADMIN.same_site)
                .removal(),
            true,
        )
        .unwrap();
        let gone = gone.to_str().unwrap();
        assert!(gone.starts_with("gh_admin=;"), "{gone}");
        for attr in ["Max-Age=0", "Path=/admin", "SameSite=Strict", "HttpOnly", "Secure"] {
            assert!(gone.split("; ").any(|a| a == attr), "{attr} missing: {gone}");
        }
    }
}
