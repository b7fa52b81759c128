#!/usr/bin/env bash
# Token endpoint benchmark (issue 4): client_credentials tokens/s, p50 and
# p99, all in one run with the same load (wrk -t2 -c64 -d10s after a warm-up,
# median of 3, runs interleaved so drift hits every row alike):
#   gatehouse  JWT RS256, JWT ES256, opaque tokens stored in SQLite (a file),
#              opaque tokens stored in PostgreSQL (a throw-away server from
#              tests/pg/cluster.sh, fsync on, as ./test.sh installs it),
#              the JWT bearer grant (RFC 7523): an ES256 assertion in, an
#              ES256 JWT out, its jti recorded in SQLite; the assertions are
#              pre-signed by bench/jwt_assertions.py (Python `cryptography`),
#              a distinct jti each, and wrk replays them one per request
#   npm oidc-provider 9 (installed here): opaque tokens, JWT RS256 tokens
#   openssl speed -multi 2: RSA-2048 (and P-256) signs/s, the physical limit
# Every request is a POST with client_secret_basic and a form body
# (grant_type=client_credentials&scope=api; the jwt-bearer row sends
# grant_type=…jwt-bearer&assertion=…). JWTB_RATE (default 15000) bounds the
# assertions signed per second of load: a row that runs out answers 400s,
# counted as errors. 127.0.0.1 only; every process it
# starts is stopped on exit. DURATION / RUNS / WARMUP / OPENSSL_SECONDS
# override the defaults for a quick smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-3s}"
OPENSSL_SECONDS="${OPENSSL_SECONDS:-5}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

cargo build --release --locked --bin gatehouse
GATEHOUSE="$(pwd)/target/release/gatehouse"

# oidc-provider lives under bench/out (git-ignored), installed once.
OP_DIR="$(pwd)/bench/out/oidc-provider"
if [ ! -f "$OP_DIR/node_modules/oidc-provider/package.json" ]; then
  mkdir -p "$OP_DIR"
  echo '{"private": true, "type": "module"}' >"$OP_DIR/package.json"
  npm install --prefix "$OP_DIR" --no-audit --no-fund --silent oidc-provider@9
fi
cp bench/oidc-provider-server.mjs "$OP_DIR/server.mjs"
OP_VERSION="$(node -p 'require(process.argv[1]).version' "$OP_DIR/node_modules/oidc-provider/package.json")"

BENCH_NAME=gatehouse-token-bench
# shellcheck source=bench/common.sh
. bench/common.sh  # the script has cd-ed to the repo root

CLIENT=bench
SECRET=bench-secret
JWTB_RATE="${JWTB_RATE:-15000}"
ROWS=(rs256 es256 opaque pg_opaque jwtb op_opaque op_jwt)
declare -A URL NAME PID PORT
NAME[rs256]="gatehouse JWT RS256"
NAME[es256]="gatehouse JWT ES256"
NAME[opaque]="gatehouse opaque, SQLite"
NAME[pg_opaque]="gatehouse opaque, PostgreSQL"
NAME[jwtb]="gatehouse jwt-bearer ES256 → ES256"
NAME[op_opaque]="oidc-provider $OP_VERSION opaque"
NAME[op_jwt]="oidc-provider $OP_VERSION JWT RS256"

