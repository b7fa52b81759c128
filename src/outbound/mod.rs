//! The guard of every outbound fetch a client can cause (SSRF defence):
//! a client's `jwks_uri`, its `backchannel_logout_uri` (POSTed to), and
//! any other URL a client registers or sends that the server then fetches
//! (`sector_identifier_uri`, request-object keys, …). Operator-configured
//! URLs (`[[trusted_issuers]]`, routes' `jwks_uri`, upstreams) are not
//! client-caused and do not go through it.
//!
//! Two checks, both against the same [`Policy`]:
//! - when the URL is registered ([`Policy::check_url`]): http(s) only, no
//!   literal address outside the public Internet in any spelling the
//!   WHATWG parser accepts (`0x7f000001`, `2130706433`, `0177.0.0.1`,
//!   `127.1`, `[::ffff:127.0.0.1]`, …), no special-use name
//!   (`localhost`, `*.internal`, single labels, …);
//! - when connecting ([`connect`]): every address the name resolves to
//!   *now* is checked before a socket is opened, so a name that passed
//!   registration and later resolves to 127.0.0.1 (DNS rebinding) still
//!   reaches nothing.
//!
//! `[outbound] allow_networks` and `allow_hosts` let an internal
//! deployment fetch from its own network on purpose.

pub mod connect;
pub mod ip;

use bytes::Bytes;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use connect::{Fetcher, GuardedClient, Refused};

/// What client-caused fetches may reach beyond the public Internet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `[outbound] allow_networks`: addresses in these networks are
    /// allowed even when private, loopback, link-local, ….
    pub allow_networks: Vec<ipnet::IpNet>,
    /// `[outbound] allow_hosts`: lower-case names (`keys.corp.example`)
    /// or suffixes (`*.corp.example`, which does not match
    /// `corp.example` itself) whose addresses are not checked: the
    /// operator vouches for what their DNS answers.
    pub allow_hosts: Vec<String>,
}

/// Names that are never on the public Internet (RFC 6761, RFC 6762,
/// RFC 8375, ICANN's `.internal`): refused at registration unless
/// allowed. Resolution is checked at connect time anyway; this gives the
/// registrant a clear answer early.
const SPECIAL_SUFFIXES: [&str; 6] = [
    ".localhost",
    ".local",
    ".internal",
    ".localdomain",
    ".home.arpa",
    ".lan",
];

impl Policy {
    /// True when `allow_hosts` names `host` (exactly or by a `*.` suffix).
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_hosts.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1 && host.ends_with(suffix) && {
                    let cut = host.len() - suffix.len();
                    host.as_bytes()[cut - 1] == b'.'
                }
            }
            None => *p == host,
        })
    }

    /// Ok for a public address or one in `allow_networks`; the refusal
    /// says which special range it is in.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refused> {
        // An IPv4-mapped address is matched against IPv4 networks too.
        let plain = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self
            .allow_networks
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&plain))
        {
            return Ok(());
        }
        match ip::special(ip) {
            None => Ok(()),
            Some(why) => Err(Refused(format!(
                "{ip} is {why}; add it to [outbound] allow_networks to allow it"
            ))),
        }
    }

    /// The registration-time check of a URL the server will fetch: the
    /// parsed (normalised) URL, or why it is refused.
    pub fn check_url(&self, uri: &str) -> Result<url::Url, String> {
        let parsed = url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{uri:?} must be http(s)"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!("{uri:?} must not carry credentials"));
        }
        match parsed.host() {
            None => return Err(format!("{uri:?} has no host")),
            Some(url::Host::Ipv4(a)) => self.check_address(IpAddr::V4(a)).map_err(|r| r.0)?,
            Some(url::Host::Ipv6(a)) => self.check_address(IpAddr::V6(a)).map_err(|r| r.0)?,
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if !self.host_allowed(&d) {
                    let special =
                        d == "localhost" || !d.contains('.') || SPECIAL_SUFFIXES.iter().any(|s| d.ends_with(s));
                    if special {
                        return Err(format!(
                            "{uri:?}: {d:?} is not a public host name; add it to [outbound] allow_hosts to allow it"
                        ));
                    }
                }
            }
        }
        Ok(parsed)
    }
}

/// Why a guarded fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// The policy and the one HTTP client of client-caused fetches.
pub struct Guard {
    policy: Arc<Policy>,
    client: GuardedClient,
}

