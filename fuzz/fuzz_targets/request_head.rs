//! The gateway's checks of a client's request head before anything else
//! reads it: `forward::check_request_head` (one valid Host, a valid
//! authority, only the chunked transfer coding, Content-Length in its
//! plain form) and `forward::strip_hop_by_hop` (hop-by-hop fields and
//! every field `Connection` names removed). Input: header lines
//! `name: value` separated by '\n'; the first line picks the version.
//! Properties:
//! (a) no panic;
//! (b) an accepted Host / authority is one `host[:port]` that http's own
//!     URI parser reads back as the same authority, with no user info,
//!     path, query, list separator or whitespace, and a port <= 65535;
//! (c) an accepted Transfer-Encoding is exactly one `chunked`;
//! (d) an accepted Content-Length has no leading zero;
//! (e) after stripping, no hop-by-hop field and no field named in any
//!     `Connection` value remains.
#![no_main]

use gatehouse::gateway::upstream::forward::{check_request_head, strip_hop_by_hop};
use http::header::{HeaderName, HeaderValue};
use http::{Request, Version};
use libfuzzer_sys::fuzz_target;

const HOP: [&str; 9] = [
    "connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "keep-alive",
    "proxy-connection",
];

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or(b"");
    let version = if first.first().is_some_and(|b| b & 1 == 1) {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let mut req = Request::builder().version(version);
    if let Some(authority) = first.get(1..).filter(|a| !a.is_empty()) {
        let mut uri = b"http://".to_vec();
        uri.extend_from_slice(authority);
        uri.push(b'/');
        match http::Uri::try_from(uri) {
            Ok(u) => req = req.uri(u),
            Err(_) => return,
        }
    }
    let Ok(req) = req.body(()) else { return };
    let (mut parts, ()) = req.into_parts();
    for line in lines.take(64) {
        let Some(i) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(&line[..i]),
            HeaderValue::from_bytes(line[i + 1..].trim_ascii()),
        ) else {
            continue;
        };
        parts.headers.append(n, v);
    }
    let connection_named: Vec<String> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .filter(|t| HeaderName::from_bytes(t.as_bytes()).is_ok())
        .collect();

    if check_request_head(&mut parts).is_ok() {
        let hosts: Vec<_> = parts.headers.get_all(http::header::HOST).iter().collect();
        assert!(hosts.len() <= 1);
        let mut authorities: Vec<&[u8]> = hosts.iter().map(|h| h.as_bytes()).collect();
        if let Some(a) = parts.uri.authority() {
            authorities.push(a.as_str().as_bytes());
        }
        for a in authorities {
            assert!(!a.iter().any(|b| b"@/?#, \t\\\"".contains(b)), "{a:?}");
            let parsed = http::uri::Authority::try_from(a).expect("an accepted host parses as an authority");
            assert_eq!(parsed.as_str().as_bytes(), a);
            let host_end = if a.starts_with(b"[") {
                a.iter()
                    .position(|b| *b == b']')
                    .expect("a bracketed literal is closed")
                    + 1
            } else {
                a.iter().position(|b| *b == b':').unwrap_or(a.len())
            };
            if host_end < a.len() {
                let port = std::str::from_utf8(&a[host_end + 1..]).unwrap();
                let n = port.parse::<u16>().unwrap_or_else(|_| panic!("port {port:?}"));
                assert_eq!(parsed.port_u16(), Some(n));
            }
        }
        let te: Vec<_> = parts.headers.get_all(http::header::TRANSFER_ENCODING).iter().collect();
        assert!(te.len() <= 1);
        if let Some(t) = te.first() {
            assert!(t.as_bytes().eq_ignore_ascii_case(b"chunked"));
        }
        if let Some(cl) = parts.headers.get(http::header::CONTENT_LENGTH) {
            let b = cl.as_bytes();
            assert!(b.len() <= 1 || b[0] != b'0', "{b:?}");
        }
    }

    let _ = strip_hop_by_hop(&mut parts.headers);
    for h in HOP {
        assert!(!parts.headers.contains_key(h), "{h} left");
    }
    for n in connection_named {
        if n == "close" || n == "keep-alive" || n == "upgrade" {
            continue;
        }
        assert!(!parts.headers.contains_key(n.as_str()), "{n} named by Connection left");
    }
});
