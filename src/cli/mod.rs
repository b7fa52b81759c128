//! Command line: one file per subcommand.

mod check;
mod client;
mod common;
mod completions;
mod keygen;
mod keys;
mod migrate;
mod serve;
mod token;
mod user;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "API gateway and OAuth 2.0 / OpenID Connect authorization server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (no --config: the embedded demo).
    #[command(after_help = SERVE_READS)]
    Serve(serve::Args),
    /// Generate a signing key pair: private.pem, public.pem, public.jwk.json.
    #[command(after_help = "Reads no config file (serve generates [keys] dir's keys itself when it is empty).")]
    Keygen(keygen::Args),
    /// Signing keys in [keys] dir: rotate, list.
    #[command(after_help = KEYS_READS)]
    Keys(keys::Args),
    /// Validate a config file; exit 1 with file:line and the reason.
    #[command(after_help = CHECK_READS)]
    Check(check::Args),
    /// Manage registered clients in the configured store.
    #[command(after_help = STORE_READS)]
    Client(client::Args),
    /// Manage resource owners in the configured store.
    #[command(after_help = STORE_READS)]
    User(user::Args),
    /// Token maintenance (purge expired rows).
    #[command(after_help = STORE_READS)]
    Token(token::Args),
    /// Apply the store's schema migrations (serve does it at start too).
    #[command(after_help = STORE_READS)]
    Migrate(common::ConfigArg),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(after_help = completions::HELP)]
    Completions(completions::Args),
}

// What each subcommand reads, for its --help (every key is described in
// docs/configuration.md).
const SERVE_READS: &str = "Reads the whole config file (docs/configuration.md): issuer, listen, workers, [server], \
[tls], [store], [tokens], [keys], [gateway], [log], [telemetry], [admin], [registration], [[apis]], [[upstreams]], \
[[clients]], [[users]], [[trusted_issuers]], [[saml_idps]].
Environment: GATEHOUSE_CONFIG (the file), GATEHOUSE_LISTEN, GATEHOUSE_ISSUER, GATEHOUSE_STORE_*, GATEHOUSE_TOKENS_*, \
GATEHOUSE_KEYS_DIR, GATEHOUSE_LOG_FORMAT override their keys; GATEHOUSE_LOG is a log filter (e.g. gatehouse=debug).
SIGHUP reloads the file; SIGTERM drains and stops.";
const CHECK_READS: &str =
    "Reads the whole config file as serve does (every key, every referenced file: [tls] cert/key, \
[gateway] ca_file, [[saml_idps]] certificate, [[trusted_issuers]] jwks files), with the GATEHOUSE_* overrides, \
but opens no store and no socket.";
const KEYS_READS: &str = "Reads [keys] dir, [tokens] signing_alg and the access token lifetimes (they decide how long \
old keys stay published) and [store] url (clients' own lifetimes). Environment: GATEHOUSE_CONFIG, GATEHOUSE_KEYS_DIR, \
GATEHOUSE_STORE_URL.";
const STORE_READS: &str = "Reads [store] (url, pool_size, connect_timeout, statement_timeout) and [tokens] (default \
lifetimes) from --config, or the embedded demo's store without it. Environment: GATEHOUSE_CONFIG, GATEHOUSE_STORE_URL.";

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Check(a) => check::run(a),
        Command::Client(a) => client::run(a),
        Command::User(a) => user::run(a),
        Command::Token(a) => token::run(a),
        Command::Migrate(a) => migrate::run(a),
        Command::Completions(a) => completions::run::<Cli>(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
