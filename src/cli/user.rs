//! `gatehouse user add|list|remove`: resource owners in the configured store.

use super::common::{print_table, read_secret_stdin, with_service, with_store, ConfigArg};
use crate::admin::service::NewUser;
use crate::store;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Add a user (password stored as argon2id).
    Add(AddArgs),
    /// List users (never password hashes).
    List(ConfigArg),
    /// Delete a user.
    Remove(NameArgs),
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("pw").required(true).args(["password", "password_stdin"]))]
struct AddArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    #[arg(long)]
    username: String,
    /// The password. Prefer --password-stdin: arguments show up in process lists.
    #[arg(long)]
    password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    email: Option<String>,
}

#[derive(clap::Args)]
struct NameArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    username: String,
}

pub fn run(a: Args) -> Result<(), String> {
    match a.cmd {
        Cmd::Add(a) => add(a),
        Cmd::List(cfg) => list(&cfg),
        Cmd::Remove(a) => remove(a),
    }
}

fn add(a: AddArgs) -> Result<(), String> {
    let password = match a.password {
        Some(p) => p,
        None => read_secret_stdin("password")?,
    };
    let n = NewUser {
        username: a.username.clone(),
        password,
        name: a.name,
        email: a.email,
    };
    with_service(&a.cfg, |s| async move { s.create_user(n).await })?;
    println!("added user {:?}", a.username);
    Ok(())
}

fn list(cfg: &ConfigArg) -> Result<(), String> {
    let users = with_store(cfg, |s| async move {
        s.list_users(&store::ListQuery::ALL).await.map_err(|e| e.to_string())
    })?;
    let rows: Vec<Vec<String>> = users
        .into_iter()
        .map(|u| vec![u.username, u.name.unwrap_or_default(), u.email.unwrap_or_default()])
        .collect();
    print_table(&["USERNAME", "NAME", "EMAIL"], &rows);
    Ok(())
}

/// Deletes the user, ends their sessions and revokes their tokens.
fn remove(a: NameArgs) -> Result<(), String> {
    let name = a.username.clone();
    with_service(&a.cfg, |s| async move { s.delete_user(&name).await })?;
    println!("removed user {:?}", a.username);
    Ok(())
}
