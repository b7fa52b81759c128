//! `gatehouse client add|list|show|remove`: client registrations in the
//! configured store.

use super::common::{print_table, read_secret_stdin, with_service, with_store, ConfigArg};
use crate::admin::service::NewClient;
use crate::authz::registration::ClientMetadata;
use crate::config::parse_duration;
use crate::store;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register a client; a generated secret is printed once.
    Add(Box<AddArgs>),
    /// List clients (never secrets).
    List(ConfigArg),
    /// One client as JSON (never its secret).
    Show(IdArgs),
    /// Delete a client.
    Remove(IdArgs),
}

#[derive(clap::Args)]
struct AddArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    #[arg(long)]
    id: String,
    /// Display name (default: the id).
    #[arg(long)]
    name: Option<String>,
    /// A public client: no secret (native and browser apps).
    #[arg(long, conflicts_with_all = ["secret", "secret_stdin"])]
    public: bool,
    /// Use this secret instead of generating one (stored as argon2id).
    /// Prefer --secret-stdin: arguments show up in process lists.
    #[arg(long, conflicts_with = "secret_stdin")]
    secret: Option<String>,
    /// Read the chosen secret from the first line of stdin.
    #[arg(long)]
    secret_stdin: bool,
    /// Allowed redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Allowed grant type (repeatable; default authorization_code and refresh_token).
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// Allowed scope (repeatable, or several separated by spaces).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Audience put in this client's access tokens (repeatable).
    #[arg(long)]
    audience: Vec<String>,
    /// Access token lifetime for this client, e.g. 15m (default: [tokens]).
    #[arg(long, value_parser = parse_duration)]
    access_ttl: Option<std::time::Duration>,
    /// Refresh token lifetime for this client, e.g. 7d (default: [tokens]).
    #[arg(long, value_parser = parse_duration)]
    refresh_ttl: Option<std::time::Duration>,
    /// Algorithm of this client's ID tokens: RS256 (the default) or the
    /// server's [tokens] signing_alg.
    #[arg(long = "id-token-alg")]
    id_token_alg: Option<crate::keys::SigningAlg>,
    /// Where RP-initiated logout may send the user back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// OIDC Back-Channel Logout: where a logout token is POSTed when a
    /// session the client was issued tokens in ends.
    #[arg(long = "backchannel-logout-uri")]
    backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in its logout tokens (always sent).
    #[arg(long = "backchannel-logout-session-required")]
    backchannel_logout_session_required: bool,
    /// How the client authenticates at the token endpoint:
    /// client_secret_basic (default), client_secret_post, client_secret_jwt
    /// (HS256 assertions keyed with the secret), private_key_jwt (with
    /// --jwks or --jwks-uri, no secret) or none (--public).
    #[arg(long = "auth-method")]
    auth_method: Option<String>,
    /// private_key_jwt: a file holding the client's public JWKS (or one JWK).
    #[arg(long, conflicts_with_all = ["jwks_uri", "public", "secret", "secret_stdin"])]
    jwks: Option<std::path::PathBuf>,
    /// private_key_jwt: where the client publishes its public JWKS.
    #[arg(long = "jwks-uri", conflicts_with_all = ["public", "secret", "secret_stdin"])]
    jwks_uri: Option<String>,
}

#[derive(clap::Args)]
struct IdArgs {
    #[command(flatten)]
    cfg: ConfigArg,
    id: String,
}

pub fn run(a: Args) -> Result<(), String> {
    match a.cmd {
        Cmd::Add(a) => add(*a),
        Cmd::List(cfg) => list(&cfg),
        Cmd::Show(a) => show(a),
        Cmd::Remove(a) => remove(a),
    }
}

/// The metadata the arguments describe; the admin service checks it with
/// the rules every registration passes (`authz::registration`).
fn metadata(a: &AddArgs) -> Result<ClientMetadata, String> {
    let method = auth_method(a)?;
    let mut grant_types = a.grant_types.clone();
    if grant_types.is_empty() {
        grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    }
    let scopes: Vec<&str> = a.scopes.iter().flat_map(|s| s.split_whitespace()).collect();
    let secs = |d: Option<std::time::Duration>| d.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(ClientMetadata {
        client_name: a.name.clone(),
        redirect_uris: a.redirect_uris.clone(),
        token_endpoint_auth_method: Some(method.to_string()),
        grant_types,
        scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        jwks: jwks(a)?,
        jwks_uri: a.jwks_uri.clone(),
        post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: a.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: a.backchannel_logout_session_required,
        id_token_signed_response_alg: a.id_token_alg.map(|x| x.as_str().to_string()),
        audience: a.audience.clone(),
        access_token_ttl: secs(a.access_ttl),
        refresh_token_ttl: secs(a.refresh_ttl),
        ..Default::default()
    })
}

