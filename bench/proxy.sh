#!/usr/bin/env bash
# Gateway benchmark: one fast upstream (nginx `return 200`), then in the same
# run, with the same load (wrk -t2 -c64 after a warm-up, median of RUNS,
# runs interleaved so drift hits every row alike), each row as a ratio to
# nginx with its p50/p99:
#   a   nginx as a plain reverse proxy (keepalive upstream pool), no auth
#   as  the same nginx over HTTPS (TLS to the client, plain to the upstream)
#   b   gatehouse, `jwt` route (RS256 token signed by openssl)    bs: HTTPS
#   c   gatehouse, `auth = none`
#   f   gatehouse, `oauth2` route with its own JWT access token   fs: HTTPS
#   d   gatehouse, `oauth2` route, opaque token in PostgreSQL (cache hit)   ds: HTTPS
#   e   the same with 5000 tokens in rotation and a 100-entry cache, so
#       nearly every request is a PostgreSQL lookup (cache miss)
# Then route policies, each as a ratio to row f (the same oauth2 route and
# token without the policy; target >= 0.95 local, >= 0.9 shared):
#   g   f + rate_limit by client (local GCRA), never refused
#   h   the same with rate_limit_store = "store" (the bench's PostgreSQL)
#   i   the same with rate_limit_store on a redis-server started here
#   j   f + cors (a preflight-checked origin on every request)
# Then instructions per proxied request counted by valgrind's callgrind
# (immune to noise) for nginx and for gatehouse's `none` and `jwt` routes,
# one worker each (CALLGRIND=0 skips it; THROUGHPUT=0 skips the wrk rows
# and runs only this count; ROWS_ONLY="j g" runs only those wrk rows beside
# the yardsticks a, as and f). BASELINE=<git rev> adds the same
# count for a release build of that revision (built under
# target/bench-baseline, kept for the next run) and the difference in
# percent: how a change moved the proxy path, e.g. BASELINE=079a8f3 for the
# cost of the gateway's tracing spans with no [telemetry] configured.
# 127.0.0.1 only; every process it starts is stopped on exit. DURATION and
# RUNS shorten a run. PostgreSQL is a throw-away server from
# tests/pg/cluster.sh (installed by ./test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
CALLGRIND="${CALLGRIND:-1}"
THROUGHPUT="${THROUGHPUT:-1}"
BASELINE="${BASELINE:-}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ "$CALLGRIND" = 0 ] || command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release --locked --bin gatehouse
GATEHOUSE="$(pwd)/target/release/gatehouse"
if [ -n "$BASELINE" ] && [ "$CALLGRIND" != 0 ]; then
  # A worktree of the revision, built into its own target dir so that neither
  # build invalidates the other's artifacts.
  BASE_SRC="$(pwd)/target/bench-baseline/src"
  BASE_REV="$(git rev-parse --short "$BASELINE^{commit}")"
  GATEHOUSE_BASE="$(pwd)/target/bench-baseline/gatehouse-$BASE_REV"
  if [ ! -x "$GATEHOUSE_BASE" ]; then
    rm -rf "$BASE_SRC"
    git worktree prune
    git worktree add -q --detach "$BASE_SRC" "$BASE_REV"
    (cd "$BASE_SRC" && CARGO_TARGET_DIR="$(pwd)/../target" cargo build --release --locked --bin gatehouse)
    cp "$(pwd)/target/bench-baseline/target/release/gatehouse" "$GATEHOUSE_BASE"
    git worktree remove --force "$BASE_SRC"
  fi
fi

BENCH_NAME=gatehouse-bench
# shellcheck source=bench/common.sh
. bench/common.sh  # the script has cd-ed to the repo root

UP_PORT="$(free_port)"
NGX_PORT="$(free_port)"
NGXS_PORT="$(free_port)"

# A CA and a certificate for 127.0.0.1, shared by nginx and gatehouse.
mkdir -p "$WORK/tls"
(
  cd "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.csr -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1' >san.ext
  openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile san.ext 2>/dev/null
)

# nginx runs in the foreground (daemon off) so its pid is ours to stop.
nginx_conf() { # name workers body [extra main-context lines]
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/nginx.conf" <<EOF
worker_processes $2;
daemon off;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
${4:-}
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1;
  proxy_temp_path $WORK/$1;
  fastcgi_temp_path $WORK/$1;
  uwsgi_temp_path $WORK/$1;
  scgi_temp_path $WORK/$1;
  keepalive_requests 1000000;
  $3
}
EOF
}
PROXY_BLOCK="upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; }"
PROXY_LOC="location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"

