//! `cassandra://…`: Apache Cassandra (4.1/5.0) through the `scylla` driver
//! (maintained, async, speaks CQL protocol v4 to Apache Cassandra; chosen
//! over `cdrs-tokio` for its wider use and prepared-statement cache).
//!
//! The data model is per query, not the SQL schema: a table for each
//! lookup (token by hash, tokens by family, by owner, sessions by subject,
//! device codes by user code), whole-record JSON documents where a record
//! is only ever read whole (clients, users, codes), every expiring row
//! written `USING TTL` so that Cassandra drops it without a purge, and a
//! lightweight transaction (Paxos, at the serial consistency) for every
//! single-use thing: codes, refresh rotation, used `jti`s, pushed request
//! URIs, device codes, sessions, and every insert that must not replace.
//! Reads and plain writes use the URL's `consistency` (LOCAL_QUORUM by
//! default), LWTs its `serial_consistency` (LOCAL_SERIAL).
//!
//! Times in the rows are the callers' (`expires_at`, logical), as on every
//! backend; only the TTL is computed from the wall clock, with a grace
//! period so that a row the caller still calls "expired" reads back a
//! while (and `purge_expired` can count it) before Cassandra drops it.

mod changes;
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
mod schema;
mod sessions;
mod tokens;
pub mod url;
mod used_ids;
mod users;

use crate::config::StoreSettings;
use crate::store::{Change, StoreError};
use scylla::client::caching_session::CachingSession;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::unprepared::Statement;
use scylla::statement::{Consistency, SerialConsistency};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
pub use url::{is_cassandra, CassandraUrl};

/// Rows stay this long past their (wall-clock) expiry before their TTL
/// drops them: the device grant's late polls still read "expired", and an
/// expired code or token still reads back as the trait promises.
const TTL_GRACE: i64 = crate::store::device_codes::PURGE_GRACE;
/// Cassandra's largest TTL (20 years).
const MAX_TTL: i64 = 630_720_000;

/// Striped locks that serialise one instance's read-modify-writes of one
/// failure counter, so that concurrent logins on one instance queue here
/// instead of contending in Paxos (other instances still race correctly
/// through the LWT).
const STRIPES: usize = 64;

