//! Resource owner password credentials grant: a trusted client sends the
//! user's name and password and gets a token (and a refresh token).
//!
//!     cargo run --example password -- [ISSUER] [USERNAME] [PASSWORD] [SCOPE]
//!
//! The client is `printer` / `printer-demo-secret` of the embedded demo
//! (override with CLIENT_ID / CLIENT_SECRET).

mod common;

use oauth2::{ResourceOwnerPassword, ResourceOwnerUsername, Scope};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let username = args.next().unwrap_or_else(|| "alice".into());
    let password = args.next().unwrap_or_else(|| "wonderland".into());
    let scope = args.next().unwrap_or_else(|| "photos".into());
    let client_id = std::env::var("CLIENT_ID").unwrap_or_else(|_| "printer".into());
    let secret = std::env::var("CLIENT_SECRET").unwrap_or_else(|_| "printer-demo-secret".into());

    let (http, client) = common::token_client(&issuer, client_id, secret).await?;
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