# gatehouse: one process per row, each with its own dir, SQLite file and key.
start_gatehouse() { # row format alg [store url] [extra TOML]
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

[keys]
dir = "keys"

[log]
level = "warn"

[[clients]]
id = "$CLIENT"
secret = "$SECRET"
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["api"]
${5:-}
EOF
  (cd "$dir" && exec "$GATEHOUSE" serve --config gatehouse.toml >"$dir/out.log" 2>"$dir/err.log") &
  PID[$1]=$!
  PIDS+=("$!")
  PORT[$1]="$port"
  URL[$1]="http://127.0.0.1:$port/api/oauth/token"
}
start_oidc_provider() { # row mode
  local port
  port="$(free_port)"
  (cd "$OP_DIR" && NODE_ENV=production exec node server.mjs "$port" "$2" >"$WORK/$1.log" 2>&1) &
  PID[$1]=$!
  PIDS+=("$!")
  PORT[$1]="$port"
  URL[$1]="http://127.0.0.1:$port/token"
}
start_gatehouse rs256 jwt RS256
start_gatehouse es256 jwt ES256
start_gatehouse opaque opaque RS256
# The JWT bearer row: a trusted issuer (an openssl P-256 key) and the user
# its assertions name.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/idp.pem" 2>/dev/null
python3 bench/jwt_assertions.py jwk "$WORK/idp.pem" bench-idp >"$WORK/idp.jwk.json"
start_gatehouse jwtb jwt ES256 "sqlite://gatehouse.db" "
[[trusted_issuers]]
issuer = \"https://idp.bench\"
jwks_file = \"$WORK/idp.jwk.json\"

[[users]]
username = \"alice\"
password = \"alice-password\"
"
PG_LOG="$WORK/pg.log"
PG_URL="$(tests/pg/cluster.sh start --watch $$ 2>"$PG_LOG")" || { cat "$PG_LOG" >&2; exit 1; }
PG_DIR="$(tail -n 1 "$PG_LOG")"
trap 'tests/pg/cluster.sh stop "$PG_DIR" 2>/dev/null || true; cleanup' EXIT INT TERM
start_gatehouse pg_opaque opaque RS256 "$PG_URL"
start_oidc_provider op_opaque opaque
start_oidc_provider op_jwt jwt
for row in "${ROWS[@]}"; do wait_port "${PORT[$row]}"; done

# Each row must issue a real token of the right kind before it is measured.
check_row() { # row kind(jwt|opaque) [alg]
  local body tok alg
  body="$(curl -fsS -m 10 -u "$CLIENT:$SECRET" -d grant_type=client_credentials -d scope=api "${URL[$1]}")" ||
    { echo "${NAME[$1]}: token request failed" >&2; exit 1; }
  tok="$(python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["token_type"].lower()=="bearer"; print(d["access_token"])' <<<"$body")" ||
    { echo "${NAME[$1]}: unexpected answer: $body" >&2; exit 1; }
  if [ "$2" = jwt ]; then
    alg="$(python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["alg"])' "$tok")"
    [ "$alg" = "$3" ] || { echo "${NAME[$1]}: JWT alg $alg, expected $3" >&2; exit 1; }
  else
    [ "$(tr -cd . <<<"$tok" | wc -c)" -ne 2 ] || { echo "${NAME[$1]}: expected an opaque token" >&2; exit 1; }
  fi
}
# Assertions for the jwt-bearer row: one file per wrk thread and per wrk
# run (the warm-up and each of the RUNS), since each jti is accepted once.
secs() { case "$1" in *m) echo $(( ${1%m} * 60 ));; *s) echo "${1%s}";; *) echo "$1";; esac; }
JWTB_PER_FILE=$(( ( $(secs "$DURATION") > $(secs "$WARMUP") ? $(secs "$DURATION") : $(secs "$WARMUP") ) * JWTB_RATE / 2 + 1000 ))
JWTB_FILES=$(( (RUNS + 1) * 2 + 1 ))
echo "signing $(( JWTB_FILES * JWTB_PER_FILE )) ES256 assertions…" >&2
python3 bench/jwt_assertions.py sign "$WORK/idp.pem" bench-idp https://idp.bench alice "${URL[jwtb]}" \
  "$WORK/assertions" "$JWTB_FILES" "$JWTB_PER_FILE"
