//! Rate-limit key extraction on arbitrary `X-Forwarded-For` lines: the
//! client address is the peer unless the peer is a trusted proxy, and then
//! always an address that appears in the header or the peer itself; never
//! a panic, whatever the lines hold.
#![no_main]

use gatehouse::gateway::policy::rate_limit::client_ip;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let mut b = http::Request::builder();
    for line in data.split(|c| *c == b'\n').take(8) {
        if let Ok(v) = http::HeaderValue::from_bytes(line) {
            b = b.header("x-forwarded-for", v);
        }
    }
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    let outsider: IpAddr = "203.0.113.1".parse().unwrap();
    assert_eq!(client_ip(&parts, outsider, &trusted), outsider);
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let ip = client_ip(&parts, peer, &trusted);
    if ip != peer {
        let text = String::from_utf8_lossy(data);
        assert!(
            text.split([',', '\n'])
                .any(|h| h.trim().parse::<IpAddr>().ok() == Some(ip)),
            "{ip} is not in {text:?}"
        );
    }
});
