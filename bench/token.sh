#!/usr/bin/env bash
# Authorization-server benchmark (issues 4 and 25): gatehouse beside
# Keycloak and Ory Hydra (and node oidc-provider), all started here on
# loopback and measured in the same run with the same load (wrk -t2 -c64
# -d$DURATION after a warm-up, median of $RUNS, rows interleaved so drift
# hits every row alike; wrk shares the cores with the servers):
#
#   client_credentials   JWT RS256, JWT ES256, opaque (SQLite; gatehouse
#                        also at 256 connections, on PostgreSQL and on one
#                        Apache Cassandra node)
#   introspection        RFC 7662, one access token asked about again and
#                        again (gatehouse: an opaque token in SQLite;
#                        Keycloak: its ES256 JWT; Hydra: an opaque token, on
#                        its admin port, which takes no client credentials)
#   refresh              RFC 6749 §6 with rotation: every answer carries a
#                        new refresh token and the wrk script sends that one
#                        next (each connection follows its own chain; the
#                        chains start from tokens minted before the run);
#                        gatehouse on SQLite, PostgreSQL and Cassandra, ES256 JWT access
#                        tokens; Keycloak ES256; Hydra ES256 on PostgreSQL
#   password             RFC 6749 §4.3 (argon2id in both gatehouse and
#                        Keycloak; Hydra has no password grant)
#   jwt-bearer           RFC 7523 (gatehouse only): an ES256 assertion in
#                        (pre-signed by bench/jwt_assertions.py, one jti
#                        each), an ES256 JWT out
#   device polling       RFC 8628 §3.4 (gatehouse only): the token request
#                        of a device whose user has not answered yet
#                        (`authorization_pending`, each poll recorded in
#                        SQLite), over tens of thousands of device codes in
#                        turn, none polled sooner than its interval
#   token exchange       RFC 8693 (gatehouse only): delegation, alice's ES256
#                        access token as subject and the client's own as
#                        actor, an ES256 JWT with `act` and `aud` out
#   nginx `return 200`   the yardstick of introspection (same request)
#   openssl speed        RSA-2048 and P-256 signs/s on 2 processes: the
#                        physical limit of the JWT rows
#
# and, before anything else runs, a cold gatehouse ES256 run: a fresh
# process, no warm-up, 64 connections for $COLD_DURATION (60 s), so caches
# that expire or fill under load show in its p99.
#
# wrk runs as SCHED_BATCH (`chrt -b 0`): on these 2 cores it shares the CPUs
# with the server, and as an ordinary task it preempts the server at every
# response it is woken for, whenever the server has used more CPU than it
# (every authorization server here does; nginx does not): 0.4 involuntary
# context switches per ES256 token, 41k tokens/s instead of 59k. A batch
# task waits for the tick instead, as a client on another machine would not
# interrupt the server at all. Every row, peers included, runs so.
#
# Every request authenticates the client with client_secret_basic. Ratios
# in the table are gatehouse ÷ peer (req/s). Also printed: each server's
# version, start-up time (launch to its first token; Hydra: to its readiness
# endpoint, clients are created through its admin API after) and peak RSS.
#
# Peers are installed and built once and cached under $BENCH_CACHE
# (default ~/.cache/gatehouse-bench): Keycloak from Maven Central, Hydra from
# Go modules, oidc-provider from npm (bench/peers/). PEERS=0 skips them.
# Cassandra (tests/cassandra/node.sh, cassandra-all from Maven Central)
# runs one node beside PostgreSQL; CASSANDRA=0 skips its rows.
# ONLY="g_dv g_te" measures only the rows named (ids as in add_row below).
# GATEHOUSE_BIN=path measures that binary instead of building this tree.
# DURATION / RUNS / WARMUP / OPENSSL_SECONDS / COLD_DURATION (0 skips the
# cold run) override the defaults for a quick smoke run. Every process it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-3s}"
OPENSSL_SECONDS="${OPENSSL_SECONDS:-5}"
COLD_DURATION="${COLD_DURATION:-60s}"
PEERS="${PEERS:-1}"
BENCH_CACHE="${BENCH_CACHE:-$HOME/.cache/gatehouse-bench}"
JWTB_RATE="${JWTB_RATE:-15000}"
mkdir -p "$BENCH_CACHE"
WRK="chrt -b 0 wrk"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ "$PEERS" = 1 ]; then command -v npm >/dev/null || need+=(nodejs npm); fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
python3 -c 'import cryptography' 2>/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-cryptography
}

# GATEHOUSE_BIN=path measures another build (e.g. an older revision's,
# bench/proxy.sh BASELINE= leaves one under target/bench-baseline/).
if [ -n "${GATEHOUSE_BIN:-}" ]; then
  GATEHOUSE="$(realpath "$GATEHOUSE_BIN")"
else
  cargo build --release --locked --bin gatehouse
  GATEHOUSE="$(pwd)/target/release/gatehouse"
fi
GH_VERSION_TEXT="gatehouse $("$GATEHOUSE" --version 2>/dev/null | awk '{print $NF}') ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"

BENCH_NAME=gatehouse-token-bench
# shellcheck source=bench/common.sh
. bench/common.sh  # the script has cd-ed to the repo root

