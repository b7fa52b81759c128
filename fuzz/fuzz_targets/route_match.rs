//! The route policies' matchers on arbitrary text: `hosts` patterns and a
//! request's Host, CORS origins (config patterns and request `Origin`),
//! and header-value templates. Never panics; a host a pattern matches is
//! always lowercase and portless; an origin `allows` echoes is exactly the
//! bytes that were sent; a template that parses renders literally only
//! when it has no placeholder.
#![no_main]

use gatehouse::config::policies::{request_host, serialise_origin, CorsSpec, HostPattern, OriginPattern, Template};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    // Split the input: a pattern, then a request value.
    let (pattern, value) = s.split_once('\n').unwrap_or((s, s));

    if let Some(h) = request_host(value) {
        assert!(!h.is_empty());
        assert_eq!(h, h.to_ascii_lowercase());
        if let Ok(p) = HostPattern::parse(pattern) {
            let _ = p.matches(&h);
            let _ = p.rank();
        }
    }

    if let Ok(p) = OriginPattern::parse(pattern) {
        let spec = CorsSpec {
            origins: Some(vec![p]),
            methods: vec![],
            headers: vec![],
            expose_headers: vec![],
            credentials: false,
            max_age: Duration::from_secs(1),
        };
        if let Some(echo) = spec.allows(value.as_bytes()) {
            assert_eq!(echo.as_bytes(), value.as_bytes());
            assert!(serialise_origin(value).is_some());
        }
    }

    if let Ok(t) = Template::parse(pattern) {
        if t.literal().is_some() {
            assert!(!pattern.contains("${"));
        }
    }
});
