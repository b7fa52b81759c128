//! tracing setup: text by default, JSON with `--log-json` or `[log] format`;
//! with `[telemetry]`, an OpenTelemetry layer that listens to the spans of
//! `telemetry::TARGET` only (the log's filter does not see them unless
//! `GATEHOUSE_LOG` asks for trace).

use super::telemetry::{self, Telemetry};
use crate::config::TelemetrySettings;
use std::io::IsTerminal;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the process's subscriber; the returned value flushes spans
/// when dropped (keep it until the server stops).
pub fn init(json: bool, level: &str, otel: Option<&TelemetrySettings>) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal, never into files,
        // pipes or journald; NO_COLOR (no-color.org) turns them off there too.
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some(),
        ));
    let fmt = if json { fmt.json().boxed() } else { fmt.boxed() };
    let (guard, otel_layer) = match otel {
        Some(s) => {
            let (guard, layer) = telemetry::layer(s)?;
            let only_ours = filter_fn(|m| m.is_span() && m.target() == telemetry::TARGET);
            (guard, Some(layer.with_filter(only_ours)))
        }
        None => (Telemetry::none(), None),
    };
    // A second init (tests in one process) is harmless: the first one stays.
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel_layer)
        .try_init();
    Ok(guard)
}

fn colour(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}