pub struct CassandraStore {
    db: CachingSession,
    /// Reads at the serial consistency (what an LWT decided).
    serial: Consistency,
    /// Longest wait for one statement (connect_timeout + statement_timeout,
    /// as on PostgreSQL): a store that is down answers 503 within it.
    limit: Duration,
    changes: Option<broadcast::Sender<Change>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// The change poller runs while this is alive (until the store drops).
    alive: Arc<()>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl CassandraStore {
    /// Connects, creates or migrates the keyspace, and starts following
    /// other instances' changes (a polled table, see `changes.rs`).
    pub async fn connect(s: &StoreSettings) -> Result<CassandraStore, StoreError> {
        let u = CassandraUrl::parse(&s.url)
            .map_err(|e| StoreError::Unsupported(format!("{}: {e}", url::redact(&s.url))))?;
        let session = Arc::new(session(&u, s).await?);
        schema::migrate(&session, &u, s.connect_timeout + s.statement_timeout).await?;
        session.use_keyspace(&u.keyspace, true).await.map_err(unavailable)?;
        let db = scylla::client::caching_session::CachingSessionBuilder::new_shared(session.clone())
            .max_capacity(256)
            .build();
        let (tx, _) = broadcast::channel(1024);
        let store = CassandraStore {
            db,
            serial: match u.serial_consistency {
                url::Serial::Serial => Consistency::Serial,
                url::Serial::LocalSerial => Consistency::LocalSerial,
            },
            limit: s.connect_timeout + s.statement_timeout,
            changes: Some(tx),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            alive: Arc::new(()),
        };
        store.follow_changes(session, Arc::downgrade(&store.alive), s.revocation_staleness);
        Ok(store)
    }

    /// Runs one statement (prepared once, cached) within the time limit.
    async fn run(&self, st: Statement, values: impl SerializeRow) -> Result<QueryResult, StoreError> {
        match tokio::time::timeout(self.limit, self.db.execute_unpaged(st, values)).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable("cassandra did not answer in time".into())),
        }
    }

    /// A plain write (never a lightweight transaction): idempotent, so when
    /// the node coordinating it dies the driver sends it to another one.
    async fn exec(&self, cql: &'static str, values: impl SerializeRow) -> Result<(), StoreError> {
        self.run(idempotent(Statement::new(cql)), values).await.map(|_| ())
    }

    /// Rows of a query at the URL's consistency.
    async fn rows<R>(&self, cql: &str, values: impl SerializeRow) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let r = self.run(idempotent(Statement::new(cql.to_string())), values).await?;
        collect(r)
    }

    /// Rows as a lightweight transaction would see them: at the serial
    /// consistency, so an LWT that another instance has in flight is
    /// finished first.
    async fn serial_rows<R>(&self, cql: &'static str, values: impl SerializeRow) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let mut st = idempotent(Statement::new(cql));
        st.set_consistency(self.serial);
        collect(self.run(st, values).await?)
    }

    /// A lightweight transaction: whether it applied.
    async fn lwt(&self, cql: &'static str, values: impl SerializeRow) -> Result<bool, StoreError> {
        applied(self.run(Statement::new(cql), values).await?)
    }

    /// A lightweight transaction that outlives the node coordinating it:
    /// when an attempt fails in a way another node may not (the connection
    /// broke, the coordinator timed out or lacked replicas, no connection
    /// to it), it is sent once more, within the same time limit; the
    /// driver's plan puts another replica first. Returns whether it
    /// applied, and whether an earlier attempt may have applied with its
    /// answer lost: the caller tells its own effect from another's (an
    /// insert of a key only it could make; a claim carrying its own id).
    /// Not for a condition someone else's effect could also fail (a `jti`
    /// another request may be using), where a lost answer stays an error.
    async fn lwt_retried<V: SerializeRow>(&self, cql: &'static str, values: &V) -> Result<(bool, bool), StoreError> {
        let deadline = tokio::time::Instant::now() + self.limit;
        let mut lost = false;
        loop {
            let attempt = self.db.execute_unpaged(Statement::new(cql), values);
            match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(r)) => return Ok((applied(r)?, lost)),
                Ok(Err(e)) if !lost && may_pass_elsewhere(&e) => {
                    tracing::debug!(error = %e, "lightweight transaction sent again");
                    lost = true;
                }
                Ok(Err(e)) => return Err(unavailable(e)),
                Err(_) => return Err(StoreError::Unavailable("cassandra did not answer in time".into())),
            }
        }
    }

    /// Inserts (`INSERT … IF NOT EXISTS`) a row under a key only this call
    /// could have made (the hash of a secret it just minted): whether the
    /// row is new. A row found by the second attempt after the first one's
    /// answer was lost is the first attempt's.
    async fn insert_own<V: SerializeRow>(&self, cql: &'static str, values: &V) -> Result<bool, StoreError> {
        let (applied, lost) = self.lwt_retried(cql, values).await?;
        Ok(applied || lost)
    }

    /// A single-use claim: `update` sets `used_by = claim` under its
    /// condition; when a lost answer leaves it unclear who won, `readback`
    /// (the row's `used_by`, read at the serial consistency) says.
    async fn claim<V: SerializeRow>(
        &self,
        update: &'static str,
        values: &V,
        readback: &'static str,
        key: &str,
        claim: &str,
    ) -> Result<bool, StoreError> {
        match self.lwt_retried(update, values).await? {
            (true, _) => Ok(true),
            (false, false) => Ok(false),
            (false, true) => {
                let rows: Vec<(Option<String>,)> = self.serial_rows(readback, (key,)).await?;
                Ok(rows.first().and_then(|r| r.0.as_deref()) == Some(claim))
            }
        }
    }

    /// Tells other instances (and this one) what changed; they drop their
    /// cached answers within `revocation_staleness`. A failure is logged:
    /// the caches' staleness bound still holds.
    async fn announce(&self, c: Change) {
        let bucket = changes::bucket(changes::wall_ms());
        if let Err(e) = self
            .exec(
                "INSERT INTO changes (bucket, at, change) VALUES (?, now(), ?)",
                (bucket, c.encode()),
            )
            .await
        {
            tracing::warn!(error = %e, "could not announce a change to other instances");
        }
    }

    fn stripe(&self, key: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.stripes[(h.finish() as usize) % STRIPES]
    }
}

/// Whether a lightweight transaction applied (its `[applied]` column).
fn applied(r: QueryResult) -> Result<bool, StoreError> {
    let rows = r.into_rows_result().map_err(unavailable)?;
    let first: Option<scylla::value::Row> = rows.maybe_first_row().map_err(unavailable)?;
    match first.and_then(|r| r.columns.into_iter().next().flatten()) {
        Some(scylla::value::CqlValue::Boolean(b)) => Ok(b),
        other => Err(unavailable(format!("unexpected LWT answer {other:?}"))),
    }
}

