//! Refresh token grant: trade a refresh token for a new access token (and,
//! with rotation, a new refresh token; the old one stops working).
//!
//!     cargo run --example refresh -- [ISSUER] [REFRESH_TOKEN]
//!
//! Without REFRESH_TOKEN it first gets one with the password grant as alice
//! (the embedded demo's user). The client is `printer` / `printer-demo-secret`
//! (override with CLIENT_ID / CLIENT_SECRET).

mod common;

use oauth2::{RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let given = args.next();
    let client_id = std::env::var("CLIENT_ID").unwrap_or_else(|_| "printer".into());
    let secret = std::env::var("CLIENT_SECRET").unwrap_or_else(|_| "printer-demo-secret".into());

    let (http, client) = common::token_client(&issuer, client_id, secret).await?;
    let refresh = match given {
        Some(t) => RefreshToken::new(t),
        None => {
            let first = client
                .exchange_password(
                    &ResourceOwnerUsername::new("alice".into()),
                    &ResourceOwnerPassword::new("wonderland".into()),
                )
                .add_scope(Scope::new("photos".into()))
                .request_async(&http)
                .await?;
            println!("password grant:\n{}", serde_json::to_string_pretty(&first)?);
            first.refresh_token().ok_or("no refresh token issued")?.clone()
        }
    };
    let token = client.exchange_refresh_token(&refresh).request_async(&http).await?;
    println!("refresh grant:\n{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