if [ "$PEERS" = 1 ]; then
  # shellcheck source=bench/peers/keycloak.sh
  . bench/peers/keycloak.sh
  # shellcheck source=bench/peers/hydra.sh
  . bench/peers/hydra.sh
  echo "installing the peers (cached under $BENCH_CACHE)…" >&2
  kc_install
  hydra_install
  OP_DIR="$BENCH_CACHE/oidc-provider"
  if [ ! -f "$OP_DIR/node_modules/oidc-provider/package.json" ]; then
    mkdir -p "$OP_DIR"
    echo '{"private": true, "type": "module"}' >"$OP_DIR/package.json"
    npm install --prefix "$OP_DIR" --no-audit --no-fund --silent oidc-provider@9
  fi
  cp bench/oidc-provider-server.mjs "$OP_DIR/server.mjs"
  OP_VERSION="$(node -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json")"
fi

CLIENT=bench
SECRET=bench-secret
BASIC="$(printf '%s:%s' "$CLIENT" "$SECRET" | openssl base64 -A)"
BASIC_ES="$(printf '%s:%s' bench-es "$SECRET" | openssl base64 -A)"
BASIC_OPQ="$(printf '%s:%s' bench-opaque "$SECRET" | openssl base64 -A)"

declare -A URL NAME LUA CONNS SEEDS CALLS ARGS RESULTS
declare -A GPID GPORT GSTART
# gatehouse: one process per configuration, each with its own dir, SQLite
# file and keys. The client may use every grant measured; alice's password
# is hashed with gatehouse's argon2id defaults.
start_gatehouse() { # name format alg [store url] [extra TOML]
  local dir="$WORK/$1" port
  port="$(free_port)"
  mkdir -p "$dir"
  cat >"$dir/gatehouse.toml" <<EOF
listen = "127.0.0.1:$port"

[store]
url = "${4:-sqlite://gatehouse.db}"

[tokens]
access_format = "$2"
signing_alg = "$3"
# The shortest interval: with its 1 s of leeway every poll may come at once.
device_poll_interval = "1s"

[keys]
dir = "keys"

[log]
level = "warn"
# nginx beside it logs nothing either (access_log off).
access = false

[[clients]]
id = "$CLIENT"
secret = "$SECRET"
grant_types = ["client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer",
  "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange"]
scopes = ["api"]
token_exchange = { audiences = ["back-api"] }

[[users]]
username = "alice"
password = "alice-password"
${5:-}
EOF
  GSTART[$1]="$(date +%s%N)"
  (cd "$dir" && exec "$GATEHOUSE" serve --config gatehouse.toml >"$dir/out.log" 2>"$dir/err.log") &
  GPID[$1]=$!
  PIDS+=("$!")
  GPORT[$1]="$port"
}
gh_url() { echo "http://127.0.0.1:${GPORT[$1]}/api/oauth/$2"; }
# Ready: /healthz answers (start-up done: keys made, clients and users
# written), the token endpoint untouched.
gh_wait() {
  local i
  for i in $(seq 1 600); do
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:${GPORT[$1]}/healthz" 2>/dev/null && return 0
    kill -0 "${GPID[$1]}" 2>/dev/null || break
    sleep 0.02
  done
  echo "gatehouse $1 did not start:" >&2
  cat "$WORK/$1/err.log" >&2
  exit 1
}
# Launch to the first token: polls the token endpoint every 5 ms.
first_token_ms() { # url basic-user
  local t0="$2" i
  for i in $(seq 1 4000); do
    if curl -fsS -m 2 -o /dev/null -u "$3:$SECRET" -d grant_type=client_credentials "$1" 2>/dev/null; then
      echo $(( ($(date +%s%N) - t0) / 1000000 ))
      return 0
    fi
    sleep 0.005
  done
  echo "no token from $1" >&2
  return 1
}

