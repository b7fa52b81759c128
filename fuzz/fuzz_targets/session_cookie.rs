//! Login-session cookie decoding (`AuthServer::session`: the Cookie header,
//! `gh_session=<payload>.<tag>`, HMAC tag check, base64url, JSON) and the
//! CSRF double-submit check. Properties: a cookie the server did not sign
//! is never accepted; one it signed round-trips while it has not expired.
//!
//! Input: a Cookie header; or a 0 byte then `exp`, `auth_time` (8 bytes
//! each) and a subject, made into a session the server signs itself.
#![no_main]

mod common;

use gatehouse::authz::session::{cookie, Session, CSRF_COOKIE, SESSION_COOKIE};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fn headers(v: HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(COOKIE, v);
    h
}

fn i64_at(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    i64::from_le_bytes(a)
}

fuzz_target!(|data: &[u8]| {
    let server = common::auth_server();
    match data.split_first() {
        Some((0, rest)) => {
            let exp = i64_at(rest);
            let auth_time = i64_at(rest.get(8..).unwrap_or(&[]));
            let sub = String::from_utf8_lossy(rest.get(16..).unwrap_or(&[])).into_owned();
            let s = Session { sub, auth_time, exp };
            let set = server.session_cookie(&s).expect("a session always makes a cookie");
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let h = headers(HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
            let back = server.session(&h, NOW);
            if exp > NOW {
                assert_eq!(back, Some(s.clone()));
            } else {
                assert_eq!(back, None, "an expired session was accepted");
            }
            // One flipped character of the cookie value is refused (or
            // decodes to the same bytes, for base64url's unused low bits).
            let (name, value) = pair.split_once('=').unwrap();
            if let Some(at) = rest.get(16).map(|b| *b as usize % value.len()) {
                let mut v = value.as_bytes().to_vec();
                v[at] = if v[at] == b'A' { b'B' } else { b'A' };
                let h = headers(HeaderValue::from_bytes(&[name.as_bytes(), b"=", &v].concat()).unwrap());
                if let Some(got) = server.session(&h, NOW) {
                    assert_eq!(got, s, "a tampered cookie was accepted as another session");
                }
            }
        }
        _ => {
            let Ok(v) = HeaderValue::from_bytes(data) else { return };
            let h = headers(v);
            // Nothing the fuzzer writes carries our HMAC tag.
            assert_eq!(server.session(&h, NOW), None, "an unsigned session cookie was accepted");
            let _ = cookie(&h, SESSION_COOKIE);
            let form_token = cookie(&h, "form");
            if server.csrf_ok(&h, form_token) {
                let c = cookie(&h, CSRF_COOKIE).unwrap();
                assert!(c.len() >= 32 && Some(c) == form_token);
            }
            let (token, set) = server.csrf_token(&h);
            assert!(token.len() >= 32);
            if set.is_none() {
                assert_eq!(cookie(&h, CSRF_COOKIE), Some(token.as_str()));
            }
        }
    }
});
