//! The SAML 2.0 bearer assertion verifier (`authz::saml`): the
//! `assertion` parameter's base64url, the pre-parse refusals (size,
//! DOCTYPE, encoding, depth), the shape checks, libxmlsec1's signature
//! check and the RFC 7522 rules on the signed bytes. The seeds
//! (fuzz/corpus/saml_verify) are assertions signed by `xmlsec1` with the key
//! of fuzz/keys/saml-idp.crt, valid at the fixed `NOW`, plus the attacks of
//! tests/saml_bearer.rs (wrapping both ways, comment in NameID, DOCTYPE).
//!
//! Input: XML; or `#` then an `assertion` parameter (base64url).
#![no_main]

use gatehouse::authz::saml::{self, Expect, Idp};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const TOKEN: &str = "https://as.example/api/oauth/token";
const ENTITY: &str = "https://idp.example/saml";
/// The seeds are valid around this time (2030-03-17).
const NOW: i64 = 1_900_000_000;

fn idps() -> &'static [Idp] {
    static I: OnceLock<Vec<Idp>> = OnceLock::new();
    I.get_or_init(|| vec![Idp::new(ENTITY, include_str!("../keys/saml-idp.crt")).expect("fuzz/keys/saml-idp.crt")])
}

fuzz_target!(|data: &[u8]| {
    let xml = match data.split_first() {
        Some((b'#', param)) => {
            let Ok(param) = std::str::from_utf8(param) else { return };
            match saml::decode_param(param) {
                Ok(x) => x,
                Err(_) => return,
            }
        }
        _ => data.to_vec(),
    };
    let expect = Expect {
        audiences: &[TOKEN, "https://as.example"],
        recipient: TOKEN,
        now: NOW,
    };
    if let Ok(v) = saml::verify(&xml, idps(), &expect) {
        // Whatever was accepted obeys the rules.
        assert_eq!(v.issuer, ENTITY);
        assert!(!v.id.is_empty() && !v.subject.is_empty());
        assert!(!v.subject.contains('<'), "markup in the subject: {:?}", v.subject);
        assert!(v.expires_at > NOW - saml::LEEWAY, "accepted an expired assertion");
        assert!(v.expires_at <= NOW + saml::MAX_LIFETIME + saml::LEEWAY);
        let text = String::from_utf8_lossy(&xml);
        assert!(!text.to_ascii_uppercase().contains("<!DOCTYPE"), "accepted a DOCTYPE");
        assert!(xml.len() <= saml::MAX_ASSERTION_BYTES);
    }
});