impl Guard {
    pub fn new(policy: Policy, connect_timeout: Duration, tls: &Arc<rustls::ClientConfig>) -> Guard {
        let policy = Arc::new(policy);
        Guard {
            client: connect::client(policy.clone(), connect_timeout, tls),
            policy,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The guarded client, for fetchers that keep their own (RemoteJwks).
    pub fn client(&self) -> GuardedClient {
        self.client.clone()
    }

    /// GET `uri` (checked again here, and at connect time) and read at
    /// most `max_bytes` of a 2xx answer within `timeout`.
    pub async fn get(&self, uri: &str, accept: &str, max_bytes: usize, timeout: Duration) -> Result<Bytes, FetchError> {
        use http_body_util::{BodyExt, Limited};
        let parsed = self.policy.check_url(uri).map_err(FetchError::Refused)?;
        let req = http::Request::get(parsed.as_str())
            .header(http::header::ACCEPT, accept)
            .body(axum::body::Body::empty())
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| connect::fetch_error(&e))?;
            if !resp.status().is_success() {
                return Err(FetchError::Failed(format!("status {}", resp.status())));
            }
            Limited::new(resp.into_body(), max_bytes)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| FetchError::Failed(format!("reading the body: {e}")))
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| FetchError::Failed("timed out".into()))?
    }

    /// POST `form` (`application/x-www-form-urlencoded`) to `uri`
    /// (checked again here, and at connect time) within `timeout`: the
    /// answer's status. Redirects are never followed (a 3xx is just its
    /// status); at most `MAX_DRAIN` bytes of the body are read.
    pub async fn post_form(
        &self,
        uri: &str,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<http::StatusCode, FetchError> {
        use http_body_util::{BodyExt, Limited};
        const MAX_DRAIN: usize = 64 * 1024;
        let parsed = self.policy.check_url(uri).map_err(FetchError::Refused)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = http::Request::post(parsed.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| connect::fetch_error(&e))?;
            let status = resp.status();
            // Read (a little of) the answer so the connection can be reused.
            let _ = Limited::new(resp.into_body(), MAX_DRAIN).collect().await;
            Ok(status)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| FetchError::Failed("timed out".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_refused_in_every_spelling() {
        let p = Policy::default();
        for u in [
            "http://127.0.0.1:8080/jwks",
            "http://0x7f000001/jwks",
            "http://0x7F.0.0.1/jwks",
            "http://2130706433/jwks",
            "http://0177.0.0.1/jwks",
            "http://017700000001/jwks",
            "http://127.1/jwks",
            "http://0/jwks",
            "http://[::1]/jwks",
            "http://[::ffff:127.0.0.1]/jwks",
            "http://[::ffff:7f00:1]/jwks",
            "http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest",
            "http://100.100.100.200/latest",
            "http://10.0.0.1/",
            "http://192.168.0.1/",
            "http://[fe80::1]/",
            "https://224.0.0.1/",
            "http://localhost:9000/jwks",
            "http://LOCALHOST./jwks",
            "http://a.localhost/jwks",
            "http://metadata/computeMetadata/v1/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://printer.local/",
            "http://user:pw@keys.example/jwks",
            "file:///etc/passwd",
            "gopher://keys.example/",
        ] {
            assert!(p.check_url(u).is_err(), "{u} must be refused");
        }
        for u in [
            "https://keys.example/jwks",
            "https://8.8.8.8/jwks",
            "https://[2606:4700::1]/jwks",
        ] {
            assert!(p.check_url(u).is_ok(), "{u} is public");
        }
    }

    #[test]
    fn the_allowlist_lets_named_networks_and_hosts_through() {
        let p = Policy {
            allow_networks: vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            allow_hosts: vec!["jwks.corp".into(), "*.svc.cluster.local".into()],
        };
        for u in [
            "http://127.0.0.1:9000/jwks",
            "http://0x7f000001/jwks",
            "http://[::ffff:127.0.0.1]/jwks",
            "http://[fd00::1]/",
            "http://jwks.corp/keys",
            "http://keys.ns.svc.cluster.local/jwks",
        ] {
            assert!(p.check_url(u).is_ok(), "{u} is allowed");
        }
        for u in [
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://svc.cluster.local/",
            "http://evilsvc.cluster.local/",
            "http://localhost/",
        ] {
            assert!(p.check_url(u).is_err(), "{u} stays refused");
        }
        assert!(p.check_address("127.0.0.2".parse().unwrap()).is_ok());
        assert!(p.check_address("169.254.169.254".parse().unwrap()).is_err());
    }
}
