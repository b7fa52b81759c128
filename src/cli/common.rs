//! What the store subcommands share: which config, which store, a runtime.

use crate::config::Config;
use crate::store::{self, DynStore};
use std::future::Future;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ConfigArg {
    /// Config file naming the store; without it, the embedded demo's
    /// store (sqlite://gatehouse-data/gatehouse.db, under the current directory).
    #[arg(long, short, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The config the subcommand names (the embedded demo's without one).
pub fn load(c: &ConfigArg) -> Result<Config, String> {
    match &c.config {
        Some(p) => Config::load(p),
        None => Config::demo(),
    }
    .map_err(|e| e.to_string())
}

/// Runs `f` to completion on a small runtime of its own.
pub fn block_on<T>(f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?
        .block_on(f)
}

/// Runs `f` against the configured store.
pub fn with_store<T, F, Fut>(c: &ConfigArg, f: F) -> Result<T, String>
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let cfg = load(c)?;
    block_on(async {
        let store = store::open(&cfg.store).await.map_err(|e| e.to_string())?;
        f(store).await
    })
}

/// Runs `f` with the admin service over the configured store (the one
/// layer that changes clients and users, shared with the admin API).
pub fn with_service<T, F, Fut>(c: &ConfigArg, f: F) -> Result<T, String>
where
    F: FnOnce(crate::admin::Service) -> Fut,
    Fut: Future<Output = Result<T, crate::error::AdminError>>,
{
    let cfg = load(c)?;
    block_on(async {
        let store = store::open(&cfg.store).await.map_err(|e| e.to_string())?;
        f(crate::admin::Service::offline(store, &cfg))
            .await
            .map_err(|e| e.to_string())
    })
}

/// Reads a secret from stdin: the first line, without its line ending, so
/// `echo pw | gatehouse …` and a file with a trailing newline both work.
pub fn read_secret_stdin(what: &str) -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {what} from stdin: {e}"))?;
    let s = line.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        return Err(format!("empty {what} on stdin"));
    }
    Ok(s)
}

/// Left-aligned columns, widths from the longest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<width$}", c, width = w[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
