#!/usr/bin/env bash
# Two gatehouse instances behind nginx, sharing one PostgreSQL (or one
# Apache Cassandra node) and one key directory: the "Running several
# instances" setup of the README, on loopback, in one command. Ctrl-C stops
# everything.
#
#   examples/cluster/demo.sh              build (release), start, print curl lines, wait
#   examples/cluster/demo.sh --cassandra  the same on Cassandra instead of PostgreSQL
#   examples/cluster/demo.sh --smoke      start, run the curl story once, stop (used by the tests;
#                                         with --cassandra too)
#
# Needs PostgreSQL and nginx from Debian (installed when missing, as root);
# with --cassandra, Java 17 and Maven instead of PostgreSQL (cassandra-all
# comes from Maven Central, cached in ~/.cache/gatehouse).
# GATEHOUSE_BIN picks a gatehouse binary (default: target/release/gatehouse,
# built if missing). PORT picks nginx's port (default 8080). With
# --cassandra, CASSANDRA=host:port uses a running node (its default
# superuser) instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke="" store=postgres
for a in "$@"; do
  case "$a" in
    --smoke) smoke=1 ;;
    --cassandra) store=cassandra ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

need=()
if [ "$store" = cassandra ]; then
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
else
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

BIN="${GATEHOUSE_BIN:-}"
if [ -z "$BIN" ]; then
  [ -x target/release/gatehouse ] || cargo build --release --locked --bin gatehouse
  BIN="$(pwd)/target/release/gatehouse"
fi

WORK="$(mktemp -d /tmp/gatehouse-cluster.XXXXXX)"
PIDS=()
PG_DIR="" CA_DIR=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$PG_DIR" ] && tests/pg/cluster.sh stop "$PG_DIR"
  [ -n "$CA_DIR" ] && tests/cassandra/node.sh stop "$CA_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

# 1. One PostgreSQL (throw-away: initdb in a temp dir, loopback only), or
#    one Cassandra node (throw-away, loopback, its default superuser).
if [ "$store" = cassandra ]; then
  KEYSPACE=gatehouse
  if [ -n "${CASSANDRA:-}" ]; then
    CA="$CASSANDRA" KEYSPACE="demo_$$"
  else
    CA="$(tests/cassandra/node.sh start 2>"$WORK/cassandra.err")" || { cat "$WORK/cassandra.err" >&2; exit 1; }
    CA_DIR="$(tail -n 1 "$WORK/cassandra.err")"
  fi
  # One node: replication 1 (a real cluster: the default, min(nodes, 3)),
  # and LOCAL_QUORUM of one replica is that replica.
  STORE_URL="cassandra://cassandra:cassandra@$CA/$KEYSPACE?replication=1&consistency=local_quorum"
else
  PG_URL="$(tests/pg/cluster.sh start 2>"$WORK/pg.err")" || { cat "$WORK/pg.err" >&2; exit 1; }
  PG_DIR="$(tail -n 1 "$WORK/pg.err")"
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE gatehouse" >/dev/null
  STORE_URL="$PG_URL/gatehouse"
fi

# 2. Two instances: same config, same key directory, same database; only
#    the listen port differs (GATEHOUSE_LISTEN). The issuer is the public
#    address, nginx's.
PORT="${PORT:-8080}"
ISSUER="http://127.0.0.1:$PORT"
mkdir -p "$WORK/keys"
cat >"$WORK/gatehouse.toml" <<TOML
issuer = "$ISSUER"

[store]
url = "$STORE_URL"
pool_size = 16
revocation_staleness = "5s"

[tokens]
access_format = "opaque"

[keys]
dir = "$WORK/keys"

[[clients]]
id = "printer"
secret = "printer-demo-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["photos"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
name = "photos"
path = "/flickr/photos"
auth = { kind = "oauth2", scopes = ["photos"] }
backend = { mock = { body = "[\"the photos of alice\"]" } }
TOML
"$BIN" migrate --config "$WORK/gatehouse.toml" >/dev/null
UPSTREAMS=""
for i in 1 2; do
  p="$(free_port)"
  GATEHOUSE_LISTEN="127.0.0.1:$p" "$BIN" serve --config "$WORK/gatehouse.toml" \
    >"$WORK/gatehouse-$i.out" 2>"$WORK/gatehouse-$i.log" &
  PIDS+=($!)
  wait_port "$p"
  UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$p;
"
done

# 3. nginx in front, round robin.
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  upstream gatehouse {
$UPSTREAMS    keepalive 32;
  }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://gatehouse;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
wait_port "$PORT"

story() {
  local t
  t="$(curl -fsS -u printer:printer-demo-secret -d grant_type=client_credentials -d scope=photos "$ISSUER/api/oauth/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  # Round robin: the token from one instance works on both.
  for _ in 1 2 3 4; do curl -fsS -H "Authorization: Bearer $t" "$ISSUER/flickr/photos" >/dev/null; done
  curl -fsS -u printer:printer-demo-secret -d "token=$t" "$ISSUER/api/oauth/revoke" >/dev/null
  # PostgreSQL tells the other instance at once (NOTIFY); on Cassandra it
  # polls the change table every 250 ms at most.
  [ "$store" = cassandra ] && sleep 0.5
  for _ in 1 2 3 4; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t" "$ISSUER/flickr/photos")"
    [ "$code" = 401 ] || { echo "a revoked token got $code" >&2; return 1; }
  done
  echo "smoke: token issued, accepted by both instances, revoked, refused by both"
}

if [ -n "$smoke" ]; then
  story
  exit 0
fi

cat <<TXT
gatehouse cluster demo: nginx $ISSUER -> 2 gatehouse instances -> $store (${STORE_URL/cassandra:cassandra@/})
work dir $WORK (configs, logs), removed on exit

  T=\$(curl -s -u printer:printer-demo-secret -d grant_type=client_credentials -d scope=photos $ISSUER/api/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -H "Authorization: Bearer \$T" $ISSUER/flickr/photos     # served by either instance
  curl -u printer:printer-demo-secret -d token=\$T $ISSUER/api/oauth/revoke
  curl -H "Authorization: Bearer \$T" $ISSUER/flickr/photos     # 401 on both instances at once

Ctrl-C stops everything.
TXT
wait
