//! `gatehouse token purge`: delete expired codes, tokens and revocation
//! entries now (the server also does this every `purge_every`).

use super::common::{with_store, ConfigArg};
use crate::store;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Delete expired codes, tokens and revocation entries.
    Purge(ConfigArg),
}

pub fn run(a: Args) -> Result<(), String> {
    match a.cmd {
        Cmd::Purge(cfg) => {
            let n = with_store(&cfg, |s| async move {
                s.purge_expired(store::now(), 1000).await.map_err(|e| e.to_string())
            })?;
            println!("purged {n} expired rows");
            Ok(())
        }
    }
}
