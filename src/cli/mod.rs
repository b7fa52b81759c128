//! Command line: one file per subcommand.

mod check;
mod client;
mod common;
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
    Serve(serve::Args),
    /// Generate a signing key pair: private.pem, public.pem, public.jwk.json.
    Keygen(keygen::Args),
    /// Signing keys in [keys] dir: rotate, list.
    Keys(keys::Args),
    /// Validate a config file; exit 1 with file:line and the reason.
    Check(check::Args),
    /// Manage registered clients in the configured store.
    Client(client::Args),
    /// Manage resource owners in the configured store.
    User(user::Args),
    /// Token maintenance (purge expired rows).
    Token(token::Args),
    /// Apply the store's schema migrations (serve does it at start too).
    Migrate(common::ConfigArg),
}

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
