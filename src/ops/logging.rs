//! tracing setup: text by default, JSON with `--log-json` or `[log] format`.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests in one process) is harmless: the first one stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
