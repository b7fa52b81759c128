//! `client_auth::basic_credentials`: `Authorization: Basic` client
//! credentials, form-urlencoded before base64 (RFC 6749 §2.3.1), with odd
//! UTF-8, colons and escapes.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse::authz::client_auth::basic_credentials;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// application/x-www-form-urlencoded decoding of one whole value (WHATWG
/// URL §5.1): '+' is a space, `%XX` a byte, the result read as UTF-8
/// (lossy). Written here, independently of the code under test.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check(headers: &HeaderMap) {
    let Ok(Some((id, secret))) = basic_credentials(headers) else {
        return;
    };
    let v = headers[AUTHORIZATION].to_str().unwrap();
    let (_, b64) = v.trim().split_once(' ').unwrap();
    let raw = STANDARD.decode(b64.trim()).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (raw_id, raw_secret) = raw.split_once(':').unwrap();
    assert_eq!(id, form_decode(raw_id), "client id of {raw:?}");
    assert_eq!(secret, form_decode(raw_secret), "secret of {raw:?}");
}

fuzz_target!(|data: &[u8]| {
    // 1. The header as sent.
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, v);
        check(&h);
    }
    // 2. Credentials encoded the way a client must (RFC 6749 §2.3.1) come
    //    back unchanged.
    let text = String::from_utf8_lossy(data);
    let (id, secret) = text.split_once('\u{0}').unwrap_or((&text, ""));
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let value = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))));
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
    match basic_credentials(&h) {
        Ok(Some((i, s))) => {
            assert_eq!(i, id);
            assert_eq!(s, secret);
        }
        other => panic!("{value:?}: {other:?}"),
    }
    check(&h);
});
