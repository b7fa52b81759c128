//! `gateway::path::canonical`, the request-path canonicaliser that runs
//! before routing, with three properties:
//! (a) canonical(canonical(x)) == canonical(x);
//! (b) the result starts with '/', has no '.' or '..' segment and no '//';
//! (c) differential: an independent RFC 3986 §5.2.4 remove_dot_segments
//!     (written below, over the form with unreserved escapes decoded, empty
//!     segments merged afterwards) picks the same route of a small table,
//!     so the canonical path never routes more permissively than an RFC
//!     3986 resolver (the upstream) would.
#![no_main]

use gatehouse::gateway::path::canonical;
use gatehouse::gateway::routing::prefix_matches;
use libfuzzer_sys::fuzz_target;

/// An open and a protected API side by side, and nested prefixes.
const ROUTES: [&str; 5] = ["/", "/public", "/admin-api", "/admin-api/open", "/public/x"];

fn route(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .filter(|p| prefix_matches(p, path))
        .max_by_key(|p| p.len())
        .copied()
}

/// RFC 3986 §2.3/§6.2.2.2: decode escapes of unreserved characters only.
fn decode_unreserved(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                if v.is_ascii_alphanumeric() || b"-._~".contains(&v) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("only ASCII was decoded")
}

/// RFC 3986 §5.2.4, step by step as the RFC writes it.
fn remove_dot_segments(input: &str) -> String {
    fn pop_last(out: &mut String) {
        let at = out.rfind('/').unwrap_or(0);
        out.truncate(at);
    }
    let mut inp = input.to_string();
    let mut out = String::new();
    while !inp.is_empty() {
        if inp.starts_with("../") {
            inp.drain(..3);
        } else if inp.starts_with("./") {
            inp.drain(..2);
        } else if inp.starts_with("/./") {
            inp.replace_range(..3, "/");
        } else if inp == "/." {
            inp = "/".into();
        } else if inp.starts_with("/../") {
            inp.replace_range(..4, "/");
            pop_last(&mut out);
        } else if inp == "/.." {
            inp = "/".into();
            pop_last(&mut out);
        } else if inp == "." || inp == ".." {
            inp.clear();
        } else {
            let start = usize::from(inp.starts_with('/'));
            let end = inp[start..].find('/').map_or(inp.len(), |i| i + start);
            out.push_str(&inp[..end]);
            inp.drain(..end);
        }
    }
    out
}

fn merge_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(x) = std::str::from_utf8(data) else { return };
    let Ok(c) = canonical(x) else { return };
    // (a)
    match canonical(&c) {
        Ok(again) => assert_eq!(again, c, "not idempotent for {x:?}"),
        Err(e) => panic!("{x:?} -> {c:?}, which is then refused: {e:?}"),
    }
    // (b)
    assert!(c.starts_with('/'), "{x:?} -> {c:?}");
    assert!(!c.contains("//"), "{x:?} -> {c:?}");
    for seg in c.split('/') {
        assert!(seg != "." && seg != "..", "{x:?} -> {c:?} keeps a dot-segment");
    }
    // (c)
    let reference = merge_slashes(&remove_dot_segments(&decode_unreserved(x)));
    assert_eq!(
        route(&c),
        route(&reference),
        "{x:?}: canonical {c:?}, RFC 3986 resolver {reference:?}"
    );
});
