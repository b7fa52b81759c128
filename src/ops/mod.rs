//! Operations: health, readiness, metrics, logging, shutdown.

pub mod health;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod shutdown;
