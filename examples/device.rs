//! Device authorization grant (RFC 8628) with the Rust `oauth2` crate: a
//! program with no browser (a TV app, a CLI) asks gatehouse for a code,
//! prints where to enter it, and polls until the user has allowed it on
//! another device (or denied it, or the code expired).
//!
//!     cargo run --example device -- [ISSUER] [CLIENT_ID] [SCOPE]
//!
//! CLIENT_SECRET in the environment makes it a confidential client; by
//! default it is the public client `tv` (see the README's walkthrough).
//! The endpoints come from discovery.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};
use std::error::Error;

/// What the device shows its user.
pub struct Prompt {
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
}

/// The whole device flow: discovery, the device authorization request,
/// `show` (the device tells its user where to go), and polling at the
/// server's interval (slow_down honoured) until an answer. Returns the
/// token response as JSON.
pub async fn sign_in(
    issuer: &str,
    client_id: &str,
    secret: Option<String>,
    scope: &str,
    show: impl FnOnce(Prompt),
) -> Result<serde_json::Value, Box<dyn Error + Send + Sync>> {
    // oauth2 requires a client that does not follow redirects (SSRF).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let discovery: serde_json::Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.trim_end_matches('/')
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let endpoint = |name: &str| {
        discovery[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("discovery has no {name}"))
    };
    let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_device_authorization_url(DeviceAuthorizationUrl::new(endpoint("device_authorization_endpoint")?)?)
        .set_token_uri(TokenUrl::new(endpoint("token_endpoint")?)?);
    match secret {
        Some(s) => client = client.set_client_secret(ClientSecret::new(s)),
        // A public client names itself in the body.
        None => client = client.set_auth_type(AuthType::RequestBody),
    }

    let mut request = client.exchange_device_code();
    for s in scope.split_whitespace() {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    let details: StandardDeviceAuthorizationResponse = request.request_async(&http).await?;
    show(Prompt {
        verification_uri: details.verification_uri().to_string(),
        verification_uri_complete: details.verification_uri_complete().map(|u| u.secret().to_string()),
        user_code: details.user_code().secret().to_string(),
    });

    let token = client
        .exchange_device_access_token(&details)
        .request_async(&http, tokio::time::sleep, None)
        .await?;
    let mut out = serde_json::to_value(&token)?;
    // Keep what a device usually needs in plain sight.
    out["granted_scope"] = token
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))
        .into();
    Ok(out)
}

#[allow(dead_code)] // the tests include this file for `sign_in`
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let client_id = args.next().unwrap_or_else(|| "tv".into());
    let scope = args.next().unwrap_or_else(|| "openid photos".into());
    let secret = std::env::var("CLIENT_SECRET").ok();
    let token = sign_in(&issuer, &client_id, secret, &scope, |p| {
        println!("On your phone or computer, open:\n\n    {}\n", p.verification_uri);
        println!("and enter the code:\n\n    {}\n", p.user_code);
        if let Some(c) = p.verification_uri_complete {
            println!("(or open {c} and confirm the code)\n");
        }
        println!("Waiting for you to allow this device…");
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&token)?);
    Ok(())
}
