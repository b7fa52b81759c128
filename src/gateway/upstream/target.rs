//! One target of a pool: where it is, whether it may take traffic (active
//! health checks and passive ejection), how busy it is, and its idle
//! connections — one set per worker thread, so a checkout takes no lock
//! and hashes nothing.

use super::passive::Passive;
use crate::config::{PassiveSpec, TargetSpec};
use crate::gateway::body::RequestBody;
use crate::ops::metrics::TargetMetrics;
use http::uri::{Authority, Scheme};
use http::HeaderValue;
use hyper::client::conn::{http1, http2};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Idle HTTP/1.1 connections one worker keeps per target; more are closed.
const MAX_IDLE_PER_WORKER: usize = 256;

pub struct Target {
    /// `scheme://authority[/path]` as configured (logs, metrics, admin).
    pub url: Arc<str>,
    pub weight: u32,
    pub scheme: Scheme,
    pub authority: Authority,
    /// What HTTP/1.1 requests carry as `Host`.
    pub host_header: HeaderValue,
    /// Joined in front of every forwarded path; "" or "/base" (no trailing '/').
    pub base_path: String,
    pub host: String,
    pub port: u16,
    /// Active health checks: false after `unhealthy` failures in a row.
    active_up: AtomicBool,
    pub(super) passive: Option<Passive>,
    /// Requests in flight on every worker (least_connections, metrics).
    pub in_flight: AtomicU32,
    pub metrics: TargetMetrics,
    conns: thread_local::ThreadLocal<RefCell<WorkerConns>>,
}

#[derive(Default)]
pub(super) struct WorkerConns {
    idle: Vec<Idle>,
    h2: Option<http2::SendRequest<RequestBody>>,
}

struct Idle {
    send: http1::SendRequest<RequestBody>,
    since: Instant,
}

impl Target {
    pub fn new(pool: &Arc<str>, spec: &TargetSpec, passive: Option<&PassiveSpec>) -> Result<Self, String> {
        let parts = spec.url.clone().into_parts();
        let scheme = parts.scheme.ok_or("a target has no scheme")?;
        let authority = parts.authority.ok_or("a target has no host")?;
        let https = scheme == Scheme::HTTPS;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        // `[::1]` in the authority, `::1` to connect and for TLS names.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let url: Arc<str> = spec.url.to_string().trim_end_matches('/').into();
        Ok(Target {
            metrics: TargetMetrics::new(pool, &url),
            url,
            weight: spec.weight,
            host_header: HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            base_path: spec.url.path().trim_end_matches('/').to_string(),
            scheme,
            authority,
            host,
            port,
            active_up: AtomicBool::new(true),
            passive: passive.map(Passive::new),
            in_flight: AtomicU32::new(0),
            conns: thread_local::ThreadLocal::new(),
        })
    }

    /// May take a request now (a target in its passive trial period is
    /// available only while no trial request is in flight).
    pub fn available(&self) -> bool {
        self.active_up.load(Ordering::Relaxed) && self.passive.as_ref().is_none_or(Passive::admits)
    }

    /// Takes the target for one request; false when it just became
    /// unavailable (another request took its one trial). The answer says
    /// whether this request is the passive trial.
    pub fn claim(&self) -> Option<bool> {
        match &self.passive {
            None => Some(false),
            Some(p) => p.claim(),
        }
    }

    /// An attempt's outcome, for passive ejection.
    pub fn outcome(&self, ok: bool, trial: bool) {
        if let Some(p) = &self.passive {
            let changed = if ok { p.success(trial) } else { p.failure(trial) };
            if let Some(ejected) = changed {
                if ejected {
                    tracing::warn!(target = %self.url, "upstream target ejected after failures (passive health)");
                } else {
                    tracing::info!(target = %self.url, "upstream target back after a successful trial (passive health)");
                }
                self.metrics
                    .set_healthy(!ejected && self.active_up.load(Ordering::Relaxed));
            }
        }
    }

    /// Active health checks: the new state; logs and returns true when it changed.
    pub fn set_active(&self, up: bool) -> bool {
        let was = self.active_up.swap(up, Ordering::Relaxed);
        if was != up {
            self.metrics
                .set_healthy(up && self.passive.as_ref().is_none_or(|p| !p.ejected()));
        }
        was != up
    }

    pub fn healthy(&self) -> bool {
        self.active_up.load(Ordering::Relaxed) && self.passive.as_ref().is_none_or(|p| !p.ejected())
    }

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    fn worker(&self) -> &RefCell<WorkerConns> {
        self.conns.get_or_default()
    }

    /// An idle HTTP/1.1 connection of this worker, newest first; stale
    /// ones (idle past `idle_for`, or closed) are dropped on the way.
    pub(super) fn take_idle(&self, idle_for: std::time::Duration) -> Option<http1::SendRequest<RequestBody>> {
        let mut w = self.worker().borrow_mut();
        while let Some(i) = w.idle.pop() {
            if !i.send.is_closed() && i.since.elapsed() < idle_for {
                return Some(i.send);
            }
        }
        None
    }

    pub(super) fn put_idle(&self, send: http1::SendRequest<RequestBody>) {
        let mut w = self.worker().borrow_mut();
        if w.idle.len() < MAX_IDLE_PER_WORKER && !send.is_closed() {
            w.idle.push(Idle {
                send,
                since: Instant::now(),
            });
        }
    }

    pub(super) fn h2(&self) -> Option<http2::SendRequest<RequestBody>> {
        let mut w = self.worker().borrow_mut();
        match &w.h2 {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                w.h2 = None;
                None
            }
            None => None,
        }
    }

    pub(super) fn set_h2(&self, send: http2::SendRequest<RequestBody>) {
        self.worker().borrow_mut().h2 = Some(send);
    }
}