# wrk scripts. A form POST with Basic credentials:
lua_form() { # file basic body
  cat >"$WORK/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = "$3"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $2"
EOF
}
# Refresh chains: each wrk thread starts from its own file of refresh
# tokens ($prefix-$call-$thread.txt, more than its connections) and sends,
# on whichever connection asks next, the newest token an answer returned.
lua_refresh() { # file basic
  cat >"$WORK/$1.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $2"
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  queue = {}
  for line in io.lines(args[1] .. "-" .. id .. ".txt") do queue[#queue + 1] = line end
end
function request()
  local t = table.remove(queue) or "exhausted"
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. t)
end
function response(status, headers, body)
  local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if t then queue[#queue + 1] = t end
end
EOF
}
CONNS_DEFAULT=64
SEEDS_PER_THREAD=$(( CONNS_DEFAULT / 2 + 16 ))
WRK_CALLS=$(( RUNS + 1 ))

# ---- start-up: launch to the first token, keys and database made by a
# first start (as bench/startup.sh does) ----
start_gatehouse startup jwt ES256
gh_wait startup
first_token_ms "$(gh_url startup token)" "${GSTART[startup]}" "$CLIENT" >/dev/null
kill "${GPID[startup]}"; wait "${GPID[startup]}" 2>/dev/null || true
GSTART[startup]="$(date +%s%N)"
(cd "$WORK/startup" && exec "$GATEHOUSE" serve --config gatehouse.toml >>"$WORK/startup/out.log" 2>>"$WORK/startup/err.log") &
GPID[startup]=$!
PIDS+=("$!")
GH_STARTUP_MS="$(first_token_ms "$(gh_url startup token)" "${GSTART[startup]}" "$CLIENT")"
GH_IDLE_RSS="$(sleep 1.5; awk '/^VmRSS/ {print $2}' "/proc/${GPID[startup]}/status")"
kill "${GPID[startup]}"

# ---- the cold run: a fresh ES256 gatehouse, wrk at once, no warm-up ----
COLD=""
if [ "$COLD_DURATION" != 0 ] && [ "$COLD_DURATION" != 0s ]; then
  start_gatehouse cold jwt ES256
  gh_wait cold
  lua_form cold "$BASIC" "grant_type=client_credentials&scope=api"
  echo "cold run: a fresh gatehouse ES256, wrk -t2 -c64 -d$COLD_DURATION, no warm-up…" >&2
  cold_out="$($WRK -t2 -c64 -d"$COLD_DURATION" --timeout 30s --latency -s "$WORK/cold.lua" "$(gh_url cold token)")"
  COLD="$(parse_wrk <<<"$cold_out") $(awk '/Latency/ {print $4}' <<<"$cold_out")"
  echo "cold: $COLD" >&2
  COLD_RSS="$(awk '/^VmHWM/ {print $2}' "/proc/${GPID[cold]}/status")"
  kill "${GPID[cold]}"
fi

# ---- everything else ----
start_gatehouse rs256 jwt RS256
start_gatehouse es256 jwt ES256
start_gatehouse opaque opaque RS256
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/idp.pem" 2>/dev/null
python3 bench/jwt_assertions.py jwk "$WORK/idp.pem" bench-idp >"$WORK/idp.jwk.json"
start_gatehouse jwtb jwt ES256 "sqlite://gatehouse.db" "
[[trusted_issuers]]
issuer = \"https://idp.bench\"
jwks_file = \"$WORK/idp.jwk.json\"
"
PG_LOG="$WORK/pg.log"
PG_URL="$(tests/pg/cluster.sh start --watch $$ 2>"$PG_LOG")" || { cat "$PG_LOG" >&2; exit 1; }
PG_DIR="$(tail -n 1 "$PG_LOG")"
trap 'tests/pg/cluster.sh stop "$PG_DIR" 2>/dev/null || true; cleanup' EXIT INT TERM
PG_VERSION_TEXT="$(psql "$PG_URL/postgres" -Atc 'show server_version' 2>/dev/null | awk '{print "PostgreSQL " $1}')"
# Two databases on the one server, so the two rows' tables stay apart.
psql "$PG_URL/postgres" -qc 'create database bench_refresh' >/dev/null
PG_URL_REFRESH="$PG_URL/bench_refresh"
start_gatehouse pg_opaque opaque RS256 "$PG_URL"
start_gatehouse pg_es256 jwt ES256 "$PG_URL_REFRESH"
# One Cassandra node (tests/cassandra/node.sh: cassandra-all from Maven
# Central, cached; 512 MiB heap), one keyspace per row; CASSANDRA=0 skips it.
CA_VERSION_TEXT=""
if [ "${CASSANDRA:-1}" = 1 ]; then
  CA_LOG="$WORK/cassandra.log"
  CA_CONTACT="$(tests/cassandra/node.sh start --watch $$ 2>"$CA_LOG")" || { cat "$CA_LOG" >&2; exit 1; }
  CA_DIR="$(tail -n 1 "$CA_LOG")"
  trap 'tests/cassandra/node.sh stop "$CA_DIR" 2>/dev/null || true; tests/pg/cluster.sh stop "$PG_DIR" 2>/dev/null || true; cleanup' EXIT INT TERM
  CA_VERSION_TEXT="Apache Cassandra $(ls "${CASSANDRA_CACHE:-$HOME/.cache/gatehouse/cassandra-5.0.6}/lib" | sed -n 's/^cassandra-all-\(.*\)\.jar$/\1/p'), one node"
  CA_URL="cassandra://cassandra:cassandra@$CA_CONTACT"
  start_gatehouse ca_opaque opaque RS256 "$CA_URL/bench_opaque?replication=1"
  start_gatehouse ca_es256 jwt ES256 "$CA_URL/bench_refresh?replication=1"
fi

# nginx `return 200`, two workers: the introspection yardstick.
NGX_PORT="$(free_port)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGX_PORT; location / { return 200 "{\"active\":true}"; } }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=("$!")
NGX_VERSION_TEXT="$("$NGINX" -v 2>&1 | sed 's/.*: //')"

if [ "$PEERS" = 1 ]; then
  kc_start
  psql "$PG_URL/postgres" -qc 'create database hydra_rs' -c 'create database hydra_es' >/dev/null
  hydra_start hydra RS256 "$PG_URL/hydra_rs?sslmode=disable"
  hydra_start hydra_es ES256 "$PG_URL/hydra_es?sslmode=disable"
  for m in opaque jwt; do
    port="$(free_port)"
    (cd "$OP_DIR" && NODE_ENV=production exec node server.mjs "$port" "$m" >"$WORK/op_$m.log" 2>&1) &
    PIDS+=("$!")
    GPORT[op_$m]="$port"
  done
fi
for g in rs256 es256 opaque jwtb pg_opaque pg_es256 ${CA_URL:+ca_opaque ca_es256}; do gh_wait "$g"; done
[ "$PEERS" = 1 ] && for m in opaque jwt; do wait_port "${GPORT[op_$m]}"; done
wait_port "$NGX_PORT"

