//! The one test suite every store backend must pass, one file of cases per
//! concern (as `store/` has one trait per concern). Each case is an async
//! function taking a fresh `DynStore`; `backend_suite!` turns the whole list
//! into `#[tokio::test]`s for one backend, named
//! `store::conformance::BACKEND::CONCERN::CASE`. A new backend joins with
//! one line at the bottom (plus its factory); a new concern with one file
//! here and one line in the macro. No backend skips a case.

mod clients;
mod codes;
mod consents;
mod device_codes;
mod failures;
mod health;
mod purge;
mod pushed_requests;
mod rate_counts;
mod revocations;
mod sessions;
mod tokens;
mod used_ids;
mod users;

use super::{AuthCode, Client, ClientMeta, DynStore, TokenKind, TokenRecord, User};
use crate::config::StoreSettings;
use std::sync::Arc;

/// Far enough ahead that nothing built here expires during a test.
pub const FUTURE: i64 = 4_000_000_000;

pub fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: format!("{id} app"),
        secret_hash: Some(format!("sha256$hash-of-{id}")),
        redirect_uris: vec!["https://app.example/cb".into(), "http://127.0.0.1:9/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "photos".into()],
        audience: vec!["https://api.example".into()],
        access_ttl: Some(600),
        refresh_ttl: None,
        created_at: 1_700_000_000,
        meta: ClientMeta::default(),
    }
}

pub fn user(name: &str) -> User {
    User {
        username: name.into(),
        password_hash: format!("$argon2id$v=19$fake${name}"),
        name: Some(format!("{name} Example")),
        email: None,
        created_at: 1_700_000_001,
    }
}

pub fn code(hash: &str, expires_at: i64) -> AuthCode {
    AuthCode {
        code_hash: hash.into(),
        client_id: "c1".into(),
        username: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid photos".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        nonce: None,
        auth_time: 1_700_000_002,
        family_id: format!("fam-{hash}"),
        expires_at,
        resource: vec!["https://api.example/".into()],
        sid: Some(format!("sid-{hash}")),
    }
}

pub fn token(hash: &str, kind: TokenKind, family: &str, expires_at: i64) -> TokenRecord {
    TokenRecord {
        token_hash: hash.into(),
        kind,
        client_id: "c1".into(),
        subject: Some("alice".into()),
        scope: "photos".into(),
        audience: vec!["https://api.example".into()],
        family_id: family.into(),
        issued_at: 1_700_000_003,
        expires_at,
        auth_time: None,
        used: false,
        revoked: false,
        cnf: None,
    }
}

/// Keeps a backend's resources (a temp dir, a server) alive for one test.
pub type Guard = Box<dyn std::any::Any + Send>;

pub async fn memory_store() -> (DynStore, Guard) {
    (Arc::new(super::memory::MemoryStore::default()), Box::new(()))
}

pub async fn sqlite_store() -> (DynStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (super::open(&StoreSettings::for_url(&url)).await.unwrap(), Box::new(dir))
}

