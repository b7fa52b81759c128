//! JWT bearer grant (RFC 7523 §2.1): trade an assertion signed by a trusted
//! identity provider (`[[trusted_issuers]]`) for an access token for the
//! user it names.
//!
//!     cargo run --example jwt_bearer -- ISSUER CLIENT_ID CLIENT_SECRET \
//!         IDP_ISSUER IDP_KEY_PEM KID SUBJECT [SCOPE] [RS256|ES256]
//!
//! The assertion: `iss` = IDP_ISSUER, `sub` = SUBJECT, `aud` = the token
//! endpoint (from discovery), a 5-minute `exp` and a random `jti`, signed
//! with IDP_KEY_PEM under `kid` KID. The README walks through the setup.

mod common;

use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, client_id, secret, idp, key_pem, kid, subject, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: jwt_bearer ISSUER CLIENT_ID CLIENT_SECRET IDP_ISSUER IDP_KEY_PEM KID SUBJECT [SCOPE] [RS256|ES256]"
                .into(),
        );
    };
    let scope = rest.first().map(String::as_str).unwrap_or("");
    let alg = rest.get(1).map(String::as_str).unwrap_or("RS256");

    let http = common::http_client()?;
    let token_endpoint = common::token_endpoint(&http, issuer).await?;
    let (alg, key) = common::signing_key(key_pem, alg)?;
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.clone());
    let now = common::now();
    let claims = json!({
        "iss": idp, "sub": subject, "aud": token_endpoint,
        "iat": now, "exp": now + 300, "jti": common::jti(),
    });
    let assertion = jsonwebtoken::encode(&header, &claims, &key)?;

    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
    ];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let token = common::token_request(&http, &token_endpoint, Some((client_id, secret)), &form).await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