/// Whether a failed request may succeed on another node: the connection
/// to its coordinator broke or there was none, or the coordinator timed
/// out or lacked live replicas (gossip may not have told it yet that a
/// replica died). Not a refusal of the statement itself.
fn may_pass_elsewhere(e: &scylla::errors::ExecutionError) -> bool {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    match e {
        ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan => true,
        ExecutionError::LastAttemptError(a) => match a {
            RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
            RequestAttemptError::DbError(db, _) => matches!(
                db,
                DbError::WriteTimeout { .. }
                    | DbError::ReadTimeout { .. }
                    | DbError::Unavailable { .. }
                    | DbError::Overloaded
                    | DbError::IsBootstrapping
            ),
            _ => false,
        },
        _ => false,
    }
}

/// Marks a read or a plain write as safe to send again: the driver's retry
/// policy then moves it to another replica when its coordinator dies or
/// times out (a lightweight transaction is never marked: sent twice, the
/// second would read the first one's effect as a refusal).
fn idempotent(mut st: Statement) -> Statement {
    st.set_is_idempotent(true);
    st
}

fn collect<R>(r: QueryResult) -> Result<Vec<R>, StoreError>
where
    R: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    let rows = r.into_rows_result().map_err(unavailable)?;
    let it = rows.rows::<R>().map_err(unavailable)?;
    it.collect::<Result<Vec<R>, _>>().map_err(unavailable)
}

/// The TTL (seconds) for a row that the caller says expires at
/// `expires_at` (unix seconds): what is left by the wall clock, plus the
/// grace, within Cassandra's bounds. Never 0 (which would mean "forever").
fn ttl(expires_at: i64) -> i32 {
    let now = crate::store::now();
    let left = expires_at.saturating_sub(now).max(0);
    // Cassandra 5.0 refuses expiry past 2038-01-19 (CASSANDRA-14092).
    let max = MAX_TTL.min(i64::from(i32::MAX) - now - 3600).max(1);
    left.saturating_add(TTL_GRACE).clamp(1, max) as i32
}

async fn session(u: &CassandraUrl, s: &StoreSettings) -> Result<scylla::client::session::Session, StoreError> {
    let profile = ExecutionProfile::builder()
        .consistency(match u.consistency {
            url::Level::Any => Consistency::Any,
            url::Level::One => Consistency::One,
            url::Level::Two => Consistency::Two,
            url::Level::Three => Consistency::Three,
            url::Level::Quorum => Consistency::Quorum,
            url::Level::All => Consistency::All,
            url::Level::LocalQuorum => Consistency::LocalQuorum,
            url::Level::EachQuorum => Consistency::EachQuorum,
            url::Level::LocalOne => Consistency::LocalOne,
        })
        .serial_consistency(Some(match u.serial_consistency {
            url::Serial::Serial => SerialConsistency::Serial,
            url::Serial::LocalSerial => SerialConsistency::LocalSerial,
        }))
        .request_timeout(Some(s.statement_timeout))
        .build();
    let mut b = SessionBuilder::new()
        .known_nodes(&u.hosts)
        .connection_timeout(s.connect_timeout)
        .default_execution_profile_handle(profile.into_handle())
        // Only our keyspace's metadata: far less to fetch on big clusters.
        .keyspaces_to_fetch([u.keyspace.clone()]);
    if let Some(dc) = &u.dc {
        b = b.prefer_datacenter(dc.clone());
    }
    if let Some(user) = &u.username {
        b = b.user(user.clone(), u.password.clone().unwrap_or_default());
    }
    if u.tls {
        b = b.tls_context(Some(tls(u)?));
    }
    match tokio::time::timeout(s.connect_timeout * 2, b.build()).await {
        Ok(r) => r.map_err(|e| unavailable(format!("cassandra ({}): {e}", u.hosts.join(",")))),
        Err(_) => Err(unavailable(format!(
            "cassandra ({}): no node answered within {:?}",
            u.hosts.join(","),
            s.connect_timeout * 2
        ))),
    }
}

/// rustls with the ring provider (the one the rest of gatehouse uses),
/// trusting `tls_ca` or the web PKI roots.
fn tls(u: &CassandraUrl) -> Result<Arc<rustls::ClientConfig>, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match &u.tls_ca {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let mut n = 0;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| unavailable(format!("tls_ca {path}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| unavailable(format!("tls_ca {path}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| unavailable(format!("tls_ca {path}: {e}")))?;
                n += 1;
            }
            if n == 0 {
                return Err(unavailable(format!("tls_ca {path}: no PEM certificate in it")));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unavailable)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_bounded_and_never_zero() {
        let now = crate::store::now();
        assert_eq!(ttl(1), TTL_GRACE as i32);
        assert_eq!(ttl(now + 100), 100 + TTL_GRACE as i32);
        assert!(i64::from(ttl(i64::MAX)) + now < i64::from(i32::MAX));
        assert_eq!(ttl(i64::MIN), TTL_GRACE as i32);
    }
}
