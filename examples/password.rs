//! Resource owner password credentials grant: a trusted client sends the
//! user's name and password and gets a token (and a refresh token).
//!
//!     cargo run --example password -- [ISSUER] [USERNAME] [PASSWORD] [SCOPE]
//!
//! The client is `printer` / `printer-demo-secret` of the embedded demo
//! (override with CLIENT_ID / CLIENT_SECRET).

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenUrl};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let username = args.next().unwrap_or_else(|| "alice".into());
    let password = args.next().unwrap_or_else(|| "wonderland".into());
    let scope = args.next().unwrap_or_else(|| "photos".into());
    let client_id = std::env::var("CLIENT_ID").unwrap_or_else(|_| "printer".into());
    let secret = std::env::var("CLIENT_SECRET").unwrap_or_else(|_| "printer-demo-secret".into());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let discovery: serde_json::Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token_endpoint = discovery["token_endpoint"].as_str().ok_or("no token_endpoint")?;

    let client = BasicClient::new(ClientId::new(client_id))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(token_endpoint.to_string())?);
    let token = client
        .exchange_password(
            &ResourceOwnerUsername::new(username),
            &ResourceOwnerPassword::new(password),
        )
        .add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_string())))
        .request_async(&http)
        .await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