# ---- rows: URL, wrk script, connections, refresh-token seeds ----
add_row() { # id name url lua [conns]
  NAME[$1]="$2"; URL[$1]="$3"; LUA[$1]="$4"; CONNS[$1]="${5:-$CONNS_DEFAULT}"; CALLS[$1]=0
  # ONLY="g_dv g_te …": measure just these rows (the rest is still set up).
  if [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; then ROWS+=("$1"); fi
}
ROWS=()
FORM_CC="grant_type=client_credentials&scope=api"
FORM_PW="grant_type=password&username=alice&password=alice-password"
lua_form cc "$BASIC" "$FORM_CC"
lua_form pw "$BASIC" "$FORM_PW&scope=api"
lua_refresh refresh "$BASIC"
add_row g_rs "client_credentials JWT RS256" "$(gh_url rs256 token)" cc
add_row g_es "client_credentials JWT ES256" "$(gh_url es256 token)" cc
add_row g_op "client_credentials opaque, SQLite" "$(gh_url opaque token)" cc
add_row g_op256 "  … at 256 connections" "$(gh_url opaque token)" cc 256
add_row g_pg "client_credentials opaque, PostgreSQL" "$(gh_url pg_opaque token)" cc
[ -n "${CA_URL:-}" ] && add_row g_ca "client_credentials opaque, Cassandra" "$(gh_url ca_opaque token)" cc
add_row g_in "introspection" "$(gh_url opaque introspect)" g_in
add_row g_rf "refresh (rotation), SQLite" "$(gh_url es256 token)" refresh
add_row g_rfpg "refresh (rotation), PostgreSQL" "$(gh_url pg_es256 token)" refresh
[ -n "${CA_URL:-}" ] && add_row g_rfca "refresh (rotation), Cassandra" "$(gh_url ca_es256 token)" refresh
add_row g_pw "password grant (logins/s)" "$(gh_url es256 token)" pw
add_row g_jb "jwt-bearer ES256 → ES256" "$(gh_url jwtb token)" jwtb
add_row g_dv "device-code polling (pending), SQLite" "$(gh_url es256 token)" dv
add_row g_te "token exchange ES256 → ES256" "$(gh_url es256 token)" te
add_row ngx "nginx return 200 (same request)" "http://127.0.0.1:$NGX_PORT/introspect" g_in
if [ "$PEERS" = 1 ]; then
  lua_form kc_cc "$BASIC" "grant_type=client_credentials"
  lua_form kc_cc_es "$BASIC_ES" "grant_type=client_credentials"
  lua_form kc_pw "$BASIC_ES" "$FORM_PW"
  lua_refresh kc_refresh "$BASIC_ES"
  lua_form h_op "$BASIC_OPQ" "$FORM_CC"
  add_row k_rs "Keycloak RS256" "$KC_URL/token" kc_cc
  add_row k_es "Keycloak ES256" "$KC_URL/token" kc_cc_es
  add_row k_in "Keycloak introspection" "$KC_URL/token/introspect" k_in
  add_row k_rf "Keycloak refresh" "$KC_URL/token" kc_refresh
  add_row k_pw "Keycloak password" "$KC_URL/token" kc_pw
  add_row h_rs "Hydra RS256" "${HYDRA_PUBLIC[hydra]}/oauth2/token" cc
  add_row h_es "Hydra ES256" "${HYDRA_PUBLIC[hydra_es]}/oauth2/token" cc
  add_row h_op "Hydra opaque" "${HYDRA_PUBLIC[hydra]}/oauth2/token" h_op
  add_row h_in "Hydra introspection" "${HYDRA_ADMIN[hydra]}/admin/oauth2/introspect" h_in
  add_row h_rf "Hydra refresh" "${HYDRA_PUBLIC[hydra_es]}/oauth2/token" refresh
  add_row o_op "oidc-provider $OP_VERSION opaque" "http://127.0.0.1:${GPORT[op_opaque]}/token" cc
  add_row o_jwt "oidc-provider $OP_VERSION RS256" "http://127.0.0.1:${GPORT[op_jwt]}/token" cc
fi

# ---- each row must do the real thing once before it is measured ----
token_of() { # url basic-user form... → the access token (checks token_type)
  local url="$1" user="$2" body
  shift 2
  body="$(curl -fsS -m 30 -u "$user:$SECRET" "$@" "$url")" || { echo "$url: token request failed" >&2; exit 1; }
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["token_type"].lower()=="bearer", d; print(d["access_token"])' <<<"$body" ||
    { echo "$url: unexpected answer: $body" >&2; exit 1; }
}
jwt_alg() { python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["alg"])' "$1"; }
expect_jwt() { # row alg user [form...]
  local row="$1" alg="$2" user="$3" tok
  shift 3
  tok="$(token_of "${URL[$row]}" "$user" "$@")"
  [ "$(tr -cd . <<<"$tok" | wc -c)" -eq 2 ] && [ "$(jwt_alg "$tok")" = "$alg" ] ||
    { echo "${NAME[$row]}: expected a $alg JWT, got $tok" >&2; exit 1; }
}
expect_opaque() { # row user [form...] → prints the token
  local row="$1" user="$2" tok
  shift 2
  tok="$(token_of "${URL[$row]}" "$user" "$@")"
  [ "$(tr -cd . <<<"$tok" | wc -c)" -ne 2 ] || { echo "${NAME[$row]}: expected an opaque token" >&2; exit 1; }
  echo "$tok"
}
expect_active() { # row token [curl auth...]
  local row="$1" tok="$2" body
  shift 2
  body="$(curl -fsS -m 30 "$@" --data-urlencode "token=$tok" "${URL[$row]}")"
  python3 -c 'import json,sys; assert json.load(sys.stdin)["active"] is True' <<<"$body" ||
    { echo "${NAME[$row]}: token not active: $body" >&2; exit 1; }
}
CC=(-d grant_type=client_credentials -d scope=api)
expect_jwt g_rs RS256 "$CLIENT" "${CC[@]}"
expect_jwt g_es ES256 "$CLIENT" "${CC[@]}"
G_OPAQUE="$(expect_opaque g_op "$CLIENT" "${CC[@]}")"
expect_opaque g_pg "$CLIENT" "${CC[@]}" >/dev/null
[ -n "${CA_URL:-}" ] && expect_opaque g_ca "$CLIENT" "${CC[@]}" >/dev/null
expect_active g_in "$G_OPAQUE" -u "$CLIENT:$SECRET"
lua_form g_in "$BASIC" "token=$G_OPAQUE"
expect_jwt g_pw ES256 "$CLIENT" -d grant_type=password -d username=alice -d password=alice-password -d scope=api

# Device polling: devices that poll at their interval (1 s) and whose
# user never answers. So that no code is polled sooner than that (which
# is `slow_down`, and raises the code's interval), there are more codes
# than polls in 5 s: minted by wrk itself at the device authorization
# endpoint for $DV_MINT, each answer's device_code written out. An answer
# other than `authorization_pending` counts as an error.
DV_GRANT="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
DV_MINT="${DV_MINT:-6s}"
cat >"$WORK/dv_mint.lua" <<LUA
wrk.method = "POST"
wrk.body = "scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  out = io.open("$WORK/device_codes-" .. id .. ".txt", "w")
  out:setvbuf("line")
end
function response(status, headers, body)
  local c = body:match('"device_code"%s*:%s*"([^"]+)"')
  if c then out:write(c, "\n") end
end
LUA
$WRK -t2 -c16 -d"$DV_MINT" -s "$WORK/dv_mint.lua" "http://127.0.0.1:${GPORT[es256]}/api/oauth/device_authorization" >/dev/null
sleep 0.5
cat "$WORK"/device_codes-*.txt >"$WORK/device_codes.txt"
echo "device codes minted: $(wc -l <"$WORK/device_codes.txt")" >&2
# The check polls one code, which the run then leaves out.
body="$(curl -sS -m 10 -u "$CLIENT:$SECRET" -d "$DV_GRANT&device_code=$(tail -n 1 "$WORK/device_codes.txt")" "${URL[g_dv]}")"
grep -q '"authorization_pending"' <<<"$body" || { echo "${NAME[g_dv]}: unexpected answer: $body" >&2; exit 1; }
sed -i '$d' "$WORK/device_codes.txt"
cat >"$WORK/dv.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
-- Each thread polls its own share of the codes (a code polled by both
-- would come twice at once: slow_down).
function init(args)
  codes, i, unexpected = {}, 0, 0
  local n = 0
  for line in io.lines("$WORK/device_codes.txt") do
    if n % 2 == id then codes[#codes + 1] = line end
    n = n + 1
  end
end
function request()
  i = i % #codes + 1
  return wrk.format(nil, nil, nil, "$DV_GRANT&device_code=" .. codes[i])
end
function response(status, headers, body)
  if status ~= 400 or not body:find('"authorization_pending"', 1, true) then unexpected = unexpected + 1 end
end
function done()
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("unexpected") end
  io.write("Unexpected answers: " .. n .. "\n")
end
LUA
# Token exchange: alice's access token (password grant) for the back API,
# with the client's own client_credentials token as actor.
TE_SUBJECT="$(token_of "${URL[g_te]}" "$CLIENT" -d grant_type=password -d username=alice -d password=alice-password -d scope=api)"
TE_ACTOR="$(token_of "${URL[g_te]}" "$CLIENT" "${CC[@]}")"
TE_AT="urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
TE_FORM="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$TE_SUBJECT&subject_token_type=$TE_AT&actor_token=$TE_ACTOR&actor_token_type=$TE_AT&audience=back-api"
lua_form te "$BASIC" "$TE_FORM"
body="$(curl -fsS -m 10 -u "$CLIENT:$SECRET" --data "$TE_FORM" "${URL[g_te]}")"
python3 -c 'import base64,json,sys; d=json.load(sys.stdin); t=d["access_token"].split("."); p=json.loads(base64.urlsafe_b64decode(t[1]+"="*(-len(t[1])%4))); assert d["issued_token_type"].endswith(":access_token") and p["sub"]=="alice" and p["act"]["sub"]=="bench" and p["aud"] in ("back-api", ["back-api"]), (d, p)' <<<"$body" ||
  { echo "${NAME[g_te]}: unexpected answer: $body" >&2; exit 1; }
if [ "$PEERS" = 1 ]; then
  expect_jwt k_rs RS256 "$CLIENT" -d grant_type=client_credentials
  expect_jwt k_es ES256 bench-es -d grant_type=client_credentials
  K_JWT="$(token_of "${URL[k_es]}" bench-es -d grant_type=client_credentials)"
  expect_active k_in "$K_JWT" -u "bench-es:$SECRET"
  lua_form k_in "$BASIC_ES" "token=$K_JWT"
  expect_jwt k_pw ES256 bench-es -d grant_type=password -d username=alice -d password=alice-password
  expect_jwt h_rs RS256 "$CLIENT" "${CC[@]}"
  expect_jwt h_es ES256 "$CLIENT" "${CC[@]}"
  H_OPAQUE="$(expect_opaque h_op bench-opaque "${CC[@]}")"
  expect_active h_in "$H_OPAQUE"
  lua_form h_in "" "token=$H_OPAQUE"
  sed -i '/Authorization/d' "$WORK/h_in.lua"
  expect_opaque o_op "$CLIENT" "${CC[@]}" >/dev/null
  expect_jwt o_jwt RS256 "$CLIENT" "${CC[@]}"
fi

# ---- refresh-token seeds: one set per wrk call (warm-up + runs), two
# threads each, minted with the password grant (Hydra: the code flow) ----
mint_password() { # url user n [scope] → refresh tokens, one a line
  python3 bench/password_refresh_tokens.py "$1" "$2" "$SECRET" alice alice-password "$3" ${4:+"$4"}
}
seed_row() { # row minter-command...
  local row="$1" call thread
  shift
  for call in $(seq 0 $(( WRK_CALLS - 1 ))); do
    for thread in 0 1; do
      "$@" >"$WORK/seeds-$row-$call-$thread.txt"
      [ "$(wc -l <"$WORK/seeds-$row-$call-$thread.txt")" -ge "$SEEDS_PER_THREAD" ] ||
        { echo "${NAME[$row]}: could not mint refresh tokens" >&2; exit 1; }
    done
  done
  SEEDS[$row]="$WORK/seeds-$row"
}
echo "minting refresh tokens…" >&2
seed_row g_rf mint_password "${URL[g_rf]}" "$CLIENT" "$SEEDS_PER_THREAD" api
seed_row g_rfpg mint_password "${URL[g_rfpg]}" "$CLIENT" "$SEEDS_PER_THREAD" api
[ -n "${CA_URL:-}" ] && seed_row g_rfca mint_password "${URL[g_rfca]}" "$CLIENT" "$SEEDS_PER_THREAD" api
if [ "$PEERS" = 1 ]; then
  seed_row k_rf mint_password "${URL[k_rf]}" bench-es "$SEEDS_PER_THREAD"
  seed_row h_rf python3 bench/peers/hydra_refresh_tokens.py "${HYDRA_PUBLIC[hydra_es]}" "${HYDRA_ADMIN[hydra_es]}" \
    "$CLIENT" "$SECRET" "$SEEDS_PER_THREAD"
fi

# ---- the jwt-bearer row's assertions: one file per wrk thread and call ----
secs() { case "$1" in *m) echo $(( ${1%m} * 60 ));; *s) echo "${1%s}";; *) echo "$1";; esac; }
JWTB_PER_FILE=$(( ( $(secs "$DURATION") > $(secs "$WARMUP") ? $(secs "$DURATION") : $(secs "$WARMUP") ) * JWTB_RATE / 2 + 1000 ))
echo "signing $(( WRK_CALLS * 2 * JWTB_PER_FILE )) ES256 assertions…" >&2
python3 bench/jwt_assertions.py sign "$WORK/idp.pem" bench-idp https://idp.bench alice "${URL[g_jb]}" \
  "$WORK/assertions" "$(( WRK_CALLS * 2 + 1 ))" "$JWTB_PER_FILE"