# The fast upstream every row proxies to.
nginx_conf upstream 1 "server { listen 127.0.0.1:$UP_PORT; location / { return 200 \"hello world\"; } }"
# (a)/(as) nginx as a plain reverse proxy with a keepalive pool, HTTP and HTTPS.
nginx_conf proxy auto "$PROXY_BLOCK
  server { listen 127.0.0.1:$NGX_PORT; $PROXY_LOC }
  server { listen 127.0.0.1:$NGXS_PORT ssl; ssl_certificate $WORK/tls/cert.pem; ssl_certificate_key $WORK/tls/key.pem; $PROXY_LOC }"

"$NGINX" -c "$WORK/upstream/nginx.conf" -p "$WORK/upstream" &
PIDS+=($!)
"$NGINX" -c "$WORK/proxy/nginx.conf" -p "$WORK/proxy" &
PIDS+=($!)

# (b): a real RS256 key from `gatehouse keygen`, a token signed with openssl.
"$GATEHOUSE" keygen --alg RS256 --out "$WORK/keys" >/dev/null
KID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$WORK/keys/public.jwk.json")"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
NOW="$(date +%s)"
HEADER="$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$KID" | b64url)"
PAYLOAD="$(printf '{"sub":"bench","iss":"https://tokens.example","iat":%d,"exp":%d}' "$NOW" "$((NOW + 3600))" | b64url)"
SIG="$(printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -sign "$WORK/keys/private.pem" -binary | b64url)"
TOKEN="$HEADER.$PAYLOAD.$SIG"

# Every gatehouse of the run shares one throw-away PostgreSQL.
PG_LOG="$WORK/pg.log"
PG_URL="$(tests/pg/cluster.sh start --watch $$ 2>"$PG_LOG")" || { cat "$PG_LOG" >&2; exit 1; }
PG_DIR="$(tail -n 1 "$PG_LOG")"
trap 'tests/pg/cluster.sh stop "$PG_DIR" 2>/dev/null || true; cleanup' EXIT INT TERM

# gatehouse NAME PORT FORMAT CACHE TLS(0|1) [WORKERS] [RATE_LIMIT_STORE]:
# routes /jwt, /open, /oauth2, /rl (oauth2 + rate limit), /cors (oauth2 +
# cors) to the upstream; a client_credentials client "bench".
gatehouse() {
  local tls=""
  [ "$5" = 1 ] && tls="[tls]
cert = \"$WORK/tls/cert.pem\"
key = \"$WORK/tls/key.pem\""
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/gatehouse.toml" <<EOF
listen = "127.0.0.1:$2"
# One issuer for every instance, so tokens from one are accepted by all.
issuer = "https://gatehouse.bench"
${6:+workers = $6}

[store]
url = "$PG_URL"
cache = { max_entries = $4 }

[tokens]
access_format = "$3"

[keys]
dir = "$WORK/gh-keys-$3"

[log]
level = "warn"
# nginx beside it logs nothing either (access_log off).
access = false

[gateway]
rate_limit_store = "${7:-local}"

$tls

[[clients]]
id = "bench"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["api"]

[[apis]]
name = "jwt"
path = "/jwt"
auth = { kind = "jwt", jwk = "$WORK/keys/public.jwk.json", issuer = "https://tokens.example" }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }

[[apis]]
name = "open"
path = "/open"
backend = { upstream = "http://127.0.0.1:$UP_PORT" }

[[apis]]
name = "oauth2"
path = "/oauth2"
auth = { kind = "oauth2", scopes = ["api"] }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }

# Counted on every request, never refused: what a limit costs when it is
# not the answer.
[[apis]]
name = "rl"
path = "/rl"
auth = { kind = "oauth2", scopes = ["api"] }
rate_limit = { requests = 1000000000, per = "1s", by = "client" }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }

