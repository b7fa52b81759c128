//! `token_exchange::parse_request`, the reading of an RFC 8693 §2.1 token
//! exchange request from the token endpoint's form, and `act_depth`, the
//! bound on delegation chains: never panics; what it accepts has a subject
//! token within the size bound, a known token type, an actor token only
//! with its type, at most `MAX_TARGETS` distinct targets of which every
//! `resource` is an absolute URI without a fragment; an `act` chain is
//! accepted only up to `MAX_ACT_DEPTH` objects deep.
#![no_main]

use gatehouse::authz::form::Form;
use gatehouse::authz::grants::token_exchange::{act_depth, parse_request, MAX_ACT_DEPTH, MAX_TARGETS};
use libfuzzer_sys::fuzz_target;

const MAX_TOKEN: usize = 512;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = Form::parse(data) {
        if let Ok(r) = parse_request(&form, MAX_TOKEN) {
            assert!(!r.subject_token.is_empty() && r.subject_token.len() <= MAX_TOKEN);
            assert_eq!(form.get("subject_token"), Some(r.subject_token));
            assert_eq!(r.actor.is_some(), form.get("actor_token").is_some());
            assert_eq!(
                form.get("actor_token_type").is_some(),
                form.get("actor_token").is_some()
            );
            if let Some((a, _)) = r.actor {
                assert!(a.len() <= MAX_TOKEN);
            }
            assert!(r.targets.len() <= MAX_TARGETS);
            for (i, t) in r.targets.iter().enumerate() {
                assert!(!r.targets[..i].contains(t), "target {t:?} repeated");
            }
            for res in form.get_all("resource") {
                let u = url::Url::parse(res).expect("an accepted resource parses");
                assert!(u.fragment().is_none() && !u.cannot_be_a_base());
                assert!(r.targets.contains(&res));
            }
            for a in form.get_all("audience") {
                assert!(r.targets.contains(&a));
            }
        }
    }
    // The same bytes as a would-be `act` claim.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(d) = act_depth(Some(&v)) {
            assert!((1..=MAX_ACT_DEPTH).contains(&d));
            let mut cur = Some(&v);
            for _ in 0..d {
                cur = cur.and_then(|o| o.as_object()).and_then(|o| o.get("act"));
            }
            assert!(cur.is_none(), "act_depth stopped before the end of the chain");
        }
    }
});
