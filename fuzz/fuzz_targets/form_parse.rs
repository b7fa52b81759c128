//! `Form::parse`, the authorization server's form-body parser (token,
//! revocation, introspection, authorize POST): each parameter at most once,
//! empty values read as absent (RFC 6749 §3.1, §3.2).
#![no_main]

use gatehouse::authz::form::{Form, REPEATABLE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let repeated = pairs
        .iter()
        .enumerate()
        .any(|(i, (k, _))| !REPEATABLE.contains(&k.as_str()) && pairs[..i].iter().any(|(pk, _)| pk == k));
    match Form::parse(data) {
        Ok(form) => {
            assert!(!repeated, "a repeated parameter was accepted");
            for (k, v) in &pairs {
                if REPEATABLE.contains(&k.as_str()) {
                    let all: Vec<&str> = pairs
                        .iter()
                        .filter(|(pk, pv)| pk == k && !pv.is_empty())
                        .map(|(_, pv)| pv.as_str())
                        .collect();
                    assert_eq!(form.get_all(k).collect::<Vec<_>>(), all);
                    assert_eq!(form.get(k), all.first().copied());
                    continue;
                }
                let got = form.get(k);
                if v.is_empty() {
                    assert_eq!(got, None, "an empty value must read as absent");
                } else {
                    assert_eq!(got, Some(v.as_str()));
                    assert_eq!(form.require(k).ok(), Some(v.as_str()));
                }
            }
        }
        Err(_) => assert!(repeated, "refused a form without repeated parameters"),
    }
});
