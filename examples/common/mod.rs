//! What the command-line samples share: only the issuer is configured, the
//! token endpoint comes from discovery.

#![allow(dead_code)] // each example uses a subset

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
    let http = http_client()?;
    let token_endpoint = token_endpoint(&http, issuer).await?;
    let client = BasicClient::new(ClientId::new(client_id))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(token_endpoint)?);
    Ok((http, client))
}

pub fn http_client() -> Result<reqwest::Client, Box<dyn Error>> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The issuer's token endpoint, from its discovery document.
pub async fn token_endpoint(http: &reqwest::Client, issuer: &str) -> Result<String, Box<dyn Error>> {
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
    Ok(discovery["token_endpoint"]
        .as_str()
        .ok_or("no token_endpoint")?
        .to_string())
}

/// A PEM private key for signing assertions: RS256 (RSA) or ES256 (P-256).
pub fn signing_key(
    pem_file: &str,
    alg: &str,
) -> Result<(jsonwebtoken::Algorithm, jsonwebtoken::EncodingKey), Box<dyn Error>> {
    let pem = std::fs::read(pem_file).map_err(|e| format!("{pem_file}: {e}"))?;
    Ok(match alg {
        "RS256" => (
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::EncodingKey::from_rsa_pem(&pem)?,
        ),
        "ES256" => (
            jsonwebtoken::Algorithm::ES256,
            jsonwebtoken::EncodingKey::from_ec_pem(&pem)?,
        ),
        other => return Err(format!("unsupported algorithm {other}: RS256 or ES256").into()),
    })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random `jti`: assertions are single-use.
pub fn jti() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// POSTs a token request and prints the answer; an OAuth error is an Err.
pub async fn token_request(
    http: &reqwest::Client,
    token_endpoint: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Result<serde_json::Value, Box<dyn Error>> {
    let mut req = http.post(token_endpoint).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    if !status.is_success() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(body)
}
