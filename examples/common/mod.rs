//! What the command-line samples share: only the issuer is configured, the
//! token endpoint comes from discovery.

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenUrl};
use std::error::Error;

/// A client that knows its token endpoint (oauth2's type-state form).
pub type TokenClient = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub async fn token_client(
    issuer: &str,
    client_id: String,
    secret: String,
) -> Result<(reqwest::Client, TokenClient), Box<dyn Error>> {
    // oauth2 requires a client that does not follow redirects (SSRF).
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
    Ok((http, client))
}