[[apis]]
name = "cors"
path = "/cors"
auth = { kind = "oauth2", scopes = ["api"] }
cors = { origins = ["https://app.bench"], credentials = true }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }
EOF
  "$GATEHOUSE" check --config "$WORK/$1/gatehouse.toml" >/dev/null
  "$GATEHOUSE" serve --config "$WORK/$1/gatehouse.toml" >"$WORK/$1/out" 2>"$WORK/$1/log" &
  PIDS+=("$!")
  eval "PID_$1=$!"
  wait_port "$2"
}
# Shared rate limits on Redis: a redis-server of the run's own.
REDIS_PORT="$(free_port)"
/usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
wait_port "$REDIS_PORT"
GH_PORT="$(free_port)"; GHS_PORT="$(free_port)"
PGH_PORT="$(free_port)"; PGS_PORT="$(free_port)"; PGM_PORT="$(free_port)"
RLP_PORT="$(free_port)"; RLR_PORT="$(free_port)"
gatehouse gh "$GH_PORT" jwt 100000 0        # the first one runs the migrations
gatehouse ghs "$GHS_PORT" jwt 100000 1
gatehouse pgh "$PGH_PORT" opaque 100000 0
gatehouse pgs "$PGS_PORT" opaque 100000 1
gatehouse pgm "$PGM_PORT" opaque 100 0
gatehouse rlp "$RLP_PORT" jwt 100000 0 "" store
gatehouse rlr "$RLR_PORT" jwt 100000 0 "" "redis://127.0.0.1:$REDIS_PORT"
wait_port "$UP_PORT"; wait_port "$NGX_PORT"; wait_port "$NGXS_PORT"

