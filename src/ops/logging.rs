//! tracing setup: text by default, JSON with `--log-json` or `[log] format`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only for a person at a terminal, never into files,
        // pipes or journald; NO_COLOR (no-color.org) turns them off there too.
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some(),
        ));
    // A second init (tests in one process) is harmless: the first one stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn colour(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}
