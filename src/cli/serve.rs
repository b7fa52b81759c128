use crate::config::Config;
use crate::{ops, server};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Config file; without it, the embedded demo runs.
    #[arg(long, short, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

pub fn run(a: Args) -> Result<(), String> {
    let cfg = match &a.config {
        Some(p) => Config::load(p),
        None => Config::demo(),
    }
    .map_err(|e| e.to_string())?;
    ops::logging::init(a.log_json || cfg.log.json, &cfg.log.level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(server::run(cfg, ops::shutdown::signal()))
}