token() { # base url → a client_credentials access token
  local body
  body="$(curl -sS -m 10 --cacert "$WORK/tls/ca.pem" -u bench:bench-secret -d grant_type=client_credentials -d scope=api "$1/api/oauth/token")"
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$body" ||
    { echo "no token from $1: $body" >&2; exit 1; }
}
JWT_AT="$(token "http://127.0.0.1:$GH_PORT")"
# 5000 opaque tokens from the token endpoint, over keep-alive connections.
python3 - "127.0.0.1:$PGH_PORT" "$WORK/tokens.txt" <<'PY'
import base64, concurrent.futures, http.client, json, sys
host, out = sys.argv[1], sys.argv[2]
auth = "Basic " + base64.b64encode(b"bench:bench-secret").decode()
def batch(n):
    c, got = http.client.HTTPConnection(host, timeout=10), []
    for _ in range(n):
        c.request("POST", "/api/oauth/token", "grant_type=client_credentials&scope=api",
                  {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
        got.append(json.loads(c.getresponse().read())["access_token"])
    return got
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    tokens = [t for part in ex.map(batch, [625] * 8) for t in part]
open(out, "w").write("\n".join(tokens) + "\n")
PY
PG_TOKEN="$(head -n 1 "$WORK/tokens.txt")"
cat >"$WORK/rotate.lua" <<'EOF'
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
EOF

ROWS=(a as b bs c f fs d ds e g h i j)
# ROWS_ONLY="j g" measures those rows and the yardsticks (a, as, f) only.
if [ -n "${ROWS_ONLY:-}" ]; then
  # shellcheck disable=SC2206
  ROWS=(a as f $ROWS_ONLY)
fi
declare -A URL HDR NAME
H="http://127.0.0.1"; S="https://127.0.0.1"
URL[a]="$H:$NGX_PORT/hello";            HDR[a]="X-Bench: 1";                  NAME[a]="nginx reverse proxy, no auth"
URL[as]="$S:$NGXS_PORT/hello";          HDR[as]="X-Bench: 1";                 NAME[as]="nginx reverse proxy, HTTPS"
URL[b]="$H:$GH_PORT/jwt/hello";         HDR[b]="Authorization: Bearer $TOKEN"; NAME[b]="gatehouse jwt (RS256)"
URL[bs]="$S:$GHS_PORT/jwt/hello";       HDR[bs]="Authorization: Bearer $TOKEN"; NAME[bs]="gatehouse jwt, HTTPS"
URL[c]="$H:$GH_PORT/open/hello";        HDR[c]="X-Bench: 1";                  NAME[c]="gatehouse auth = none"
URL[f]="$H:$GH_PORT/oauth2/hello";      HDR[f]="Authorization: Bearer $JWT_AT"; NAME[f]="gatehouse oauth2, JWT token"
URL[fs]="$S:$GHS_PORT/oauth2/hello";    HDR[fs]="Authorization: Bearer $JWT_AT"; NAME[fs]="gatehouse oauth2, JWT, HTTPS"
URL[d]="$H:$PGH_PORT/oauth2/hello";     HDR[d]="Authorization: Bearer $PG_TOKEN"; NAME[d]="gatehouse oauth2, opaque (PG, cached)"
URL[ds]="$S:$PGS_PORT/oauth2/hello";    HDR[ds]="Authorization: Bearer $PG_TOKEN"; NAME[ds]="gatehouse oauth2, opaque, HTTPS"
URL[e]="$H:$PGM_PORT/oauth2/hello";     HDR[e]="";                            NAME[e]="gatehouse oauth2, opaque, cache miss"
URL[g]="$H:$GH_PORT/rl/hello";          HDR[g]="Authorization: Bearer $JWT_AT"; NAME[g]="f + rate_limit (local)"
URL[h]="$H:$RLP_PORT/rl/hello";         HDR[h]="Authorization: Bearer $JWT_AT"; NAME[h]="f + rate_limit (store: PostgreSQL)"
URL[i]="$H:$RLR_PORT/rl/hello";         HDR[i]="Authorization: Bearer $JWT_AT"; NAME[i]="f + rate_limit (Redis)"
URL[j]="$H:$GH_PORT/cors/hello";        HDR[j]="Authorization: Bearer $JWT_AT"; NAME[j]="f + cors (allowed origin)"
# A second header for some rows.
declare -A HDR2
HDR2[j]="Origin: https://app.bench"

# Each row must actually answer `hello world` before it is measured.
for row in "${ROWS[@]}"; do
  hdr="${HDR[$row]}"
  [ "$row" = e ] && hdr="Authorization: Bearer $(tail -n 1 "$WORK/tokens.txt")"
  extra=(); [ -n "${HDR2[$row]:-}" ] && extra=(-H "${HDR2[$row]}")
  body="$(curl -sS -m 5 --cacert "$WORK/tls/ca.pem" -H "$hdr" "${extra[@]}" "${URL[$row]}")"
  [ "$body" = "hello world" ] || { echo "${NAME[$row]}: unexpected answer: $body" >&2; exit 1; }
done
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$H:$GH_PORT/jwt/hello")"
[ "$code" = 401 ] || { echo "the jwt route answered $code without a token" >&2; exit 1; }

run_wrk() { # row duration → "rps p50ms p99ms errors"
  local out
  if [ "$1" = e ]; then
    out="$(TOKENS="$WORK/tokens.txt" wrk -t2 -c64 -d"$2" --latency -s "$WORK/rotate.lua" "${URL[$1]}")"
  else
    local extra=(); [ -n "${HDR2[$1]:-}" ] && extra=(-H "${HDR2[$1]}")
    out="$(wrk -t2 -c64 -d"$2" --latency -H "${HDR[$1]}" "${extra[@]}" "${URL[$1]}")"
  fi
  parse_wrk <<<"$out"
}

if [ "$THROUGHPUT" != 0 ]; then
echo "warming up…" >&2
for row in "${ROWS[@]}"; do run_wrk "$row" 2s >/dev/null; done
IDLE_RSS="$(awk '/^VmRSS/ {print $2}' "/proc/$PID_gh/status")"

declare -A RESULTS
for i in $(seq 1 "$RUNS"); do
  for row in "${ROWS[@]}"; do
    r="$(run_wrk "$row" "$DURATION")"
    echo "run $i ${NAME[$row]}: $r" >&2
    RESULTS[$row]+="$r"$'\n'
  done
done
PEAK_RSS="$(awk '/^VmHWM/ {print $2}' "/proc/$PID_gh/status")"

median() { # row → the run with the median req/s
  printf '%s' "${RESULTS[$1]}" | sed '/^$/d' | sort -n -k1,1 | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}
echo
printf '%-40s %10s %8s %9s %9s %7s\n' "row (wrk -t2 -c64 -d$DURATION, median of $RUNS)" "req/s" "ratio" "p50 ms" "p99 ms" "errors"
read -r A_RPS _ <<<"$(median a)"
read -r AS_RPS _ <<<"$(median as)"
read -r F_RPS _ <<<"$(median f)"
for row in "${ROWS[@]}"; do
  read -r rps p50 p99 errs <<<"$(median "$row")"
  base="$A_RPS"
  case "$row" in *s) base="$AS_RPS" ;; g | h | i | j) base="$F_RPS" ;; esac
  case "$row" in g | h | i | j)
    [ -z "${POLICY_HEAD:-}" ] && echo "-- route policies: ratios to row f (the same route and token without the policy)"
    POLICY_HEAD=1 ;;
  esac
  printf '%-40s %10.0f %7.2fx %9s %9s %7s\n' "${NAME[$row]}" "$rps" "$(awk -v r="$rps" -v b="$base" 'BEGIN { print r / b }')" "$p50" "$p99" "$errs"
