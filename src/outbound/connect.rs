//! The connect-time half of the guard: a resolver that drops every
//! address the policy refuses (so DNS rebinding cannot pass) and a
//! connector that checks literal addresses, which hyper's `HttpConnector`
//! connects to without asking the resolver.

use super::{FetchError, Policy};
use axum::body::Body;
use futures_util::future::BoxFuture;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection the guard refused; the text says which address and why.
#[derive(Debug, Clone)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the outbound guard: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// Name → addresses; the system resolver (getaddrinfo) outside tests.
pub type Lookup = Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    })
}

/// Resolves, then keeps only the addresses the policy allows; refuses
/// the name when none is left.
#[derive(Clone)]
pub struct GuardResolver {
    policy: Arc<Policy>,
    lookup: Lookup,
}

impl tower::Service<Name> for GuardResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let (policy, lookup) = (self.policy.clone(), self.lookup.clone());
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs = lookup(host.clone()).await?;
            if policy.host_allowed(&host) {
                return Ok(addrs
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter());
            }
            let mut allowed = Vec::new();
            let mut refused = None;
            for ip in addrs {
                match policy.check_address(ip) {
                    Ok(()) => allowed.push(SocketAddr::new(ip, 0)),
                    Err(r) => refused = Some(r),
                }
            }
            match (allowed.is_empty(), refused) {
                (false, _) => Ok(allowed.into_iter()),
                (true, Some(r)) => Err(Box::new(Refused(format!("{host} resolves to {}", r.0))) as BoxError),
                (true, None) => Err(format!("{host} resolves to no address").into()),
            }
        })
    }
}

/// `HttpConnector` over the guarded resolver, plus the check of literal
/// addresses in the URI.
#[derive(Clone)]
pub struct Guarded {
    inner: HttpConnector<GuardResolver>,
    policy: Arc<Policy>,
}

impl tower::Service<http::Uri> for Guarded {
    type Response = <HttpConnector<GuardResolver> as tower::Service<http::Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let literal = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal {
            if let Err(r) = self.policy.check_address(ip) {
                return Box::pin(std::future::ready(Err(Box::new(r) as BoxError)));
            }
        }
        let fut = self.inner.call(uri);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

pub type GuardedClient = Client<hyper_rustls::HttpsConnector<Guarded>, Body>;

pub fn client(policy: Arc<Policy>, connect_timeout: Duration, tls: &Arc<rustls::ClientConfig>) -> GuardedClient {
    client_with(policy, system_lookup(), connect_timeout, tls)
}

pub(crate) fn client_with(
    policy: Arc<Policy>,
    lookup: Lookup,
    connect_timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
) -> GuardedClient {
    let resolver = GuardResolver {
        policy: policy.clone(),
        lookup,
    };
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(Guarded { inner: http, policy });
    // Few, rarely repeated fetches: a small pool, short idle time.
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(4)
        .build(https)
}

/// A client error as a [`FetchError`], `Refused` when the guard said no.
pub fn fetch_error(e: &hyper_util::client::legacy::Error) -> FetchError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(r) = x.downcast_ref::<Refused>() {
            return FetchError::Refused(r.0.clone());
        }
        cur = x.source();
    }
    FetchError::Failed(format!("{e:?}"))
}

/// The client a key-set fetcher uses: the plain one for operator URLs,
/// the guarded one for client-caused fetches.
#[derive(Clone)]
pub enum Fetcher {
    Direct(crate::net::HttpClient),
    Guarded(GuardedClient),
}

impl Fetcher {
    pub fn request(&self, req: http::Request<Body>) -> hyper_util::client::legacy::ResponseFuture {
        match self {
            Fetcher::Direct(c) => c.request(req),
            Fetcher::Guarded(c) => c.request(req),
        }
    }
}

impl From<crate::net::HttpClient> for Fetcher {
    fn from(c: crate::net::HttpClient) -> Self {
        Fetcher::Direct(c)
    }
}

impl From<GuardedClient> for Fetcher {
    fn from(c: GuardedClient) -> Self {
        Fetcher::Guarded(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A real HTTP server on 127.0.0.1 that counts the connections it got.
    async fn counting_server() -> (u16, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let body = r#"{"keys":[]}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        (port, hits)
    }

    fn tls() -> Arc<rustls::ClientConfig> {
        crate::net::tls_config(None).unwrap()
    }

    /// A resolver that answers every name with `ip`: what an attacker's
    /// DNS does after registration (rebinding).
    fn rebinding(ip: &'static str) -> Lookup {
        Arc::new(move |_| Box::pin(async move { Ok(vec![ip.parse().unwrap()]) }))
    }

    async fn get(c: &GuardedClient, uri: &str) -> Result<http::StatusCode, FetchError> {
        let req = http::Request::get(uri).body(Body::empty()).unwrap();
        c.request(req).await.map(|r| r.status()).map_err(|e| fetch_error(&e))
    }

    #[tokio::test]
    async fn a_name_rebound_to_loopback_reaches_nothing() {
        let (port, hits) = counting_server().await;
        let policy = Arc::new(Policy::default());
        let c = client_with(policy, rebinding("127.0.0.1"), Duration::from_secs(2), &tls());
        let e = get(&c, &format!("http://keys.example:{port}/jwks")).await.unwrap_err();
        assert!(matches!(&e, FetchError::Refused(m) if m.contains("127.0.0.1")), "{e}");
        let c = client_with(
            Arc::new(Policy::default()),
            rebinding("::ffff:127.0.0.1"),
            Duration::from_secs(2),
            &tls(),
        );
        assert!(matches!(
            get(&c, &format!("http://keys.example:{port}/jwks")).await,
            Err(FetchError::Refused(_))
        ));
        // Literal addresses never ask the resolver: checked as well.
        let c = client(Arc::new(Policy::default()), Duration::from_secs(2), &tls());
        for u in [
            format!("http://127.0.0.1:{port}/jwks"),
            format!("http://[::ffff:127.0.0.1]:{port}/jwks"),
            // getaddrinfo reads these as 127.0.0.1.
            format!("http://0x7f000001:{port}/jwks"),
            format!("http://2130706433:{port}/jwks"),
            format!("http://localhost:{port}/jwks"),
        ] {
            assert!(matches!(get(&c, &u).await, Err(FetchError::Refused(_))), "{u}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the local server was never reached");
    }

    #[tokio::test]
    async fn allowed_networks_and_hosts_are_fetched() {
        let (port, hits) = counting_server().await;
        let policy = Arc::new(Policy {
            allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
            allow_hosts: vec![],
        });
        let c = client(policy, Duration::from_secs(2), &tls());
        assert_eq!(
            get(&c, &format!("http://127.0.0.1:{port}/jwks")).await.unwrap(),
            http::StatusCode::OK
        );
        let by_name = Arc::new(Policy {
            allow_networks: vec![],
            allow_hosts: vec!["keys.corp".into()],
        });
        let c = client_with(by_name, rebinding("127.0.0.1"), Duration::from_secs(2), &tls());
        assert_eq!(
            get(&c, &format!("http://keys.corp:{port}/jwks")).await.unwrap(),
            http::StatusCode::OK
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
