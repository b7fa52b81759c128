//! Another authorization server's RFC 7662 answers (`auth = { kind =
//! "introspection" }`): never a panic; "active" only for a JSON object
//! whose `active` is `true`, and an answer without a boolean `active` is
//! no answer at all (503), never "inactive".
#![no_main]

use gatehouse::token::introspect::read_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(data).ok();
    match read_answer(data) {
        Ok(true) => {
            let m = parsed.expect("active, so JSON");
            assert_eq!(m.get("active"), Some(&serde_json::Value::Bool(true)));
        }
        Ok(false) => {
            let m = parsed.expect("inactive, so JSON");
            assert!(matches!(m.get("active"), Some(serde_json::Value::Bool(_))));
        }
        Err(_) => {
            if let Some(m) = parsed {
                let dates_ok = ["exp", "iat", "nbf"]
                    .iter()
                    .all(|k| m.get(*k).is_none_or(|v| v.is_number()));
                assert!(!matches!(m.get("active"), Some(serde_json::Value::Bool(_))) || !dates_ok);
            }
        }
    }
});
