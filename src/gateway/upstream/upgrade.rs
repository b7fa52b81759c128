//! WebSocket (HTTP/1.1 Upgrade) tunnels: once the upstream answers 101,
//! the client's connection and the upstream's are joined byte for byte,
//! each direction with back-pressure (a side is read only as fast as the
//! other takes it), and the pair is closed after `idle` without traffic —
//! which also ends a tunnel whose peer stopped reading.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Joins the two upgraded connections on a task of their own.
pub fn tunnel(client: OnUpgrade, upstream: OnUpgrade, idle: Duration, target: Arc<str>) {
    tokio::spawn(async move {
        let (c, u) = match tokio::join!(client, upstream) {
            (Ok(c), Ok(u)) => (c, u),
            (c, u) => {
                tracing::debug!(%target, client = c.is_ok(), upstream = u.is_ok(), "upgrade did not complete");
                return;
            }
        };
        let seen = Arc::new(AtomicU64::new(super::passive::now_ms()));
        let mut c = Activity::new(TokioIo::new(c), seen.clone());
        let mut u = Activity::new(TokioIo::new(u), seen.clone());
        let copy = tokio::io::copy_bidirectional(&mut c, &mut u);
        tokio::pin!(copy);
        let idle_ms = idle.as_millis() as u64;
        let tick = (idle / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                r = &mut copy => {
                    if let Err(e) = r {
                        tracing::debug!(%target, error = %e, "upgraded connection ended");
                    }
                    return;
                }
                _ = tokio::time::sleep(tick) => {
                    if super::passive::now_ms().saturating_sub(seen.load(Ordering::Relaxed)) >= idle_ms {
                        tracing::debug!(%target, "upgraded connection idle: closed");
                        return;
                    }
                }
            }
        }
    });
}

/// An I/O stream that notes when bytes last moved through it.
struct Activity<T> {
    io: T,
    seen: Arc<AtomicU64>,
}

impl<T> Activity<T> {
    fn new(io: T, seen: Arc<AtomicU64>) -> Self {
        Activity { io, seen }
    }

    fn touch(&self) {
        self.seen.store(super::passive::now_ms(), Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
