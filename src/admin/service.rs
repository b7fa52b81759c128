//! The one place that changes clients, users, tokens and keys on behalf of
//! an operator: the admin API, the admin console and the CLI all call
//! this, so a rule (what a valid client is, what deleting a user revokes)
//! holds however the change is made.

use crate::authz::registration::{self, ClientMetadata};
use crate::authz::{secrets, AuthServer};
use crate::error::AdminError;
use crate::keys::SigningAlg;
use crate::store::{self, Client, DynStore, ListQuery, Owner, TokenRecord, User};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

pub const MAX_PAGE: u32 = 200;

#[derive(Clone)]
pub struct Service {
    store: DynStore,
    /// The running server (drops its caches at once); None for the CLI.
    authz: Option<Arc<AuthServer>>,
    signing_alg: SigningAlg,
    /// What a client's fetched URLs may reach (`[outbound]`).
    outbound: crate::outbound::Policy,
    /// How long revocation cutoffs are kept (`registration::revocation_lifetime`).
    cutoff: i64,
    /// Where the key that seals `client_secret_jwt` secrets lives.
    keys_dir: std::path::PathBuf,
}

/// A client as the admin API shows it: never a secret or its hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
    /// No secret and no keys: PKCE instead.
    pub public: bool,
    pub client_id_issued_at: i64,
    /// Registered through `/api/oauth/register`.
    pub dynamically_registered: bool,
}

impl ClientView {
    pub fn of(c: &Client) -> ClientView {
        ClientView {
            client_id: c.id.clone(),
            metadata: registration::metadata_of(c),
            public: c.is_public(),
            client_id_issued_at: c.created_at,
            dynamically_registered: c.meta.registration_token_hash.is_some(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewClient {
    /// Default: a random UUID.
    pub client_id: Option<String>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient {
    pub client: ClientView,
    /// Shown only in this response; only a hash is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewSecret {
    pub client_id: String,
    /// Shown only in this response; the old secret stops working now.
    pub client_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: i64,
}

impl UserView {
    fn of(u: &User) -> UserView {
        UserView {
            username: u.username.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct NewUser {
    #[schema(min_length = 1, max_length = 200, pattern = r"^\S+$")]
    pub username: String,
    /// At least 8 characters; stored as argon2id.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct PasswordReset {
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// An active stored token (refresh tokens, opaque access tokens). JWT
/// access tokens are not stored; revoking all of an owner's tokens covers
/// them too.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    /// The token's SHA-256 (never the token): the id to revoke it by.
    pub id: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub scope: String,
    /// Tokens of one grant (a code exchange, a refresh chain) share it.
    pub grant_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl TokenView {
    fn of(t: &TokenRecord) -> TokenView {
        TokenView {
            id: t.token_hash.clone(),
            kind: t.kind.as_str().into(),
            client_id: t.client_id.clone(),
            subject: t.subject.clone(),
            scope: t.scope.clone(),
            grant_id: t.family_id.clone(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Stored tokens revoked (JWT access tokens are covered without being counted).
    pub revoked: u64,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// `current` (signs), `retiring` (still published), `retired`.
    pub state: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    /// When the key leaves the JWKS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_until: Option<i64>,
}

fn key_view(k: crate::keys::rotation::KeyInfo) -> KeyView {
    KeyView {
        kid: k.kid,
        alg: k.alg,
        state: k.state.as_str().to_string(),
        created_at: k.created_at,
        retired_at: k.retired_at,
        publish_until: k.publish_until,
    }
}

/// A listing query asking for one row more than the page holds, so the
/// page knows whether another follows.
fn query<'a>(search: Option<&'a str>, after: Option<&'a str>, limit: u32) -> (ListQuery<'a>, u32) {
    let limit = limit.clamp(1, MAX_PAGE);
    let q = ListQuery {
        search: search.filter(|s| !s.is_empty()),
        after: after.filter(|s| !s.is_empty()),
        limit: limit + 1,
    };
    (q, limit)
}

/// The page's rows and, when more follow, the key to continue after.
fn page<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let next = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(&key).unwrap_or_default()
    });
    (rows, next)
}

fn check_password(p: &str) -> Result<(), AdminError> {
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(AdminError::BadRequest("password: 8 to 1024 characters".into()));
    }
    Ok(())
}

fn check_username(u: &str) -> Result<(), AdminError> {
    if u.is_empty() || u.len() > 200 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AdminError::BadRequest(format!(
            "invalid username {u:?}: 1 to 200 characters, no spaces or control characters"
        )));
    }
    Ok(())
}

fn check_profile(name: &Option<String>, email: &Option<String>) -> Result<(), AdminError> {
    for (field, v) in [("name", name), ("email", email)] {
        if let Some(v) = v {
            if v.chars().count() > 200 || v.chars().any(char::is_control) {
                return Err(AdminError::BadRequest(format!(
                    "{field}: at most 200 characters, no control characters"
                )));
            }
        }
    }
    if email.as_deref().is_some_and(|e| !e.is_empty() && !e.contains('@')) {
        return Err(AdminError::BadRequest("email: not an address".into()));
    }
    Ok(())
}

/// Argon2 is deliberately slow: keep it off the async workers.
async fn hash_password(p: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&p))
        .await
        .map_err(|_| AdminError::Server)?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AdminError::Server
        })
}

impl Service {
    /// The service of a running server.
    pub fn new(authz: Arc<AuthServer>) -> Service {
        Service {
            authz: Some(authz.clone()),
            ..Service::offline(authz.store.clone(), &authz.cfg)
        }
    }

