use crate::config::Config;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, short)]
    config: PathBuf,
}

pub fn run(a: Args) -> Result<(), String> {
    let cfg = Config::load(&a.config).map_err(|e| e.to_string())?;
    if let Some(ca) = &cfg.gateway.ca_file {
        crate::net::tls_config(Some(ca)).map_err(|e| format!("{}: [gateway]: {e}", a.config.display()))?;
    }
    if let Some(t) = &cfg.tls {
        crate::server::tls::load(&t.cert, &t.key, t.ocsp.as_deref())
            .map_err(|e| format!("{}: [tls]: {e}", a.config.display()))?;
    }
    println!(
        "{}: ok ({} apis, {} clients, {} users)",
        a.config.display(),
        cfg.apis.len(),
        cfg.clients.len(),
        cfg.users.len()
    );
    Ok(())
}