JWTB_GRANT="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
a="$(head -n 1 "$WORK/assertions-$(( WRK_CALLS * 2 )).txt")"
body="$(curl -fsS -m 10 -u "$CLIENT:$SECRET" -d "$JWTB_GRANT&assertion=$a" "${URL[g_jb]}")"
python3 -c 'import base64,json,sys; t=json.load(sys.stdin)["access_token"].split("."); p=lambda s: json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4))); assert p(t[0])["alg"]=="ES256" and p(t[1])["sub"]=="alice"' <<<"$body" ||
  { echo "${NAME[g_jb]}: unexpected answer: $body" >&2; exit 1; }
cat >"$WORK/jwtb.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  f = io.open("$WORK/assertions-" .. (tonumber(args[1]) * 2 + id) .. ".txt", "r")
end
function request()
  local a = f:read("*l") or "exhausted"
  return wrk.format(nil, nil, nil, "$JWTB_GRANT&assertion=" .. a)
end
EOF

# The call number picks the row's seed set (refresh chains, assertions:
# each usable once). It is counted here, in the calling shell: run_wrk
# itself runs in a $(…) subshell, where an increment is lost, so every run
# replayed the first run's refresh tokens and assertions (reuse detection
# then revoked whole chains, and the errors went into the median).
next_call() { # row → its call number
  NEXT_CALL="${CALLS[$1]}"
  CALLS[$1]=$(( NEXT_CALL + 1 ))
}
run_wrk() { # row duration call → "rps p50ms p99ms errors"
  local row="$1" n="$3" args=()
  if [ -n "${SEEDS[$row]:-}" ]; then args=(-- "${SEEDS[$row]}-$n")
  elif [ "$row" = g_jb ]; then args=(-- "$n")
  fi
  $WRK -t2 -c"${CONNS[$row]}" -d"$2" --timeout 30s --latency -s "$WORK/${LUA[$row]}.lua" "${URL[$row]}" "${args[@]}" | parse_wrk
}
run_openssl() { # → "rsa2048_sign/s p256_sign/s" on 2 processes
  local out
  out="$(openssl speed -seconds "$OPENSSL_SECONDS" -multi 2 rsa2048 ecdsap256 2>/dev/null)"
  echo "$(awk '/^rsa 2048 bits/ {print $(NF-1)}' <<<"$out") $(awk '/ecdsa \(nistp256\)/ {print $(NF-1)}' <<<"$out")"
}

