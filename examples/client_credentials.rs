//! Client credentials grant: the client asks for a token on its own behalf.
//!
//!     cargo run --example client_credentials -- [ISSUER] [CLIENT_ID] [CLIENT_SECRET] [SCOPE]
//!
//! Defaults fit the embedded demo (`gatehouse serve`).

mod common;

use oauth2::Scope;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let client_id = args.next().unwrap_or_else(|| "printer".into());
    let secret = args.next().unwrap_or_else(|| "printer-demo-secret".into());
    let scope = args.next().unwrap_or_else(|| "photos".into());

    let (http, client) = common::token_client(&issuer, client_id, secret).await?;
    let token = client
        .exchange_client_credentials()
        .add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_string())))
        .request_async(&http)
        .await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