echo 0 >"$WORK/jwtb.calls"
JWTB_GRANT="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
check_jwtb() { # the last file's first assertion must buy an ES256 JWT for alice
  local a body
  a="$(head -n 1 "$WORK/assertions-$(( JWTB_FILES - 1 )).txt")"
  body="$(curl -fsS -m 10 -u "$CLIENT:$SECRET" -d "$JWTB_GRANT&assertion=$a" "${URL[jwtb]}")" ||
    { echo "${NAME[jwtb]}: token request failed" >&2; exit 1; }
  python3 -c 'import base64,json,sys; t=json.load(sys.stdin)["access_token"].split("."); p=lambda s: json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4))); assert p(t[0])["alg"]=="ES256" and p(t[1])["sub"]=="alice"' <<<"$body" ||
    { echo "${NAME[jwtb]}: unexpected answer: $body" >&2; exit 1; }
}
check_jwtb
check_row rs256 jwt RS256
check_row es256 jwt ES256
check_row opaque opaque
check_row pg_opaque opaque
check_row op_opaque opaque
check_row op_jwt jwt RS256

# The same request for every row: POST, Basic auth, form body.
BASIC="$(printf '%s:%s' "$CLIENT" "$SECRET" | openssl base64 -A)"
cat >"$WORK/token.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
EOF

# jwt-bearer: each wrk thread reads its own file of assertions, one line
# per request (the file pair is chosen by the run's number, passed after --).
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

run_wrk() { # row duration → "rps p50ms p99ms errors"
  local out n
  if [ "$1" = jwtb ]; then
    n="$(cat "$WORK/jwtb.calls")"
    echo $(( n + 1 )) >"$WORK/jwtb.calls"
    out="$(wrk -t2 -c64 -d"$2" --latency -s "$WORK/jwtb.lua" "${URL[$1]}" -- "$n")"
  else
    out="$(wrk -t2 -c64 -d"$2" --latency -s "$WORK/token.lua" "${URL[$1]}")"
  fi
  parse_wrk <<<"$out"
}

# The third figure is RSA-2048 with OpenSSL's AVX-512 IFMA code path masked
# off (OPENSSL_ia32cap bit 21 of the leaf-7 EBX word), i.e. the mulx/adx
# Montgomery code that `ring` also uses (gatehouse signs with aws-lc).
run_openssl() { # → "rsa2048_sign/s p256_sign/s rsa2048_no_ifma_sign/s" on 2 processes
  local out plain
  out="$(openssl speed -seconds "$OPENSSL_SECONDS" -multi 2 rsa2048 ecdsap256 2>/dev/null)"
  plain="$(OPENSSL_ia32cap=":~0x200000" openssl speed -seconds "$OPENSSL_SECONDS" -multi 2 rsa2048 2>/dev/null)"
  echo "$(awk '/^rsa 2048 bits/ {print $(NF-1)}' <<<"$out") $(awk '/ecdsa \(nistp256\)/ {print $(NF-1)}' <<<"$out")" \
    "$(awk '/^rsa 2048 bits/ {print $(NF-1)}' <<<"$plain")"
}

echo "warming up…" >&2
for row in "${ROWS[@]}"; do run_wrk "$row" "$WARMUP" >/dev/null; done

declare -A RESULTS
OPENSSL_RESULTS=""
for i in $(seq 1 "$RUNS"); do
  for row in "${ROWS[@]}"; do
    r="$(run_wrk "$row" "$DURATION")"
    echo "run $i ${NAME[$row]}: $r" >&2
    RESULTS[$row]+="$r"$'\n'
  done
  r="$(run_openssl)"
  echo "run $i openssl speed -multi 2 (RSA-2048, P-256, RSA-2048 without IFMA signs/s): $r" >&2
  OPENSSL_RESULTS+="$r"$'\n'
done
GH_RSS="$(for row in rs256 es256 opaque pg_opaque jwtb; do awk '/^VmHWM/ {print $2}' "/proc/${PID[$row]}/status"; done | sort -n | tail -1)"
OP_RSS="$(for row in op_opaque op_jwt; do awk '/^VmHWM/ {print $2}' "/proc/${PID[$row]}/status"; done | sort -n | tail -1)"