echo "warming up…" >&2
for row in "${ROWS[@]}"; do next_call "$row"; run_wrk "$row" "$WARMUP" "$NEXT_CALL" >/dev/null; done
OPENSSL_RESULTS=""
for i in $(seq 1 "$RUNS"); do
  for row in "${ROWS[@]}"; do
    next_call "$row"
    r="$(run_wrk "$row" "$DURATION" "$NEXT_CALL")"
    echo "run $i ${NAME[$row]}: $r" >&2
    RESULTS[$row]+="$r"$'\n'
  done
  r="$(run_openssl)"
  echo "run $i openssl speed -multi 2 (RSA-2048, P-256 signs/s): $r" >&2
  OPENSSL_RESULTS+="$r"$'\n'
done

mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
max_kib() { printf '%s\n' "$@" | sort -n | tail -1; }
GH_RSS_EACH=""
for g in rs256 es256 opaque pg_opaque pg_es256 jwtb; do GH_RSS_EACH+="$g $(mib "$(hwm "${GPID[$g]}")"), "; done
GH_RSS="$(max_kib "$(hwm "${GPID[rs256]}")" "$(hwm "${GPID[es256]}")" "$(hwm "${GPID[opaque]}")" \
  "$(hwm "${GPID[pg_opaque]}")" "$(hwm "${GPID[pg_es256]}")" "$(hwm "${GPID[jwtb]}")")"