/// The chosen (or implied) authentication method, checked against the
/// other arguments the way a `[[clients]]` entry is.
fn auth_method(a: &AddArgs) -> Result<&str, String> {
    let keys = a.jwks.is_some() || a.jwks_uri.is_some();
    let method = match a.auth_method.as_deref() {
        Some(m) => m,
        None if keys => "private_key_jwt",
        None if a.public => "none",
        None => "client_secret_basic",
    };
    let ok = match method {
        "client_secret_basic" | "client_secret_post" | "client_secret_jwt" => !a.public && !keys,
        "private_key_jwt" => keys,
        "none" => a.public,
        other => {
            return Err(format!(
                "unknown --auth-method {other:?}; one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none"
            ))
        }
    };
    if !ok {
        return Err(format!(
            "--auth-method {method}: private_key_jwt needs --jwks or --jwks-uri, none needs --public, the client_secret_* methods a secret (and neither)"
        ));
    }
    if let Some(u) = &a.jwks_uri {
        let parsed = url::Url::parse(u).map_err(|e| format!("--jwks-uri {u:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--jwks-uri {u:?} must be http(s)"));
        }
    }
    Ok(method)
}

/// The JWKS file's content, checked to hold usable public keys.
fn jwks(a: &AddArgs) -> Result<Option<serde_json::Value>, String> {
    let Some(path) = &a.jwks else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("--jwks {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("--jwks {}: not JSON: {e}", path.display()))?;
    crate::keys::PublicKeySet::from_value(&v).map_err(|e| format!("--jwks {}: {e}", path.display()))?;
    Ok(Some(v))
}

fn add(a: AddArgs) -> Result<(), String> {
    let metadata = metadata(&a)?;
    let chosen = if let Some(s) = a.secret.clone() {
        Some(zeroize::Zeroizing::new(s))
    } else if a.secret_stdin {
        Some(zeroize::Zeroizing::new(read_secret_stdin("client secret")?))
    } else {
        None
    };
    let n = NewClient {
        client_id: Some(a.id.clone()),
        metadata,
    };
    let created = with_service(&a.cfg, |s| async move { s.create_client_with(n, chosen).await })?;
    let kind = if created.client.public {
        "public"
    } else {
        "confidential"
    };
    println!("added {kind} client {:?}", a.id);
    if let Some(secret) = created.client_secret.map(zeroize::Zeroizing::new) {
        println!("client_secret: {}", secret.as_str());
        eprintln!("warning: the client secret is shown only this once and cannot be recovered; store it now.");
    }
    Ok(())
}

fn list(cfg: &ConfigArg) -> Result<(), String> {
    let clients = with_store(cfg, |s| async move {
        s.list_clients(&store::ListQuery::ALL).await.map_err(|e| e.to_string())
    })?;
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                if c.is_public() { "public" } else { "confidential" }.into(),
                c.grant_types.join(","),
                c.scopes.join(" "),
            ]
        })
        .collect();
    print_table(&["ID", "NAME", "TYPE", "GRANT TYPES", "SCOPES"], &rows);
    Ok(())
}

fn show(a: IdArgs) -> Result<(), String> {
    let id = a.id.clone();
    let c = with_store(
        &a.cfg,
        |s| async move { s.get_client(&id).await.map_err(|e| e.to_string()) },
    )?
    .ok_or_else(|| format!("no client {:?}", a.id))?;
    // Built field by field so the secret hash can never slip in.
    let v = serde_json::json!({
        "id": c.id,
        "name": c.name,
        "type": if c.is_public() { "public" } else { "confidential" },
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "scopes": c.scopes,
        "audience": c.audience,
        "access_ttl": c.access_ttl,
        "refresh_ttl": c.refresh_ttl,
        "token_endpoint_auth_method": c.meta.token_endpoint_auth_method,
        "jwks": c.meta.jwks,
        "jwks_uri": c.meta.jwks_uri,
        "created_at": c.created_at,
    });
    let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Deletes the client and revokes everything issued to it.
fn remove(a: IdArgs) -> Result<(), String> {
    let id = a.id.clone();
    with_service(&a.cfg, |s| async move { s.delete_client(&id).await })?;
    println!("removed client {:?}", a.id);
    Ok(())
}
