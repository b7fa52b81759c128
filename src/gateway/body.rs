//! The bodies the gateway moves, as concrete types so the proxy path boxes
//! nothing: what a client sends (bounded in size and in the pause between
//! two pieces, streamed to the upstream) and what the gateway answers (an
//! upstream's streamed body, fixed bytes, or an authorization-server page).

use super::upstream::ResponseBody;
use crate::net::{BodyTimeout, BodyTooLarge};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the gateway answers with.
pub enum Body {
    Full(Option<Bytes>),
    Upstream(ResponseBody),
    /// Anything else (the authorization server's responses, error JSON).
    Other(axum::body::Body),
}

impl Body {
    pub fn empty() -> Self {
        Body::Full(None)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Full((!b.is_empty()).then_some(b))
    }
}

impl From<axum::body::Body> for Body {
    fn from(b: axum::body::Body) -> Self {
        Body::Other(b)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Upstream(u) => Pin::new(u).poll_frame(cx),
            Body::Other(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::Upstream(u) => u.is_end_stream(),
            Body::Other(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Upstream(u) => u.size_hint(),
            Body::Other(b) => b.size_hint(),
        }
    }
}

enum Source {
    Empty,
    Incoming(Incoming),
    Other(axum::body::Body),
}

/// A client's request body on its way upstream: fails with
/// [`BodyTooLarge`] past the route's limit and with [`BodyTimeout`] when no
/// piece arrives within `pause` (the timer exists only while waiting).
pub struct RequestBody {
    source: Source,
    limit: u64,
    seen: u64,
    pause: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl RequestBody {
    pub fn incoming(b: Incoming, pause: Duration) -> Self {
        let source = if b.is_end_stream() {
            Source::Empty
        } else {
            Source::Incoming(b)
        };
        Self::new(source, pause)
    }

    pub fn other(b: axum::body::Body, pause: Duration) -> Self {
        let source = if b.is_end_stream() {
            Source::Empty
        } else {
            Source::Other(b)
        };
        Self::new(source, pause)
    }

    pub fn empty() -> Self {
        Self::new(Source::Empty, Duration::from_secs(60))
    }

    fn new(source: Source, pause: Duration) -> Self {
        RequestBody {
            source,
            limit: u64::MAX,
            seen: 0,
            pause,
            sleep: None,
        }
    }

    /// Bytes past `limit` fail the body.
    pub fn limit(&mut self, limit: u64) {
        self.limit = limit;
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = match &mut this.source {
            Source::Empty => return Poll::Ready(None),
            Source::Incoming(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            Source::Other(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
        };
        match polled {
            Poll::Ready(frame) => {
                this.sleep = None;
                if let Some(Ok(f)) = &frame {
                    if let Some(d) = f.data_ref() {
                        this.seen += d.len() as u64;
                        if this.seen > this.limit {
                            return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                        }
                    }
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let pause = this.pause;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Empty => true,
            Source::Incoming(b) => b.is_end_stream(),
            Source::Other(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Empty => SizeHint::with_exact(0),
            Source::Incoming(b) => b.size_hint(),
            Source::Other(b) => b.size_hint(),
        }
    }
}
