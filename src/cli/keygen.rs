use crate::keys::generate::{generate, write_to_dir, JWK_FILE, PRIVATE_FILE, PUBLIC_FILE};
use crate::keys::SigningAlg;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// RS256, PS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256", value_parser = |s: &str| s.parse::<SigningAlg>())]
    alg: SigningAlg,
    /// Directory to write the three files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> Result<(), String> {
    let key = generate(a.alg).map_err(|e| e.to_string())?;
    write_to_dir(&key, &a.out, a.force).map_err(|e| e.to_string())?;
    println!("wrote {} key (kid {}):", key.alg, key.kid);
    for f in [PRIVATE_FILE, PUBLIC_FILE, JWK_FILE] {
        println!("  {}", a.out.join(f).display());
    }
    Ok(())
}
