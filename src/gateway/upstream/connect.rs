//! Opening connections to a target: TCP with a deadline, TLS (rustls) with
//! ALPN when the target is https, then HTTP/1.1 or HTTP/2 as the pool's
//! `protocol` and ALPN decide. The connection's task runs on the worker
//! that opened it, and only that worker reuses it.

use super::target::Target;
use crate::config::Protocol;
use crate::gateway::body::RequestBody;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

pub enum Conn {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

#[derive(Debug)]
pub enum ConnectError {
    Timeout,
    Failed(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Timeout => f.write_str("connect timed out"),
            ConnectError::Failed(e) => f.write_str(e),
        }
    }
}

pub struct Connector {
    protocol: Protocol,
    timeout: Duration,
    tls: tokio_rustls::TlsConnector,
}

impl Connector {
    pub fn new(protocol: Protocol, timeout: Duration, tls: &Arc<rustls::ClientConfig>) -> Self {
        let mut tls = (**tls).clone();
        tls.alpn_protocols = match protocol {
            Protocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Protocol::Http1 | Protocol::H2c => vec![b"http/1.1".to_vec()],
        };
        Connector {
            protocol,
            timeout,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        }
    }

    async fn tcp(&self, t: &Target) -> Result<TcpStream, ConnectError> {
        let fail = |e: std::io::Error| ConnectError::Failed(e.to_string());
        let stream = match t.host.parse::<IpAddr>() {
            Ok(ip) => TcpStream::connect(SocketAddr::new(ip, t.port)).await.map_err(fail)?,
            // A name: every address it resolves to, in order.
            Err(_) => TcpStream::connect((t.host.as_str(), t.port)).await.map_err(fail)?,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A new connection. `upgrades`: an HTTP/1.1 connection that may be
    /// taken over by a WebSocket (never pooled afterwards).
    ///
    /// Boxed: a TLS handshake's future is kilobytes, and every request's
    /// future would carry that size (and have it copied) though few
    /// requests open a connection.
    pub fn connect<'a>(
        &'a self,
        t: &'a Target,
        upgrades: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Conn, ConnectError>> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.open(t, upgrades))
                .await
                .map_err(|_| ConnectError::Timeout)?
        })
    }

    async fn open(&self, t: &Target, upgrades: bool) -> Result<Conn, ConnectError> {
        let tcp = self.tcp(t).await?;
        if !t.is_https() {
            return if self.protocol == Protocol::H2c && !upgrades {
                h2(TokioIo::new(tcp)).await
            } else {
                h1(TokioIo::new(tcp), upgrades).await
            };
        }
        let name = rustls::pki_types::ServerName::try_from(t.host.clone())
            .map_err(|e| ConnectError::Failed(format!("bad TLS server name {:?}: {e}", t.host)))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| ConnectError::Failed(format!("TLS: {e}")))?;
        let alpn_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        if alpn_h2 && !upgrades {
            h2(TokioIo::new(tls)).await
        } else {
            h1(TokioIo::new(tls), upgrades).await
        }
    }
}

async fn h1<I>(io: I, upgrades: bool) -> Result<Conn, ConnectError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = http1::Builder::new()
        .handshake::<_, RequestBody>(io)
        .await
        .map_err(|e| ConnectError::Failed(e.to_string()))?;
    if upgrades {
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
    } else {
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
    }
    Ok(Conn::H1(send))
}

async fn h2<I>(io: I) -> Result<Conn, ConnectError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .handshake::<_, RequestBody>(io)
        .await
        .map_err(|e| ConnectError::Failed(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
        }
    });
    Ok(Conn::H2(send))
}
