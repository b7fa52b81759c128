//! The keyspace and its tables, created and migrated by `migrate`/`serve`.
//!
//! `schema_meta` holds the schema version (row `version`) and a lock (row
//! `lock`, an LWT with a TTL so that a crashed migrator cannot hold it
//! forever): of several instances starting at once one runs the DDL, the
//! others wait for the version to arrive. Every DDL is followed by a wait
//! for schema agreement, so no instance prepares a statement against a
//! table some node does not know yet.

use super::unavailable;
use super::url::{CassandraUrl, Replication};
use crate::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::unprepared::Statement;
use scylla::statement::Consistency;
use std::time::Duration;

/// Version N is `MIGRATIONS[N - 1]`; append, never edit.
const MIGRATIONS: &[&[&str]] = &[&[
    // Clients and users: one partition each, clustered by id, so listings
    // come in id order and page by `id > ?`. Registered applications and
    // local accounts number thousands, not millions.
    "CREATE TABLE IF NOT EXISTS clients (part int, id text, doc text, PRIMARY KEY (part, id))",
    "CREATE TABLE IF NOT EXISTS users (part int, username text, doc text, PRIMARY KEY (part, username))",
    // Single-use codes: the record as one document, `used` flipped by LWT.
    "CREATE TABLE IF NOT EXISTS codes (code_hash text PRIMARY KEY, doc text, used boolean, expires_at bigint)",
    "CREATE TABLE IF NOT EXISTS tokens (token_hash text PRIMARY KEY, kind text, client_id text, subject text, \
     scope text, audience list<text>, family_id text, issued_at bigint, expires_at bigint, auth_time bigint, \
     used boolean, revoked boolean, cnf text)",
    // Lookups for revoking a grant family and for the admin pages' owner
    // listings (newest first).
    "CREATE TABLE IF NOT EXISTS tokens_by_family (family_id text, token_hash text, PRIMARY KEY (family_id, token_hash))",
    "CREATE TABLE IF NOT EXISTS tokens_by_owner (owner text, issued_at bigint, token_hash text, \
     PRIMARY KEY (owner, issued_at, token_hash)) WITH CLUSTERING ORDER BY (issued_at DESC, token_hash ASC)",
    // One row per revocation (never read-modify-write): the union of an
    // id's rows is its entry; `cutoff` is the largest covered issue time
    // (i64::MAX: everything), `until` when the row may go.
    "CREATE TABLE IF NOT EXISTS revocations (id text, cutoff bigint, until bigint, PRIMARY KEY (id, cutoff, until)) \
     WITH CLUSTERING ORDER BY (cutoff DESC, until DESC)",
    "CREATE TABLE IF NOT EXISTS used_ids (id text PRIMARY KEY, expires_at bigint)",
    "CREATE TABLE IF NOT EXISTS sessions (id_hash text PRIMARY KEY, kind text, subject text, auth_time bigint, \
     expires_at bigint)",
    "CREATE TABLE IF NOT EXISTS sessions_by_subject (kind text, subject text, id_hash text, \
     PRIMARY KEY ((kind, subject), id_hash))",
    "CREATE TABLE IF NOT EXISTS failures (key text PRIMARY KEY, count int, until bigint)",
    "CREATE TABLE IF NOT EXISTS consents (username text, client_id text, scopes list<text>, granted_at bigint, \
     PRIMARY KEY (username, client_id))",
    "CREATE TABLE IF NOT EXISTS device_codes (device_code_hash text PRIMARY KEY, user_code_hash text, \
     client_id text, scope text, status text, subject text, auth_time bigint, family_id text, \
     poll_interval bigint, last_poll_ms bigint, expires_at bigint)",
    "CREATE TABLE IF NOT EXISTS device_user_codes (user_code_hash text PRIMARY KEY, device_code_hash text)",
    "CREATE TABLE IF NOT EXISTS pushed_requests (uri_hash text PRIMARY KEY, client_id text, params text, \
     expires_at bigint)",
    // The change feed other instances poll (see changes.rs): one
    // partition per minute, gone after an hour.
    "CREATE TABLE IF NOT EXISTS changes (bucket bigint, at timeuuid, change text, PRIMARY KEY (bucket, at)) \
     WITH default_time_to_live = 3600",
], &[
    // Version 2: who consumed a code or a refresh token (a fresh id per
    // attempt), so that a consume whose coordinator died before it
    // answered can tell, when sent again, its own win from another
    // instance's (see `CassandraStore::claim`).
    "ALTER TABLE {ks}.codes ADD used_by text",
    "ALTER TABLE {ks}.tokens ADD used_by text",
    // And OIDC Back-Channel Logout: the clients a session issued codes or
    // tokens to. (Codes keep their `sid` in their JSON document.)
    "ALTER TABLE {ks}.sessions ADD clients set<text>",
], &[
    // Version 3: shared rate-limit windows (rate_counts.rs), one partition
    // per key and window, a row per instance, gone by TTL.
    "CREATE TABLE IF NOT EXISTS {ks}.rate_counts (key text, win bigint, instance text, admitted bigint, \
     expires_at bigint, PRIMARY KEY ((key, win), instance))",
]];

pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// How long an instance waits for another one's migration.
const WAIT: Duration = Duration::from_secs(120);

async fn ddl(session: &Session, cql: String, limit: Duration) -> Result<(), StoreError> {
    let mut st = Statement::new(cql);
    st.set_request_timeout(Some(limit.max(Duration::from_secs(30))));
    session.query_unpaged(st, ()).await.map_err(unavailable)?;
    session.await_schema_agreement().await.map_err(unavailable)?;
    Ok(())
}

