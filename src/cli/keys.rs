//! `gatehouse keys rotate|list`: the signing keys in `[keys] dir`. A
//! running server sharing the directory picks a rotation up by itself.

use super::common::{block_on, load, print_table, ConfigArg};
use crate::keys::rotation::{self, KeyInfo};
use clap::Subcommand;
use std::time::{Duration, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Opts {
    #[command(flatten)]
    cfg: ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a new current signing key; the old ones stay in the JWKS until
    /// every token they signed has expired.
    Rotate(Opts),
    /// The keys with their state (current, retiring, retired) and times.
    List(Opts),
}

pub fn run(a: Args) -> Result<(), String> {
    match a.cmd {
        Cmd::Rotate(o) => rotate(&o),
        Cmd::List(o) => list(&o),
    }
}

fn rotate(o: &Opts) -> Result<(), String> {
    let cfg = load(&o.cfg)?;
    // How long the old keys must stay published depends on the clients'
    // access token lifetimes, some of which only the store knows.
    let lifetime = block_on(async {
        let store = crate::store::open(&cfg.store).await.map_err(|e| e.to_string())?;
        crate::authz::keys::max_signed_lifetime(&cfg, &store).await
    })?;
    let info = rotation::rotate(&cfg.keys_dir, cfg.tokens.signing_alg, lifetime)?;
    if o.json {
        print_json(&info)
    } else {
        println!(
            "new current {} key {} in {}; previous keys stay published for {}",
            info.alg,
            info.kid,
            cfg.keys_dir.display(),
            humantime::format_duration(lifetime + rotation::GRACE)
        );
        Ok(())
    }
}

fn list(o: &Opts) -> Result<(), String> {
    let cfg = load(&o.cfg)?;
    let keys = rotation::list(&cfg.keys_dir, cfg.tokens.signing_alg)?;
    if o.json {
        return print_json(&keys);
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k: &KeyInfo| {
            vec![
                k.kid.clone(),
                k.alg.clone(),
                k.state.as_str().to_string(),
                time(Some(k.created_at)),
                time(k.retired_at),
                time(k.publish_until),
            ]
        })
        .collect();
    print_table(&["KID", "ALG", "STATE", "CREATED", "RETIRED", "PUBLISHED UNTIL"], &rows);
    Ok(())
}

fn time(t: Option<i64>) -> String {
    match t {
        Some(t) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string(),
        None => "-".into(),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}
