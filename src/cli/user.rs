//! `gatehouse user add|list|remove`: resource owners in the configured store.

use super::common::{print_table, read_secret_stdin, with_store, ConfigArg};
use crate::authz::secrets;
use crate::store::{self, User};
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
    if a.username.is_empty() || a.username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "invalid username {:?}: no spaces or control characters",
            a.username
        ));
    }
    let password = match a.password {
        Some(p) => p,
        None => read_secret_stdin("password")?,
    };
    if password.is_empty() {
        return Err("the password must not be empty".into());
    }
    let user = User {
        username: a.username.clone(),
        password_hash: secrets::hash_password(&password)?,
        name: a.name,
        email: a.email,
        created_at: store::now(),
    };
    with_store(&a.cfg, |s| async move {
        // put_user replaces; refuse instead so a typo cannot reset a password.
        if s.get_user(&user.username).await.map_err(|e| e.to_string())?.is_some() {
            return Err(format!("user {:?} already exists (remove it first)", user.username));
        }
        s.put_user(&user).await.map_err(|e| e.to_string())
    })?;
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

fn remove(a: NameArgs) -> Result<(), String> {
    let name = a.username.clone();
    if with_store(&a.cfg, |s| async move {
        s.delete_user(&name).await.map_err(|e| e.to_string())
    })? {
        println!("removed user {:?}", a.username);
        Ok(())
    } else {
        Err(format!("no user {:?}", a.username))
    }
}