    /// The service for a command-line tool: the store alone.
    pub fn offline(store: DynStore, cfg: &crate::config::Config) -> Service {
        let t = &cfg.tokens;
        Service {
            store,
            authz: None,
            signing_alg: t.signing_alg,
            outbound: cfg.outbound.clone(),
            cutoff: registration::revocation_lifetime(t),
            keys_dir: cfg.keys_dir.clone(),
        }
    }

    pub fn authz(&self) -> Option<&Arc<AuthServer>> {
        self.authz.as_ref()
    }

    fn forget_client(&self, id: &str) {
        if let Some(a) = &self.authz {
            a.forget_client(id);
        }
    }

    /// Until when a revocation made at `now` must stay on the list.
    fn cutoff_until(&self, now: i64) -> i64 {
        now + self.cutoff
    }

    // ---- clients

    pub async fn list_clients(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ClientPage, AdminError> {
        let (q, limit) = query(search, after, limit);
        let rows = self.store.list_clients(&q).await?;
        let (rows, next) = page(rows, limit, |c| c.id.clone());
        Ok(ClientPage {
            items: rows.iter().map(ClientView::of).collect(),
            next,
        })
    }

    pub async fn client(&self, id: &str) -> Result<Client, AdminError> {
        self.store
            .get_client(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no client {id:?}")))
    }

    /// Registers a client; a confidential one gets a generated secret,
    /// returned once.
    pub async fn create_client(&self, n: NewClient) -> Result<CreatedClient, AdminError> {
        self.create_client_with(n, None).await
    }

    /// Like `create_client`, with a secret chosen by a person (the CLI's
    /// `--secret`): stored as argon2id, sealed for `client_secret_jwt`,
    /// never shown.
    pub async fn create_client_with(
        &self,
        n: NewClient,
        chosen: Option<zeroize::Zeroizing<String>>,
    ) -> Result<CreatedClient, AdminError> {
        let id = n.client_id.clone().unwrap_or_else(registration::new_client_id);
        registration::check_client_id(&id)?;
        if self.store.get_client(&id).await?.is_some() {
            return Err(AdminError::Conflict(format!(
                "client {id:?} already exists (remove it first)"
            )));
        }
        let secret = match chosen {
            Some(c) if registration::needs_secret(&n.metadata) => {
                if c.is_empty() {
                    return Err(AdminError::BadRequest("the client secret must not be empty".into()));
                }
                let sealed = if n.metadata.token_endpoint_auth_method.as_deref() == Some("client_secret_jwt") {
                    Some(self.seal(&id, &c)?)
                } else {
                    None
                };
                registration::IssuedSecret {
                    shown: None,
                    hash: Some(hash_password(c.to_string()).await?),
                    sealed,
                }
            }
            Some(_) => {
                return Err(AdminError::BadRequest(
                    "a client without a secret method (none, private_key_jwt) takes no secret".into(),
                ))
            }
            None => self.issue_secret(&id, &n.metadata, None)?,
        };
        let mut client = registration::build_client(
            &id,
            &n.metadata,
            secret.hash,
            self.signing_alg,
            store::now(),
            &self.outbound,
        )?;
        client.meta.client_secret_sealed = secret.sealed;
        self.insert_client(&client).await?;
        Ok(CreatedClient {
            client: ClientView::of(&client),
            client_secret: secret.shown,
        })
    }

    /// Stores a new client; an existing id is a conflict (never replaced,
    /// so a typo cannot wipe another client's secret).
    pub async fn insert_client(&self, client: &Client) -> Result<(), AdminError> {
        if self.store.get_client(&client.id).await?.is_some() {
            return Err(AdminError::Conflict(format!("client {:?} already exists", client.id)));
        }
        self.store.put_client(client).await?;
        self.forget_client(&client.id);
        Ok(())
    }

    /// Replaces a client's metadata; its secret stays unless the new
    /// metadata takes it away (a switch to `none` or `private_key_jwt`),
    /// and a switch to a secret method gets a new secret, returned once.
    pub async fn update_client(&self, id: &str, m: &ClientMetadata) -> Result<CreatedClient, AdminError> {
        let old = self.client(id).await?;
        let secret = self.issue_secret(id, m, Some(&old))?;
        let mut client =
            registration::build_client(id, m, secret.hash, self.signing_alg, old.created_at, &self.outbound)?;
        client.meta.client_secret_sealed = secret.sealed;
        client.meta.registration_token_hash = old.meta.registration_token_hash;
        self.store.put_client(&client).await?;
        self.forget_client(id);
        Ok(CreatedClient {
            client: ClientView::of(&client),
            client_secret: secret.shown,
        })
    }

    /// A new secret for a confidential client, returned once; the old one
    /// stops working at once on this instance (other instances within
    /// their cache bound).
    pub async fn regenerate_secret(&self, id: &str) -> Result<NewSecret, AdminError> {
        let mut client = self.client(id).await?;
        if client.secret_hash.is_none() {
            return Err(AdminError::BadRequest(format!(
                "client {id:?} does not authenticate with a secret"
            )));
        }
        let (secret, hash) = secrets::new_client_secret();
        client.secret_hash = Some(hash);
        if client.meta.client_secret_sealed.is_some()
            || client.meta.token_endpoint_auth_method.as_deref() == Some("client_secret_jwt")
        {
            client.meta.client_secret_sealed = Some(self.seal(id, &secret)?);
        }
        self.store.put_client(&client).await?;
        self.forget_client(id);
        Ok(NewSecret {
            client_id: id.to_string(),
            client_secret: secret,
        })
    }

    fn issue_secret(
        &self,
        id: &str,
        m: &ClientMetadata,
        old: Option<&Client>,
    ) -> Result<registration::IssuedSecret, AdminError> {
        registration::issue_secret(id, m, old, |id, s| self.seal(id, s).map_err(|e| e.to_string())).map_err(|e| {
            tracing::error!(error = %e, "cannot seal a client secret");
            AdminError::Server
        })
    }

    /// Seals a `client_secret_jwt` client's secret under the key
    /// directory's key (the running server's, or loaded for the CLI).
    fn seal(&self, id: &str, secret: &str) -> Result<String, AdminError> {
        let sealed = match &self.authz {
            Some(a) => a.secret_box.seal(id, secret),
            None => crate::keys::sealed::SecretBox::load_or_create(&self.keys_dir).and_then(|b| b.seal(id, secret)),
        };
        sealed.map_err(|e| {
            tracing::error!(error = %e, "cannot seal a client secret");
            AdminError::Server
        })
    }

    /// Deletes a client and revokes everything issued to it.
    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        self.client(id).await?;
        registration::remove_client(&self.store, id, self.cutoff_until(0)).await?;
        self.forget_client(id);
        self.forget_tokens();
        Ok(())
    }

    // ---- users

    pub async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<UserPage, AdminError> {
        let (q, limit) = query(search, after, limit);
        let rows = self.store.list_users(&q).await?;
        let (rows, next) = page(rows, limit, |u| u.username.clone());
        Ok(UserPage {
            items: rows.iter().map(UserView::of).collect(),
            next,
        })
    }

    pub async fn user(&self, username: &str) -> Result<UserView, AdminError> {
        self.store
            .get_user(username)
            .await?
            .map(|u| UserView::of(&u))
            .ok_or_else(|| AdminError::NotFound(format!("no user {username:?}")))
    }

    pub async fn create_user(&self, n: NewUser) -> Result<UserView, AdminError> {
        check_username(&n.username)?;
        if self.store.get_user(&n.username).await?.is_some() {
            return Err(AdminError::Conflict(format!("user {:?} already exists", n.username)));
        }
        check_password(&n.password)?;
        check_profile(&n.name, &n.email)?;
        let user = User {
            username: n.username,
            password_hash: hash_password(n.password).await?,
            name: n.name.filter(|s| !s.is_empty()),
            email: n.email.filter(|s| !s.is_empty()),
            created_at: store::now(),
        };
        self.store.put_user(&user).await?;
        Ok(UserView::of(&user))
    }

    /// Sets a new password and ends the user's browser sessions.
    pub async fn reset_password(&self, username: &str, password: String) -> Result<(), AdminError> {
        check_password(&password)?;
        let mut user = self
            .store
            .get_user(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no user {username:?}")))?;
        user.password_hash = hash_password(password).await?;
        self.store.put_user(&user).await?;
        let ended = self.store.delete_sessions_of("user", username).await?;
        self.sessions_ended(&ended).await;
        Ok(())
    }

    /// Deletes a user, ends their sessions and revokes their tokens.
    pub async fn delete_user(&self, username: &str) -> Result<(), AdminError> {
        self.user(username).await?;
        let now = store::now();
        self.store
            .revoke_owner(Owner::Subject(username), now, self.cutoff_until(now))
            .await?;
        let ended = self.store.delete_sessions_of("user", username).await?;
        self.sessions_ended(&ended).await;
        self.store.delete_user(username).await?;
        self.forget_tokens();
        Ok(())
    }

    // ---- tokens

    pub async fn tokens(&self, owner: Owner<'_>) -> Result<Vec<TokenView>, AdminError> {
        match owner {
            Owner::Client(id) => drop(self.client(id).await?),
            Owner::Subject(u) => drop(self.user(u).await?),
        }
        let rows = self.store.list_tokens(owner, store::now(), MAX_PAGE).await?;
        Ok(rows.iter().map(TokenView::of).collect())
    }

    /// Revokes everything issued to a client or for a user until now
    /// (stored tokens and JWT access tokens alike).
    pub async fn revoke_all(&self, owner: Owner<'_>) -> Result<Revoked, AdminError> {
        match owner {
            Owner::Client(id) => drop(self.client(id).await?),
            Owner::Subject(u) => drop(self.user(u).await?),
        }
        let now = store::now();
        let revoked = self.store.revoke_owner(owner, now, self.cutoff_until(now)).await?;
        self.forget_tokens();
        Ok(Revoked { revoked })
    }

    /// Revokes the grant a stored token belongs to (the token, the tokens
    /// refreshed from it, and the JWT access tokens of that grant).
    pub async fn revoke_token(&self, id: &str) -> Result<Revoked, AdminError> {
        if id.len() > 200 {
            return Err(AdminError::NotFound("no such token".into()));
        }
        let t = self
            .store
            .get_token(id)
            .await?
            .ok_or_else(|| AdminError::NotFound("no such token".into()))?;
        let now = store::now();
        let one = u64::from(self.store.revoke_token(id).await?);
        let revoked = self
            .store
            .revoke_family(&t.family_id, self.cutoff_until(now))
            .await?
            .max(one);
        self.forget_tokens();
        Ok(Revoked { revoked })
    }

    /// Back-channel logout for sessions the admin ended (from the command
    /// line, with no server running, nobody is told).
    async fn sessions_ended(&self, ended: &[crate::store::SessionRecord]) {
        if let Some(a) = &self.authz {
            a.sessions_ended(ended).await;
        }
    }

    fn forget_tokens(&self) {
        if let Some(a) = &self.authz {
            a.forget_all_tokens();
        }
    }

    // ---- keys: the running server's key ring (`authz/keys.rs`); the
    // command line has `gatehouse keys` instead.

    /// Every signing key with its state, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyView>, AdminError> {
        let a = self.authz.as_ref().ok_or(AdminError::Server)?;
        let keys = a.list_keys().await.map_err(|e| {
            tracing::error!(error = %e, "cannot list the signing keys");
            AdminError::Server
        })?;
        Ok(keys.into_iter().map(key_view).collect())
    }

    /// A new current key; the old ones stay published until their tokens
    /// have expired. Returns the keys afterwards.
    pub async fn rotate_keys(&self) -> Result<Vec<KeyView>, AdminError> {
        let a = self.authz.as_ref().ok_or(AdminError::Server)?;
        let new = a.rotate_keys().await.map_err(|e| {
            tracing::error!(error = %e, "signing keys not rotated");
            AdminError::Server
        })?;
        tracing::info!(kid = %new.kid, alg = %new.alg, "signing keys rotated (admin)");
        self.keys().await
    }
}