median() { # lines on stdin, key column → the line with the median key
  sed '/^$/d' | sort -n -k"$1,$1" | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}
declare -A RPS P50 P99 ERR
for row in "${ROWS[@]}"; do
  read -r RPS[$row] P50[$row] P99[$row] ERR[$row] <<<"$(printf '%s' "${RESULTS[$row]}" | median 1)"
done
RSA="$(printf '%s' "$OPENSSL_RESULTS" | median 1 | awk '{print $1}')"
P256="$(printf '%s' "$OPENSSL_RESULTS" | median 2 | awk '{print $2}')"

cell() { # row → "req/s (p50/p99 ms)" or —
  local r="$1"
  if [ -z "$r" ] || [ -z "${RPS[$r]:-}" ]; then printf '%s' "—"; return; fi
  awk -v rps="${RPS[$r]}" -v p50="${P50[$r]}" -v p99="${P99[$r]}" -v e="${ERR[$r]}" \
    'BEGIN { printf "%.0f (%.1f/%.1f)%s", rps, p50, p99, (e > 0 ? " " e "err" : "") }'
}
ratio() { # a b → a/b or —
  if [ -z "$2" ] || [ -z "${RPS[$2]:-}" ] || [ -z "${RPS[$1]:-}" ]; then printf '%s' "—"; return; fi
  awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "—" }'
}
line() { # label g-row kc-row hydra-row
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(cell "$2")" "$(cell "$3")" "$(cell "$4")" "$(ratio "$2" "$3")" "$(ratio "$2" "$4")"
}

echo
echo "## Authorization server, side by side"
echo
echo "wrk -t2 -c64 (one row -c256) -d$DURATION, median of $RUNS, $(nproc) cores shared by wrk and the servers;"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); client_secret_basic on every request; cells: req/s (p50/p99 ms)"
echo
echo "- $GH_VERSION_TEXT"
[ "$PEERS" = 1 ] && echo "- $KC_VERSION_TEXT"
[ "$PEERS" = 1 ] && echo "- $HYDRA_VERSION_TEXT"
[ "$PEERS" = 1 ] && echo "- node oidc-provider $OP_VERSION"
[ -n "$CA_VERSION_TEXT" ] && echo "- $CA_VERSION_TEXT"
echo "- $PG_VERSION_TEXT, $NGX_VERSION_TEXT, $(openssl version | cut -d' ' -f1-2)"
echo
echo "| row | gatehouse | Keycloak | Hydra | ÷ Keycloak | ÷ Hydra |"
echo "|---|---:|---:|---:|---:|---:|"
P=""; [ "$PEERS" = 1 ] && P=1
line "client_credentials, JWT RS256" g_rs "${P:+k_rs}" "${P:+h_rs}"
line "client_credentials, JWT ES256" g_es "${P:+k_es}" "${P:+h_es}"
line "client_credentials, opaque (SQLite)" g_op "" ""
line "… opaque, 256 connections" g_op256 "" ""
line "client_credentials, opaque (PostgreSQL)" g_pg "" "${P:+h_op}"
[ -n "${CA_URL:-}" ] && line "client_credentials, opaque (Cassandra)" g_ca "" ""
line "introspection" g_in "${P:+k_in}" "${P:+h_in}"
line "refresh with rotation (SQLite; Keycloak: H2)" g_rf "${P:+k_rf}" ""
line "refresh with rotation (PostgreSQL)" g_rfpg "" "${P:+h_rf}"
[ -n "${CA_URL:-}" ] && line "refresh with rotation (Cassandra)" g_rfca "" ""
line "password grant = logins/s" g_pw "${P:+k_pw}" ""
line "jwt-bearer, ES256 in and out" g_jb "" ""
line "device-code polling, pending (SQLite)" g_dv "" ""
line "token exchange, delegation, ES256" g_te "" ""
if [ "$PEERS" = 1 ]; then
  printf '| start to first token, ms | %s | %s | %s (ready) |  |  |\n' "$GH_STARTUP_MS" "$KC_STARTUP_MS" "${HYDRA_STARTUP_MS[hydra]}"
  printf '| peak RSS, MiB | %s | %s | %s |  |  |\n' "$(mib "$GH_RSS")" "$(mib "$(hwm "$KC_PID")")" \
    "$(mib "$(max_kib "$(hwm "${HYDRA_PID[hydra]}")" "$(hwm "${HYDRA_PID[hydra_es]}")")")"
  echo
  echo "node oidc-provider $OP_VERSION: opaque $(cell o_op), RS256 $(cell o_jwt); gatehouse ÷ it: opaque $(ratio g_op o_op), RS256 $(ratio g_rs o_jwt)"
