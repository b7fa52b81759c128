//! Apache Cassandra for the end-to-end tests: a throw-away node from
//! tests/cassandra/node.sh (./test.sh starts one for the whole run and
//! passes its contact point in GATEHOUSE_TEST_CASSANDRA), and a fresh
//! keyspace per test, dropped when the test ends.

use std::process::Command;
use std::sync::OnceLock;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cassandra/node.sh");

fn node(args: &[&str]) -> (String, String) {
    let out = Command::new(SCRIPT).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tests/cassandra/node.sh {args:?} failed (run ./test.sh, which installs Java and Maven): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
        String::from_utf8(out.stderr).unwrap().trim().to_string(),
    )
}

/// The node shared by the tests of this process: its contact point, and
/// the folder node.sh made for it.
fn shared_node() -> &'static (String, String) {
    static NODE: OnceLock<(String, String)> = OnceLock::new();
    NODE.get_or_init(|| match std::env::var("GATEHOUSE_TEST_CASSANDRA") {
        Ok(c) => (
            c.trim().to_string(),
            std::env::var("GATEHOUSE_TEST_CASSANDRA_DIR").unwrap_or_default(),
        ),
        Err(_) => {
            let (contact, dir) = node(&["start", "--watch", &std::process::id().to_string()]);
            (contact, dir.lines().last().unwrap_or_default().to_string())
        }
    })
}

pub fn shared() -> String {
    shared_node().0.clone()
}

/// The CA that signed the shared node's TLS certificate.
pub fn shared_ca() -> String {
    format!("{}/ca.pem", shared_node().1)
}

/// Rows of a query as the default superuser, each column as text.
pub fn query(contacts: &str, statement: &str) -> Vec<Vec<String>> {
    let (contacts, statement) = (contacts.to_string(), statement.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = session(&contacts).await;
            let r = s.query_unpaged(statement.as_str(), ()).await.unwrap();
            let rows = r.into_rows_result().unwrap();
            rows.rows::<scylla::value::Row>()
                .unwrap()
                .map(|r| {
                    r.unwrap()
                        .columns
                        .into_iter()
                        .map(|c| c.map_or("null".into(), |v| format!("{v:?}")))
                        .collect()
                })
                .collect()
        })
    })
    .join()
    .unwrap()
}

async fn session(contacts: &str) -> scylla::client::session::Session {
    let mut b = scylla::client::session_builder::SessionBuilder::new().user("cassandra", "cassandra");
    for c in contacts.split(',') {
        b = b.known_node(c);
    }
    b.build().await.unwrap()
}

/// A node (or `nodes` nodes, one cluster) of the test's own, which it may
/// stop and start; removed when dropped.
pub struct Private {
    /// Contact points, `host:port[,host:port…]`.
    pub contacts: String,
    /// `user:password` to log in with.
    pub login: String,
    dir: String,
}

impl Private {
    /// With several nodes, the cluster is set up as a production one must
    /// be for a node to go down without failing logins: `system_auth`
    /// replicated to every node (its default is one replica, so the node
    /// holding a role takes every login with it), and a role of its own
    /// for gatehouse (Cassandra reads the default `cassandra` superuser at
    /// QUORUM, other roles at the configurable LOCAL_QUORUM).
    pub fn start(nodes: usize) -> Private {
        let pid = std::process::id().to_string();
        let n = nodes.to_string();
        let (contacts, dir) = node(&["start", "--nodes", &n, "--watch", &pid]);
        let dir = dir.lines().last().unwrap_or_default().to_string();
        let mut login = "cassandra:cassandra".to_string();
        if nodes > 1 {
            cql(
                &contacts,
                &[
                    &format!(
                        "ALTER KEYSPACE system_auth WITH replication = \
                         {{'class': 'NetworkTopologyStrategy', 'datacenter1': {nodes}}}"
                    ),
                    "CREATE ROLE IF NOT EXISTS gatehouse WITH PASSWORD = 'gatehouse-test' AND LOGIN = true",
                ],
            );
            login = "gatehouse:gatehouse-test".into();
        }
        Private { contacts, login, dir }
    }

    /// A fresh keyspace's URL on these nodes (left in place: the nodes go
    /// away with the test).
    pub fn keyspace(&self, options: &str) -> String {
        let ks = url(&self.contacts, options).keep();
        ks.replacen("cassandra:cassandra@", &format!("{}@", self.login), 1)
    }

    /// Kills node `i` (1-based) at once, as a crash would.
    pub fn down(&self, i: usize) {
        node(&["down", &self.dir, &i.to_string()]);
    }

    /// Starts node `i` again and waits until it answers CQL.
    pub fn up(&self, i: usize) {
        node(&["up", &self.dir, &i.to_string()]);
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).args(["stop", &self.dir]).output();
    }
}

/// A keyspace name nobody else uses, and the store URL for it on the
/// nodes at `contacts` (the test nodes keep Cassandra's default superuser);
/// `gatehouse` creates the keyspace when it starts. `options` are extra
/// URL options (`replication=1` is always set unless given).
pub fn url(contacts: &str, options: &str) -> Keyspace {
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let mut opts = options.to_string();
    if !opts.contains("replication=") {
        opts = if opts.is_empty() {
            "replication=1".into()
        } else {
            format!("{opts}&replication=1")
        };
    }
    Keyspace {
        url: format!("cassandra://cassandra:cassandra@{contacts}/{name}?{opts}"),
        contacts: contacts.to_string(),
        name,
    }
}

/// A test keyspace, dropped with this (a node holds every table it has in
/// its heap: keyspaces left behind by a whole run would not fit a test
/// node's 512 MiB).
pub struct Keyspace {
    pub url: String,
    pub name: String,
    contacts: String,
}

/// Runs statements as the default superuser.
fn cql(contacts: &str, statements: &[&str]) {
    let (contacts, statements): (String, Vec<String>) =
        (contacts.to_string(), statements.iter().map(|s| s.to_string()).collect());
    // Its own thread and runtime: callers may be inside a test's runtime.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = session(&contacts).await;
            for st in &statements {
                s.query_unpaged(st.as_str(), ())
                    .await
                    .unwrap_or_else(|e| panic!("{st}: {e}"));
            }
            s.await_schema_agreement().await.unwrap();
        })
    })
    .join()
    .unwrap();
}

impl Keyspace {
    /// Its URL, the keyspace left in place (on a private node, which goes
    /// away with everything on it).
    pub fn keep(self) -> String {
        let me = std::mem::ManuallyDrop::new(self);
        me.url.clone()
    }
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let (name, contacts) = (self.name.clone(), self.contacts.clone());
        // Its own thread and runtime: a test's runtime cannot block on
        // async work of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut b = scylla::client::session_builder::SessionBuilder::new().user("cassandra", "cassandra");
                for c in contacts.split(',') {
                    b = b.known_node(c);
                }
                if let Ok(s) = b.build().await {
                    let _ = s.query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ()).await;
                }
            })
        })
        .join();
    }
}
