//! Where the gateway finds a bearer token: `extract::bearer` (RFC 6750
//! §2.1 and the Tencent `Bearer id_token="…"` form) and `extract::token`
//! for each configured location (header, custom header, query, cookie).
#![no_main]

use gatehouse::config::TokenLocation;
use gatehouse::token::extract::{bearer, token, Found};
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

fn check_bearer(v: &str) {
    if let Some(t) = bearer(v) {
        assert!(!t.is_empty());
        assert!(!t.contains(char::is_whitespace), "{t:?}");
        assert!(v.contains(t));
        let scheme = v.trim_start().get(..6).unwrap_or("");
        assert!(scheme.eq_ignore_ascii_case("bearer"), "{v:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = std::str::from_utf8(data) {
        check_bearer(v);
    }
    let mut b = Request::builder();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        b = b
            .header(AUTHORIZATION, v.clone())
            .header(HeaderName::from_static("x-token"), v.clone())
            .header(COOKIE, v);
    }
    let uri = format!("/api?{}", String::from_utf8_lossy(data));
    b = b.uri(uri.as_str());
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    for loc in [
        TokenLocation::Header(AUTHORIZATION),
        TokenLocation::Header(HeaderName::from_static("x-token")),
        TokenLocation::Query("access_token".into()),
        TokenLocation::Cookie("access_token".into()),
    ] {
        match token(&parts, &loc) {
            Found::Token(t) => {
                assert!(!t.is_empty(), "{loc:?}: empty token");
                if loc == TokenLocation::Header(AUTHORIZATION) {
                    let v = parts.headers[AUTHORIZATION].to_str().unwrap();
                    // Bearer, or the DPoP scheme (RFC 9449 §7.1).
                    let found = bearer(v).or_else(|| gatehouse::token::dpop::scheme_token(v));
                    assert_eq!(found, Some(&*t));
                }
            }
            Found::None | Found::Unusable => {}
        }
    }
});
