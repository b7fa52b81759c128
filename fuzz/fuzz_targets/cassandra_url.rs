//! The `cassandra://` store URL parser (`store.url`, `GATEHOUSE_STORE_URL`).
//! Properties: no panic on any input; what it accepts has 1–64 contact
//! points of `host:port` with a non-zero port, a keyspace that is a plain
//! CQL identifier (so it can be quoted into DDL), and a password only with
//! a user name; the redacted form never contains the password.
#![no_main]

use gatehouse::store::cassandra::{url::redact, CassandraUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = redact(s);
    let Ok(u) = CassandraUrl::parse(s) else { return };
    assert!(!u.hosts.is_empty() && u.hosts.len() <= 64);
    for h in &u.hosts {
        let (_, port) = h.rsplit_once(':').expect("host:port");
        assert!(port.parse::<u16>().unwrap() > 0);
    }
    assert!(u.keyspace.len() <= 48);
    assert!(u.keyspace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    assert!(u.keyspace.as_bytes()[0].is_ascii_alphabetic());
    assert!(u.password.is_none() || u.username.is_some());
    if let Some(p) = &u.password {
        // The user part of the redacted URL keeps the user name only.
        let r = redact(s);
        let authority = r["cassandra://".len()..].split('/').next().unwrap_or("");
        if !p.is_empty() && p != "***" {
            assert!(!authority.contains(&format!(":{p}@")), "password kept in {r:?}");
        }
    }
});
