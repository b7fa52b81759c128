//! RFC 7522 §2.1: a SAML 2.0 assertion signed by a `[[saml_idps]]` entry is
//! exchanged for an access token for the user its NameID names. The XML
//! checks live in `authz::saml`; here: decoding, running them off the async
//! workers, the single use of the assertion ID (in the store, so across
//! instances) and issuance.

use super::{Grant, Request};
use crate::authz::issuer::{Issue, TokenResponse};
use crate::authz::saml::{self, Expect};
use crate::authz::{scope, AuthServer};
use crate::error::OAuthError;
use crate::store;
use async_trait::async_trait;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";

pub struct SamlBearer;

fn bad(why: &str) -> OAuthError {
    OAuthError::InvalidGrant(format!("the assertion {why}"))
}

#[async_trait]
impl Grant for SamlBearer {
    fn grant_type(&self) -> &'static str {
        GRANT_TYPE
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let param = req.form.require("assertion")?;
        let xml = saml::decode_param(param).map_err(|e| bad(&e))?;
        let idps = server.saml_idps.clone();
        let token_url = server.token_endpoint();
        let issuer = server.cfg.issuer.clone();
        let now = store::now();
        // libxml and libxmlsec1 are synchronous and CPU-bound.
        let verified = tokio::task::spawn_blocking(move || {
            let audiences = [token_url.as_str(), issuer.as_str()];
            saml::verify(
                &xml,
                &idps,
                &Expect {
                    audiences: &audiences,
                    recipient: &token_url,
                    now,
                },
            )
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "SAML verification task failed");
            OAuthError::ServerError
        })?
        .map_err(|e| bad(&e))?;

        // The user must exist before the ID is spent.
        server
            .store
            .get_user(&verified.subject)
            .await?
            .ok_or_else(|| bad("names (NameID) an unknown user"))?;
        let scopes = scope::grant(req.form.get("scope"), &req.client.scopes)?;
        let audience = crate::authz::resource::requested(req.form, req.client)?;
        let once = format!("saml2-bearer:{}:{}", verified.issuer, verified.id);
        if !server
            .store
            .use_once(&once, verified.expires_at + saml::LEEWAY, now)
            .await?
        {
            return Err(bad("was already used (assertion ID replay)"));
        }
        server
            .issue(Issue {
                client: req.client,
                subject: Some(verified.subject),
                scopes,
                family: None,
                refresh: false,
                auth_time: None,
                cnf: req.cnf.clone(),
                audience,
                grant_audience: None,
            })
            .await
    }
}
