//! `user_code::normalise`, the device flow's reading of what a user types
//! on the verification page (RFC 8628 §6.1): never panics, accepts only
//! 8 letters of the alphabet (dashes and spaces ignored, any case), and
//! what it accepts reads back the same from its display form and in
//! lower case.
#![no_main]

use gatehouse::authz::user_code::{display, normalise, ALPHABET, LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Some(code) = normalise(s) {
        assert_eq!(code.len(), LEN, "{s:?} → {code:?}");
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{s:?} → {code:?}");
        assert_eq!(normalise(&display(&code)).as_deref(), Some(code.as_str()));
        assert_eq!(normalise(&s.to_ascii_lowercase()).as_deref(), Some(code.as_str()));
        assert_eq!(normalise(&s.to_ascii_uppercase()).as_deref(), Some(code.as_str()));
    }
});
