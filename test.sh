#!/usr/bin/env bash
# Runs every test of gatehouse. Installs what the tests need (Debian packages,
# Python libraries) on a bare machine first, then runs the Rust test suite.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
# A Debian package counts as present only when dpkg says it is installed:
# a glob for its files can be satisfied by another package (libclang-cpp14's
# libclang-cpp.so.14 matched `libclang*.so*` while libclang-dev was missing).
have_deb() { [ "$(dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }
command -v python3 >/dev/null || need_apt+=(python3)
# python3 alone is not pip (Debian's python3 comes without it).
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)           # tests/browser.rs
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)                # tests/cluster_demo.rs
command -v npm >/dev/null || need_apt+=(nodejs npm)
command -v curl >/dev/null || need_apt+=(curl)              # tests/tls.rs
command -v openssl >/dev/null || need_apt+=(openssl)        # tests/tls.rs, tests/keygen_interop.rs
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)  # store conformance, tests/instances.rs
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)   # tests/rate_limit_shared.rs
# The tests build gatehouse with the `saml` feature: the samael crate binds
# libxmlsec1 (SAML signatures) with bindgen, which needs libclang and its
# headers (libclang-dev), and links OpenSSL (libssl-dev). The default build
# needs none of these (tests/fresh_machine.sh proves it).
for p in pkg-config libxmlsec1-dev libclang-dev libssl-dev; do
  have_deb "$p" || need_apt+=("$p")
done
command -v xmlsec1 >/dev/null || need_apt+=(xmlsec1)        # tests/saml_bearer.rs signs with it
# Apache Cassandra for the store conformance suite and tests/instances.rs,
# tests/store_outage.rs: cassandra-all from Maven Central, run on Java 17
# (tests/cassandra/node.sh).
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Python Authlib for the interop tests (tests/interop_authlib*.rs); jwcrypto
# signs the client assertions of tests/client_assertion.rs.
# Debian's own python3 is "externally managed": these go to the user's site.
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -c 'import authlib, requests, jwcrypto' 2>/dev/null || python3 -m pip install --quiet authlib requests jwcrypto
# schemathesis fuzzes the admin API from its OpenAPI document (tests/admin_schemathesis.rs).
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install --quiet schemathesis
# The OpenTelemetry project's OTLP protobuf classes: tests/otlp/receiver.py
# decodes gatehouse's span exports with them (tests/telemetry.rs).
python3 -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null || python3 -m pip install --quiet opentelemetry-proto
# WebSocket and gRPC peers of tests/streaming.rs.
python3 -c 'import websockets, grpc, grpc_tools' 2>/dev/null || python3 -m pip install --quiet websockets grpcio grpcio-tools

# h2spec judges HTTP/2 conformance (tests/h2spec.rs), built from the Go
# module proxy with the machine's Go and cached between runs.
h2spec_bin="$HOME/.cache/gatehouse/bin/h2spec"
if [ ! -x "$h2spec_bin" ]; then
  command -v go >/dev/null || need_go=1
  [ -z "${need_go:-}" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go; }
  GOBIN="$(dirname "$h2spec_bin")" GOFLAGS=-mod=mod go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
fi

# `.ci/run` installs first (its clippy builds the `saml` feature, which needs libxmlsec1).
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi

# panva's openid-client and oauth4webapi for tests/interop_panva.rs.
if [ ! -d tests/interop/panva/node_modules/openid-client ] || [ ! -d tests/interop/panva/node_modules/oauth4webapi ]; then
  npm install --no-audit --no-fund --prefix tests/interop/panva
fi

# Playwright's library only: it drives the system chromium (never `playwright install`).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  npm install --no-save --no-audit --no-fund --prefix tests/browser playwright-core@1
fi

# One throw-away PostgreSQL for the whole run (initdb in a temp dir, trust
# auth, loopback only); every test makes its own database on it. Stopped
# when this script exits.
log=$(mktemp)
GATEHOUSE_TEST_PG="$(tests/pg/cluster.sh start 2>"$log")" || { cat "$log" >&2; exit 1; }
export GATEHOUSE_TEST_PG
pg_dir="$(tail -n 1 "$log")"
trap 'rm -f "$log"; tests/pg/cluster.sh stop "$pg_dir"' EXIT
# And one Cassandra node (512 MiB heap, about 20 s to start; the first run
# copies cassandra-all and its classpath from Maven Central into
# ~/.cache/gatehouse): every test makes its own keyspace on it and drops
# it afterwards.
GATEHOUSE_TEST_CASSANDRA="$(tests/cassandra/node.sh start 2>"$log")" || { cat "$log" >&2; exit 1; }
cassandra_dir="$(tail -n 1 "$log")"
# The folder holds the CA of the node's TLS certificate (tests/instances.rs).
GATEHOUSE_TEST_CASSANDRA_DIR="$cassandra_dir"
export GATEHOUSE_TEST_CASSANDRA GATEHOUSE_TEST_CASSANDRA_DIR
trap 'rm -f "$log"; tests/pg/cluster.sh stop "$pg_dir"; tests/cassandra/node.sh stop "$cassandra_dir"' EXIT

# The README's first command on a machine without any of the -dev packages
# above: the default build (no SAML) in a mount namespace that hides them,
# then the demo serving /hello (about 2 minutes: gatehouse itself is
# rebuilt without the feature).
tests/fresh_machine.sh

# The last "test result" cargo prints may be an example's empty harness, so
# finish with one total line over every test binary.
set +e
cargo test --all-targets --features saml --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Opt-in: three Cassandra nodes on 127.0.0.2-4, one killed under load
# (1.5 GiB and about two minutes more).
if [ "${GATEHOUSE_TEST_CASSANDRA_NODES:-1}" = 3 ]; then
  cargo test --features saml --locked --test cassandra_cluster -- --ignored 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
sum() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'; }
echo "gatehouse: $(sum passed) passed, $(sum failed) failed"

# Every cargo-fuzz target for 20 s (fuzz/run.sh; about 3 minutes of
# fuzzing plus the instrumented build), failing on a crash. It needs no
# nightly compiler (no sanitizer), so it runs on the CI machine's own
# toolchain; GATEHOUSE_FUZZ=0 skips it, saying so.
if [ "${GATEHOUSE_FUZZ:-1}" = 0 ]; then
  echo "gatehouse: fuzzing SKIPPED (GATEHOUSE_FUZZ=0)"
elif ! fuzz/run.sh "${GATEHOUSE_FUZZ_SECONDS:-20}"; then
  echo "gatehouse: fuzzing FAILED (fuzz/run.sh: see fuzz/artifacts/)"
  status=1
fi
exit "$status"
