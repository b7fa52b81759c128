//! `gatehouse migrate`: bring the configured store's schema up to date
//! (`serve` does it at start too, under the same lock).

use super::common::{block_on, load, ConfigArg};
use crate::store;

pub fn run(a: ConfigArg) -> Result<(), String> {
    let cfg = load(&a)?;
    block_on(async { store::migrate(&cfg.store).await.map_err(|e| e.to_string()) })?;
    println!("store schema is up to date");
    Ok(())
}
