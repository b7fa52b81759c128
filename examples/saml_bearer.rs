//! SAML 2.0 bearer grant (RFC 7522 §2.1): trade a SAML assertion signed by
//! an identity provider (`[[saml_idps]]`) for an access token for the user
//! its NameID names.
//!
//!     cargo run --example saml_bearer -- ISSUER CLIENT_ID CLIENT_SECRET ASSERTION_XML [SCOPE]
//!
//! ASSERTION_XML is a signed `<saml:Assertion>` (for instance signed with
//! `xmlsec1 --sign`, as the README shows); it is sent base64url-encoded.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, client_id, secret, file, rest @ ..] = args.as_slice() else {
        return Err("usage: saml_bearer ISSUER CLIENT_ID CLIENT_SECRET ASSERTION_XML [SCOPE]".into());
    };
    let scope = rest.first().map(String::as_str).unwrap_or("");
    let xml = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let assertion = URL_SAFE_NO_PAD.encode(xml);

    let http = common::http_client()?;
    let token_endpoint = common::token_endpoint(&http, issuer).await?;
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:saml2-bearer"),
        ("assertion", assertion.as_str()),
    ];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let token = common::token_request(&http, &token_endpoint, Some((client_id, secret)), &form).await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
