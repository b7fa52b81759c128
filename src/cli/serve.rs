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
    let json = a.log_json || cfg.log.json;
    let mut telemetry = ops::logging::init(json, &cfg.log.level, cfg.telemetry.as_ref())?;
    ops::access::init(cfg.log.access, json);
    if a.config.is_none() {
        print_demo_guide(&cfg);
    }
    let served = server::serve(cfg, ops::shutdown::signal());
    // The spans of the last requests, before the process exits.
    telemetry.shutdown();
    served
}

fn print_demo_guide(cfg: &Config) {
    let i = &cfg.issuer;
    println!(
        r#"gatehouse demo (no --config): SQLite store {store}, signing keys in {keys}
  client  printer / printer-demo-secret   (grants: authorization_code, refresh_token, password, client_credentials)
  user    alice / wonderland
  APIs    {i}/hello (open, mock "hello world"), {i}/flickr/photos (oauth2, scope "photos")
  admin   {i}/admin/  (console; sign in as {admin}; JSON API under {i}/admin/api/)
  metrics {i}/metrics   health {i}/healthz, {i}/readyz

Try:
  curl {i}/hello
  curl {i}/.well-known/openid-configuration
  # client credentials
  curl -u printer:printer-demo-secret -d grant_type=client_credentials -d scope=photos {i}/api/oauth/token
  # password (resource owner credentials)
  curl -u printer:printer-demo-secret -d grant_type=password -d username=alice -d password=wonderland -d scope=photos {i}/api/oauth/token
  # refresh (use the refresh_token from the password grant)
  curl -u printer:printer-demo-secret -d grant_type=refresh_token -d refresh_token=REFRESH_TOKEN {i}/api/oauth/token
  # call the protected API
  curl -H "Authorization: Bearer ACCESS_TOKEN" {i}/flickr/photos
  # token info, introspection, revocation
  curl "{i}/api/oauth/tokeninfo?access_token=ACCESS_TOKEN"
  curl -u printer:printer-demo-secret -d token=ACCESS_TOKEN {i}/api/oauth/introspect
  curl -u printer:printer-demo-secret -d token=ACCESS_TOKEN {i}/api/oauth/revoke
"#,
        store = cfg.store.url,
        admin = demo_admin(cfg),
        keys = cfg.keys_dir.display(),
    );
}

/// "user / password" of the demo's admin (the demo config is public, so is
/// its password).
fn demo_admin(cfg: &Config) -> String {
    match &cfg.admin {
        Some(a) => match &a.password {
            crate::config::SecretSpec::Plain(p) => format!("{} / {p}", a.username),
            crate::config::SecretSpec::Hash(_) => a.username.clone(),
        },
        None => "(disabled)".into(),
    }
}
