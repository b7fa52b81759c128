//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9):
//! the client proves itself with a JWT signed by its own key (registered
//! with `gatehouse client add --jwks FILE`) instead of a secret, here for
//! the client credentials grant.
//!
//!     cargo run --example private_key_jwt -- ISSUER CLIENT_ID KEY_PEM KID [SCOPE] [RS256|ES256]
//!
//! The client assertion: `iss` = `sub` = CLIENT_ID, `aud` = the token
//! endpoint (from discovery), a 1-minute `exp` and a random `jti`.

mod common;

use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, client_id, key_pem, kid, rest @ ..] = args.as_slice() else {
        return Err("usage: private_key_jwt ISSUER CLIENT_ID KEY_PEM KID [SCOPE] [RS256|ES256]".into());
    };
    let scope = rest.first().map(String::as_str).unwrap_or("");
    let alg = rest.get(1).map(String::as_str).unwrap_or("ES256");

    let http = common::http_client()?;
    let token_endpoint = common::token_endpoint(&http, issuer).await?;
    let (alg, key) = common::signing_key(key_pem, alg)?;
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.clone());
    let now = common::now();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": token_endpoint,
        "iat": now, "exp": now + 60, "jti": common::jti(),
    });
    let client_assertion = jsonwebtoken::encode(&header, &claims, &key)?;

    let mut form = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", client_assertion.as_str()),
    ];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let token = common::token_request(&http, &token_endpoint, None, &form).await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