median() { # lines on stdin, key column → the line with the median key
  sed '/^$/d' | sort -n -k"$1,$1" | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

echo
echo "client_credentials, client_secret_basic, wrk -t2 -c64 -d$DURATION, median of $RUNS ($(nproc) cores shared by wrk and the server)"
printf '%-34s %10s %10s %10s %8s\n' "row" "req/s" "p50 ms" "p99 ms" "errors"
declare -A RPS P99
for row in "${ROWS[@]}"; do
  read -r rps p50 p99 errs <<<"$(printf '%s' "${RESULTS[$row]}" | median 1)"
  printf '%-34s %10.0f %10s %10s %8s\n' "${NAME[$row]}" "$rps" "$p50" "$p99" "$errs"
  RPS[$row]="$rps"
  P99[$row]="$p99"
done
RSA="$(printf '%s' "$OPENSSL_RESULTS" | median 1 | awk '{print $1}')"
P256="$(printf '%s' "$OPENSSL_RESULTS" | median 2 | awk '{print $2}')"
printf '%-34s %10.0f\n' "openssl RSA-2048 sign/s, 2 procs" "$RSA"
printf '%-34s %10.0f\n' "openssl P-256 sign/s, 2 procs" "$P256"
RSA_PLAIN="$(printf '%s' "$OPENSSL_RESULTS" | median 3 | awk '{print $3}')"
printf '%-34s %10.0f\n' "openssl RSA-2048 no IFMA, 2 procs" "$RSA_PLAIN"
echo
awk -v rs="${RPS[rs256]}" -v es="${RPS[es256]}" -v op="${RPS[opaque]}" \
    -v pg="${RPS[pg_opaque]}" -v op99="${P99[opaque]}" -v pg99="${P99[pg_opaque]}" \
    -v jb="${RPS[jwtb]}" -v pop="${RPS[op_opaque]}" -v pjwt="${RPS[op_jwt]}" -v rsa="$RSA" -v p256="$P256" -v rsa0="$RSA_PLAIN" '
  function verdict(ok) { return ok ? "ok" : "MISSED" }
  BEGIN {
    printf "gatehouse opaque / oidc-provider opaque = %6.2fx   (target >= 5)      %s\n", op / pop, verdict(op / pop >= 5)
    printf "gatehouse RS256  / oidc-provider JWT    = %6.2fx   (target >= 5)      %s\n", rs / pjwt, verdict(rs / pjwt >= 5)
    printf "gatehouse ES256  / oidc-provider JWT    = %6.2fx\n", es / pjwt
    printf "gatehouse RS256  / openssl RSA sign/s   = %6.2fx   (target >= 0.6)    %s\n", rs / rsa, verdict(rs / rsa >= 0.6)
    printf "gatehouse RS256  / openssl RSA no IFMA  = %6.2fx   (OpenSSL without its AVX-512 IFMA path)\n", rs / rsa0
    printf "gatehouse ES256  / openssl P-256 sign/s = %6.2fx\n", es / p256
    printf "gatehouse ES256                         = %6.0f/s  (target >= 20000)  %s\n", es, verdict(es >= 20000)
    printf "gatehouse jwt-bearer / client_credentials ES256 = %6.2fx  (ES256 verify + jti insert on top)\n", jb / es
    printf "gatehouse opaque on SQLite              = %6.0f/s p99 %s ms  (target >= 15000, p99 <= 10)  %s\n", op, op99, verdict(op >= 15000 && op99 <= 10)
    printf "gatehouse opaque on PostgreSQL          = %6.0f/s p99 %s ms  (target >= 8000, p99 <= 20)   %s\n", pg, pg99, verdict(pg >= 8000 && pg99 <= 20)
  }'
awk -v g="$GH_RSS" -v o="$OP_RSS" 'BEGIN { printf "peak RSS: gatehouse %.1f MiB, oidc-provider %.1f MiB\n", g / 1024, o / 1024 }'
