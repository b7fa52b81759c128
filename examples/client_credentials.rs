//! Client credentials grant: the client asks for a token on its own behalf.
//!
//!     cargo run --example client_credentials -- [ISSUER] [CLIENT_ID] [CLIENT_SECRET] [SCOPE]
//!
//! Defaults fit the embedded demo (`gatehouse serve`).

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, Scope, TokenUrl};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let client_id = args.next().unwrap_or_else(|| "printer".into());
    let secret = args.next().unwrap_or_else(|| "printer-demo-secret".into());
    let scope = args.next().unwrap_or_else(|| "photos".into());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Only the issuer is configured: the token endpoint comes from discovery.
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
        .exchange_client_credentials()
        .add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_string())))
        .request_async(&http)
        .await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
