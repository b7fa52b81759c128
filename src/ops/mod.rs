//! Operations: health, readiness, metrics, logging, access log, traces, shutdown.

pub mod access;
pub mod health;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod observe;
pub mod shutdown;
pub mod telemetry;
pub mod traffic;

#[cfg(test)]
mod dashboard_tests;
