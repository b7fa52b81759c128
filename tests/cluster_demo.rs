//! The README's "Running several instances" demo (examples/cluster/demo.sh)
//! really runs: two instances behind nginx on one PostgreSQL (and on one
//! Cassandra node), a token from one accepted by both, a revocation
//! refused by both.

mod common;

#[test]
fn cluster_demo_smoke() {
    smoke(&[]);
}

#[test]
fn cluster_demo_smoke_on_cassandra() {
    smoke(&["--cassandra"]);
}

fn smoke(args: &[&str]) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut demo = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster/demo.sh"));
    if args.contains(&"--cassandra") {
        // The run's shared node, not one more JVM.
        demo.env("CASSANDRA", common::cassandra::shared());
    }
    let out = demo
        .arg("--smoke")
        .args(args)
        .env("GATEHOUSE_BIN", common::BIN)
        .env("PORT", port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("refused by both"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