done
echo "(ratios: HTTP rows to nginx HTTP, HTTPS rows to nginx HTTPS; target >= 1.0 with p99 not above nginx's;"
echo " policy rows to f: target >= 0.95 local, >= 0.9 shared)"
awk -v i="$IDLE_RSS" -v p="$PEAK_RSS" 'BEGIN { printf "gatehouse RSS: after warm-up %.1f MiB, peak under load %.1f MiB\n", i / 1024, p / 1024 }'
fi

[ "$CALLGRIND" = 0 ] && exit 0

# ---- instructions per request (callgrind) -----------------------------------
echo
echo "callgrind: instructions per proxied request (one worker each, wrk -t1 -c4 -d5s)"
cg_port="$(free_port)"
nginx_conf cg 1 "$PROXY_BLOCK
  server { listen 127.0.0.1:$cg_port; $PROXY_LOC }" "master_process off;"
cg_gh_port="$(free_port)"
gatehouse cgh "$cg_gh_port" jwt 100000 0 1 >/dev/null 2>&1 || true
kill "$PID_cgh" 2>/dev/null || true
wait "$PID_cgh" 2>/dev/null || true
instructions() { # label url header command...
  local label="$1" url="$2" hdr="$3" port out reqs ir
  shift 3
  port="$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$url")"
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$label" "$@" >"$WORK/cg.$label.log" 2>&1 &
  local vpid=$!
  PIDS+=("$vpid")
  for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  wrk -t1 -c4 -d2s -H "$hdr" "$url" >/dev/null
  callgrind_control -z "$vpid" >/dev/null 2>&1
  out="$(wrk -t1 -c4 -d5s -H "$hdr" "$url")"
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
  ir="$(cat "$WORK"/cg."$label".* 2>/dev/null | awk '/^summary:/ {s += $2} /^totals:/ {t += $2} END {print (s > 0 ? s : t)}')"
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  awk -v l="$label" -v ir="$ir" -v n="$reqs" 'BEGIN { printf "  %-28s %9.0f instructions/request (%d requests)\n", l, ir / n, n }'
  LAST_IPR="$(awk -v ir="$ir" -v n="$reqs" 'BEGIN { printf "%.0f", ir / n }')"
}
instructions "nginx proxy" "http://127.0.0.1:$cg_port/hello" "X-Bench: 1" \
  "$NGINX" -c "$WORK/cg/nginx.conf" -p "$WORK/cg"
instructions "gatehouse auth = none" "http://127.0.0.1:$cg_gh_port/open/hello" "X-Bench: 1" \
  "$GATEHOUSE" serve --config "$WORK/cgh/gatehouse.toml"
NONE_IPR="$LAST_IPR"
if [ -n "$BASELINE" ]; then
  # Same config, same port: the older binary reads it too (the route table
  # and [server] keys are unchanged since long before the baselines of use).
  # On a memory store: the shared database has migrations newer than that
  # binary knows (it refuses to start on it), and `auth = none` asks no
  # store anyway.
  sed 's#^url = .*#url = "memory://"#' "$WORK/cgh/gatehouse.toml" >"$WORK/cgh/baseline.toml"
  instructions "auth = none at $BASE_REV" "http://127.0.0.1:$cg_gh_port/open/hello" "X-Bench: 1" \
    "$GATEHOUSE_BASE" serve --config "$WORK/cgh/baseline.toml"
  awk -v now="$NONE_IPR" -v base="$LAST_IPR" -v r="$BASE_REV" 'BEGIN { printf "  this tree vs %s on auth = none: %+.2f %%\n", r, (now - base) * 100 / base }'
fi
instructions "gatehouse jwt" "http://127.0.0.1:$cg_gh_port/jwt/hello" "Authorization: Bearer $TOKEN" \
  "$GATEHOUSE" serve --config "$WORK/cgh/gatehouse.toml"
