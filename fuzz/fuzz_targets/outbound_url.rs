//! `outbound::Policy::check_url`, the SSRF guard's registration-time check
//! of a URL a client makes the server fetch (`jwks_uri`, …): never panics;
//! an accepted URL is http(s) without credentials, its host is no
//! loopback, private, link-local, shared (CGNAT), multicast, broadcast,
//! documentation or unspecified address by the standard library's own
//! predicates (inside IPv4-mapped IPv6 too) and no special-use name; the
//! normalised URL passes again unchanged; a looser policy never refuses
//! what the strict one accepts.
#![no_main]

use gatehouse::outbound::Policy;
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fn public_v4(a: Ipv4Addr) -> bool {
    let [x, y, ..] = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_unspecified()
        || a.is_documentation()
        || (x == 100 && (64..128).contains(&y))
        || x >= 240
        || x == 0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let strict = Policy::default();
    let Ok(url) = strict.check_url(s) else { return };
    assert!(matches!(url.scheme(), "http" | "https"), "{s:?}");
    assert!(url.username().is_empty() && url.password().is_none(), "{s:?}");
    match url.host() {
        None => panic!("{s:?} accepted without a host"),
        Some(url::Host::Ipv4(a)) => assert!(public_v4(a), "{s:?} → {a}"),
        Some(url::Host::Ipv6(a)) => {
            assert!(
                !a.is_loopback() && !a.is_unspecified() && !a.is_multicast(),
                "{s:?} → {a}"
            );
            if let Some(v4) = a.to_ipv4_mapped() {
                assert!(public_v4(v4), "{s:?} → {a}");
            }
            // fc00::/7 unique local, fe80::/10 link-local.
            let first = a.segments()[0];
            assert!(first & 0xfe00 != 0xfc00 && first & 0xffc0 != 0xfe80, "{s:?} → {a}");
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            assert!(
                d != "localhost" && !d.ends_with(".localhost") && !d.ends_with(".internal"),
                "{s:?} → {d}"
            );
            assert!(d.contains('.'), "{s:?}: single label {d:?} accepted");
        }
    }
    let again = strict
        .check_url(url.as_str())
        .unwrap_or_else(|e| panic!("{s:?} → {url} refused on the second pass: {e}"));
    assert_eq!(again.as_str(), url.as_str(), "{s:?}");
    let loose = Policy {
        allow_networks: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        allow_hosts: vec!["*.example".into(), "localhost".into()],
    };
    assert!(
        loose.check_url(s).is_ok(),
        "{s:?}: accepted by the strict policy, refused by a looser one"
    );
});
