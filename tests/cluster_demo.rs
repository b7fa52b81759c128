//! The README's "Running several instances" demo (examples/cluster/demo.sh)
//! really runs: two instances behind nginx on one PostgreSQL, a token from
//! one accepted by both, a revocation refused by both.

mod common;

#[test]
fn cluster_demo_smoke() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster/demo.sh"))
        .arg("--smoke")
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