async fn replication(session: &Session, u: &CassandraUrl) -> Result<String, StoreError> {
    Ok(match &u.replication {
        Replication::Factor(n) => format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {n}}}"),
        Replication::PerDc(dcs) => {
            let parts: Vec<String> = dcs.iter().map(|(dc, n)| format!("'{dc}': {n}")).collect();
            format!("{{'class': 'NetworkTopologyStrategy', {}}}", parts.join(", "))
        }
        Replication::Auto => {
            let peers = session
                .query_unpaged("SELECT peer FROM system.peers", ())
                .await
                .map_err(unavailable)?
                .into_rows_result()
                .map_err(unavailable)?
                .rows_num();
            let n = (peers + 1).min(3);
            format!("{{'class': 'NetworkTopologyStrategy', 'replication_factor': {n}}}")
        }
    })
}

async fn version(session: &Session, ks: &str) -> Result<i32, StoreError> {
    let mut st = Statement::new(format!("SELECT version FROM \"{ks}\".schema_meta WHERE id = 'version'"));
    st.set_consistency(Consistency::Serial);
    let r = session.query_unpaged(st, ()).await.map_err(unavailable)?;
    let rows = r.into_rows_result().map_err(unavailable)?;
    let v: Option<(Option<i32>,)> = rows.maybe_first_row().map_err(unavailable)?;
    Ok(v.and_then(|(v,)| v).unwrap_or(0))
}

/// Cassandra 5.0 says "Column with name 'x' already exists", 4.1 "Invalid
/// column name x because it conflicts with an existing column".
fn column_exists(e: &StoreError) -> bool {
    let m = e.to_string();
    m.contains("already exists") || m.contains("conflicts with an existing column")
}

pub async fn migrate(session: &Session, u: &CassandraUrl, limit: Duration) -> Result<(), StoreError> {
    let ks = &u.keyspace;
    // The keyspace name was checked to be a plain identifier (url.rs).
    let repl = replication(session, u).await?;
    ddl(
        session,
        format!("CREATE KEYSPACE IF NOT EXISTS \"{ks}\" WITH replication = {repl}"),
        limit,
    )
    .await?;
    ddl(
        session,
        format!(
            "CREATE TABLE IF NOT EXISTS \"{ks}\".schema_meta (id text PRIMARY KEY, version int, owner text, \
             at bigint)"
        ),
        limit,
    )
    .await?;
    let current = version(session, ks).await?;
    if current > VERSION {
        return Err(StoreError::Unavailable(format!(
            "keyspace {ks} has schema version {current}, newer than this gatehouse knows ({VERSION}): upgrade it"
        )));
    }
    if current == VERSION {
        return Ok(());
    }
    let me = crate::authz::secrets::random_token();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = session
            .query_unpaged(
                format!("INSERT INTO \"{ks}\".schema_meta (id, owner) VALUES ('lock', ?) IF NOT EXISTS USING TTL 300"),
                (&me,),
            )
            .await
            .map_err(unavailable)?
            .into_rows_result()
            .map_err(unavailable)?;
        let first: Option<scylla::value::Row> = r.maybe_first_row().map_err(unavailable)?;
        let won = matches!(
            first.and_then(|r| r.columns.into_iter().next().flatten()),
            Some(scylla::value::CqlValue::Boolean(true))
        );
        if won {
            break;
        }
        // Another instance migrates: wait for its version.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if version(session, ks).await? >= VERSION {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StoreError::Unavailable(format!(
                "keyspace {ks}: another instance holds the migration lock for over {WAIT:?}"
            )));
        }
    }
    let result = async {
        let from = version(session, ks).await?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            for cql in *step {
                let cql = if cql.contains("{ks}") {
                    cql.replace("{ks}", &format!("\"{ks}\""))
                } else {
                    cql.replacen("IF NOT EXISTS ", &format!("IF NOT EXISTS \"{ks}\"."), 1)
                };
                match ddl(session, cql.clone(), limit).await {
                    // A column added by a migrator that died before it
                    // recorded the version (4.1 has no ADD IF NOT EXISTS).
                    Err(e) if cql.starts_with("ALTER TABLE") && column_exists(&e) => {}
                    r => r?,
                }
            }
            session
                .query_unpaged(
                    format!("UPDATE \"{ks}\".schema_meta SET version = ?, at = ? WHERE id = 'version'"),
                    (i as i32 + 1, crate::store::now()),
                )
                .await
                .map_err(unavailable)?;
            tracing::info!(keyspace = %ks, version = i + 1, "cassandra schema migrated");
        }
        Ok::<(), StoreError>(())
    }
    .await;
    let _ = session
        .query_unpaged(
            format!("DELETE FROM \"{ks}\".schema_meta WHERE id = 'lock' IF owner = ?"),
            (&me,),
        )
        .await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{cassandra_settings, cassandra_store_for};

    /// A migration cut short after its DDL but before it recorded the new
    /// version (the migrator died) runs again cleanly: the ALTERs of
    /// version 2 find their columns there and carry on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupted_migration_runs_again() {
        let (settings, ks) = cassandra_settings();
        let (_store, _guard) = cassandra_store_for(&settings, &ks).await;
        let u = CassandraUrl::parse(&settings.url).unwrap();
        let session = super::super::session(&u, &settings).await.unwrap();
        session
            .query_unpaged(
                format!("UPDATE \"{ks}\".schema_meta SET version = 1 WHERE id = 'version'"),
                (),
            )
            .await
            .unwrap();
        assert_eq!(version(&session, &ks).await.unwrap(), 1);
        migrate(&session, &u, Duration::from_secs(30)).await.unwrap();
        assert_eq!(version(&session, &ks).await.unwrap(), VERSION);
    }
}