/// The test PostgreSQL server's base URL: `$GATEHOUSE_TEST_PG` (./test.sh
/// starts one for the whole run), or a private throw-away server for this
/// test process, stopped when the process exits (tests/pg/cluster.sh).
pub fn pg_base() -> String {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Ok(url) = std::env::var("GATEHOUSE_TEST_PG") {
            return url.trim_end_matches('/').to_string();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg/cluster.sh");
        let out = std::process::Command::new(script)
            .args(["start", "--watch", &std::process::id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot start a test PostgreSQL (run ./test.sh, which installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .clone()
}

/// Settings for a fresh, empty database on the test server.
pub async fn postgres_settings() -> StoreSettings {
    use sqlx::Connection;
    let base = pg_base();
    let name = format!(
        "t_{}",
        crate::authz::secrets::random_token().to_lowercase().replace('-', "_")
    );
    let name = &name[..40];
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    StoreSettings::for_url(&format!("{base}/{name}"))
}

pub async fn postgres_store() -> (DynStore, Guard) {
    (super::open(&postgres_settings().await).await.unwrap(), Box::new(()))
}

/// The test Cassandra's contact point (`host:port`): `$GATEHOUSE_TEST_CASSANDRA`
/// (./test.sh starts one node for the whole run), or a private node for
/// this test process, stopped when the process exits
/// (tests/cassandra/node.sh).
pub fn cassandra_contact() -> String {
    static CONTACT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CONTACT
        .get_or_init(|| {
            if let Ok(c) = std::env::var("GATEHOUSE_TEST_CASSANDRA") {
                return c.trim().to_string();
            }
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassandra/node.sh");
            let out = std::process::Command::new(script)
                .args(["start", "--watch", &std::process::id().to_string()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cannot start a test Cassandra (run ./test.sh, which installs Java and Maven): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .clone()
}

/// Settings for a fresh keyspace on the test node (it has password
/// authentication on, with Cassandra's default superuser), and its name.
pub fn cassandra_settings() -> (StoreSettings, String) {
    let ks: String = crate::authz::secrets::random_token()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(30)
        .collect();
    let ks = format!("t_{ks}");
    let url = format!(
        "cassandra://cassandra:cassandra@{}/{ks}?replication=1",
        cassandra_contact()
    );
    (StoreSettings::for_url(&url), ks)
}

/// Drops a test's keyspace when the test ends. A Cassandra node keeps
/// every table of every keyspace in its heap (about a megabyte each): the
/// suite's keyspaces, 17 tables apiece, would not fit a test node's
/// 512 MiB if they stayed.
struct DropKeyspace(String);

impl Drop for DropKeyspace {
    fn drop(&mut self) {
        let (ks, contact) = (self.0.clone(), cassandra_contact());
        // Its own thread and runtime: this runs inside the test's runtime,
        // which cannot block on async work of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let s = scylla::client::session_builder::SessionBuilder::new()
                    .known_node(contact)
                    .user("cassandra", "cassandra")
                    .build()
                    .await?;
                s.query_unpaged(format!("DROP KEYSPACE IF EXISTS {ks}"), ()).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test keyspace {}: {e}", self.0);
        }
    }
}

pub async fn cassandra_store() -> (DynStore, Guard) {
    let (settings, ks) = cassandra_settings();
    cassandra_store_for(&settings, &ks).await
}

/// The store of `settings` (from `cassandra_settings`), its keyspace
/// dropped when the guard goes.
pub async fn cassandra_store_for(settings: &StoreSettings, ks: &str) -> (DynStore, Guard) {
    let guard = DropKeyspace(ks.to_string());
    (super::open(settings).await.unwrap(), Box::new(guard))
}

/// Every case of every concern, as tests of the backend made by `$factory`.
macro_rules! backend_suite {
    ($backend:ident, $factory:path) => {
        backend_suite!(@concerns $backend, $factory;
            health { answers },
            clients { upsert_get_list_delete, metadata_round_trips, search_and_page },
            users { upsert_get_list_delete, search_and_page },
            codes { single_use, concurrent_consume_has_one_winner },
            tokens {
                round_trip,
                without_a_family_or_subject,
                bound_tokens_keep_their_confirmation,
                refresh_tokens_are_single_use,
                revoke_token_marks_only_that_token,
                revoke_family_revokes_the_family_only,
                concurrent_refresh_consume_has_one_winner,
                concurrent_refresh_consumes_many_tokens,
                stored_after_their_family_was_revoked_read_as_revoked,
                owner_revocation_covers_what_was_issued_before,
            },
            revocations { list_entries_and_bounds },
            used_ids { first_use_then_replay, concurrent_use_has_one_winner, concurrent_many_ids },
            sessions { round_trip, clients_are_recorded_and_handed_back },
            failures { count_within_a_window, concurrent_failures_are_all_counted },
            consents { upsert_get_delete },
            device_codes { lifecycle, poll_interval_is_enforced, concurrent_poll_has_one_winner },
            pushed_requests { taken_once_by_its_client, concurrent_take_has_one_winner },
            rate_counts { every_instance_is_read_own_rows_replaced, expired_rows_do_not_count },
            purge { removes_only_expired_rows },
        );
    };
    (@concerns $backend:ident, $factory:path; $($concern:ident { $($case:ident),* $(,)? }),* $(,)?) => {
        mod $backend {
            $(
                mod $concern {
                    $(
                        // Several worker threads so the concurrency cases really race.
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $case() {
                            let (store, _guard) = $factory().await;
                            $crate::store::conformance::$concern::$case(store).await;
                        }
                    )*
                }
            )*
        }
    };
}

backend_suite!(memory, crate::store::conformance::memory_store);
backend_suite!(sqlite, crate::store::conformance::sqlite_store);
backend_suite!(postgres, crate::store::conformance::postgres_store);
backend_suite!(cassandra, crate::store::conformance::cassandra_store);
