//! Login-session cookie decoding (`AuthServer::session`: the Cookie header
//! parsed by the cookie crate, `gh_session` opened by its private jar,
//! JSON) and the CSRF double-submit check. Properties: a cookie the server
//! did not seal is never accepted; one it sealed (`start_session`)
//! round-trips while it has not expired, and no longer once the session
//! has ended.
//!
//! Input: a Cookie header; or a 0 byte, then two 4-byte offsets from a
//! fixed clock (sign-in time, check time) and a subject, signed in by the
//! server itself.
#![no_main]

mod common;

use gatehouse::authz::session::{CSRF_COOKIE, SESSION_COOKIE};
use gatehouse::token::extract::cookie;
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fn headers(v: HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(COOKIE, v);
    h
}

fn offset_at(b: &[u8]) -> i64 {
    let mut a = [0u8; 4];
    a[..b.len().min(4)].copy_from_slice(&b[..b.len().min(4)]);
    i64::from(i32::from_le_bytes(a))
}

fuzz_target!(|data: &[u8]| {
    let server = common::auth_server();
    match data.split_first() {
        Some((0, rest)) => {
            let signed_in = NOW + offset_at(rest);
            let at = NOW + offset_at(rest.get(4..).unwrap_or(&[]));
            let sub = String::from_utf8_lossy(rest.get(8..).unwrap_or(&[])).into_owned();
            let (s, set) = common::block_on(server.start_session(sub, signed_in)).expect("start_session");
            let set = set.expect("a session always makes a cookie");
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let h = headers(HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
            let back = common::block_on(server.session(&h, at));
            if s.exp > at {
                assert_eq!(back, Some(s.clone()));
            } else {
                assert_eq!(back, None, "an expired session was accepted");
            }
            // One changed character of the cookie value is refused (or
            // decodes to the same bytes, for base64's unused low bits).
            let (name, value) = pair.split_once('=').unwrap();
            if let Some(i) = rest.get(8).map(|b| *b as usize % value.len()) {
                let mut v = value.as_bytes().to_vec();
                v[i] = if v[i] == b'A' { b'B' } else { b'A' };
                let h = headers(HeaderValue::from_bytes(&[name.as_bytes(), b"=", &v].concat()).unwrap());
                if let Some(got) = common::block_on(server.session(&h, signed_in)) {
                    assert_eq!(got, s, "a tampered cookie was accepted as another session");
                }
            }
            // Once ended, the same (validly sealed) cookie is refused.
            common::block_on(server.end_session(&s)).expect("end_session");
            assert_eq!(
                common::block_on(server.session(&h, signed_in)),
                None,
                "an ended session was accepted"
            );
        }
        _ => {
            let Ok(v) = HeaderValue::from_bytes(data) else { return };
            let h = headers(v);
            // Nothing the fuzzer writes is sealed under our key.
            assert_eq!(
                common::block_on(server.session(&h, NOW)),
                None,
                "an unsealed session cookie was accepted"
            );
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