else
  printf '| start to first token, ms | %s |  |  |  |  |\n| peak RSS, MiB | %s |  |  |  |  |\n' "$GH_STARTUP_MS" "$(mib "$GH_RSS")"
fi
echo "gatehouse peak RSS per process, MiB: ${GH_RSS_EACH%, } (es256 also ran the password and refresh rows; opaque the 256-connection row); idle RSS after start: $(mib "$GH_IDLE_RSS") MiB"
echo "nginx return 200 (the introspection request): $(cell ngx); openssl speed -multi 2: RSA-2048 $RSA signs/s, P-256 $P256 signs/s"
if [ -n "$COLD" ]; then
  read -r c_rps c_p50 c_p99 c_err c_max <<<"$COLD"
  printf 'cold ES256 run (fresh process, no warm-up, -c64 -d%s): %.0f tokens/s, p50 %s ms, p99 %s ms, max %s, %s errors, peak RSS %s MiB\n' \
    "$COLD_DURATION" "$c_rps" "$c_p50" "$c_p99" "$c_max" "$c_err" "$(mib "$COLD_RSS")"
fi

[ -z "${ONLY:-}" ] || exit 0
echo
echo "## Targets"
echo
verdict() { if [ "$1" = 1 ]; then echo ok; else echo MISSED; fi; }
t() { # label ok-flag detail
  printf '%-62s %-34s %s\n' "$1" "$3" "$(verdict "$2")"
}
ok() { awk "BEGIN { exit !($1) }" && echo 1 || echo 0; }
t "ES256 issuance ÷ openssl P-256 signs (>= 0.5x, p99 <= 10 ms)" \
  "$(ok "${RPS[g_es]} / $P256 >= 0.5 && ${P99[g_es]} <= 10")" \
  "$(awk -v a="${RPS[g_es]}" -v b="$P256" 'BEGIN {printf "%.2fx", a/b}') p99 ${P99[g_es]} ms"
if [ -n "$COLD" ]; then
  t "ES256 cold 60 s run ÷ openssl P-256 (>= 0.5x, p99 <= 10 ms)" \
    "$(ok "$c_rps / $P256 >= 0.5 && $c_p99 <= 10")" \
    "$(awk -v a="$c_rps" -v b="$P256" 'BEGIN {printf "%.2fx", a/b}') p99 $c_p99 ms"
fi
t "RS256 issuance ÷ openssl RSA-2048 signs (>= 0.8x)" "$(ok "${RPS[g_rs]} / $RSA >= 0.8")" \
  "$(awk -v a="${RPS[g_rs]}" -v b="$RSA" 'BEGIN {printf "%.2fx", a/b}')"
t "introspection ÷ nginx return 200 (>= 0.8x)" "$(ok "${RPS[g_in]} / ${RPS[ngx]} >= 0.8")" "$(ratio g_in ngx)"
t "opaque, SQLite, 64 conns (>= 15k/s, p99 <= 10 ms)" "$(ok "${RPS[g_op]} >= 15000 && ${P99[g_op]} <= 10")" "$(cell g_op)"
t "opaque, SQLite, 256 conns (>= 15k/s, p99 <= 10 ms)" "$(ok "${RPS[g_op256]} >= 15000 && ${P99[g_op256]} <= 10")" "$(cell g_op256)"
t "opaque, PostgreSQL (>= 8k/s, p99 <= 20 ms)" "$(ok "${RPS[g_pg]} >= 8000 && ${P99[g_pg]} <= 20")" "$(cell g_pg)"
t "refresh rotation, SQLite (>= 10k/s)" "$(ok "${RPS[g_rf]} >= 10000")" "$(cell g_rf)"
t "refresh rotation, PostgreSQL (>= 10k/s)" "$(ok "${RPS[g_rfpg]} >= 10000")" "$(cell g_rfpg)"
if [ "$PEERS" = 1 ]; then
  for pair in "g_rs k_rs" "g_es k_es" "g_in k_in" "g_rf k_rf" "g_rs h_rs" "g_es h_es" "g_pg h_op" "g_in h_in" "g_rfpg h_rf"; do
    read -r g p <<<"$pair"
    t "${NAME[$g]} ÷ ${NAME[$p]} (>= 10x)" "$(ok "${RPS[$g]} / ${RPS[$p]} >= 10")" "$(ratio "$g" "$p")"
  done
  echo "(password grant: both sides are bounded by their password hash at its defaults, about the same work:"
  echo " gatehouse argon2id m=19 MiB t=2 p=1, Keycloak 26 argon2id m=7 MiB t=5 p=1: gatehouse ÷ Keycloak $(ratio g_pw k_pw))"
fi
