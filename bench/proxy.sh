#!/usr/bin/env bash
# Gateway benchmark (issue 3): one fast upstream (nginx `return 200`), then in
# the same run, with the same load (wrk -t2 -c64 -d10s after a warm-up,
# median of 3, runs interleaved so drift hits every row alike):
#   (a) nginx as a plain reverse proxy (keepalive upstream pool), no auth
#   (b) gatehouse proxying with RS256 JWT validation
#   (c) gatehouse proxying with auth = none
#   (d) gatehouse, auth = oauth2 with one opaque token stored in PostgreSQL
#       (the token cache answers: cache hit)
#   (e) the same with 5000 tokens in rotation and a 100-entry cache, so
#       nearly every request is a PostgreSQL lookup (cache miss)
# Prints req/s, p50, p99 for each and the ratio b/a. PostgreSQL is a
# throw-away server from tests/pg/cluster.sh (installed by ./test.sh). 127.0.0.1 only; every
# process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release --locked --bin gatehouse
GATEHOUSE="$(pwd)/target/release/gatehouse"

BENCH_NAME=gatehouse-bench
# shellcheck source=bench/common.sh
. bench/common.sh  # the script has cd-ed to the repo root

UP_PORT="$(free_port)"
NGX_PORT="$(free_port)"
GH_PORT="$(free_port)"

# nginx runs in the foreground (daemon off) so its pid is ours to stop.
nginx_conf() { # name workers body
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/nginx.conf" <<EOF
worker_processes $2;
daemon off;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
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

# The fast upstream every row proxies to.
nginx_conf upstream 1 "server { listen 127.0.0.1:$UP_PORT; location / { return 200 \"hello world\"; } }"
# (a) nginx as a plain reverse proxy with a keepalive pool to the upstream.
nginx_conf proxy auto "upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server { listen 127.0.0.1:$NGX_PORT;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

"$NGINX" -c "$WORK/upstream/nginx.conf" -p "$WORK/upstream" &
PIDS+=($!)
"$NGINX" -c "$WORK/proxy/nginx.conf" -p "$WORK/proxy" &
PIDS+=($!)

# (b)/(c): a real RS256 key from `gatehouse keygen`, a token signed with
# openssl (header.payload signed with the private key, base64url).
"$GATEHOUSE" keygen --alg RS256 --out "$WORK/keys" >/dev/null
KID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kid"])' "$WORK/keys/public.jwk.json")"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
NOW="$(date +%s)"
HEADER="$(printf '{"alg":"RS256","typ":"JWT","kid":"%s"}' "$KID" | b64url)"
PAYLOAD="$(printf '{"sub":"bench","iss":"https://tokens.example","iat":%d,"exp":%d}' "$NOW" "$((NOW + 3600))" | b64url)"
SIG="$(printf '%s.%s' "$HEADER" "$PAYLOAD" | openssl dgst -sha256 -sign "$WORK/keys/private.pem" -binary | b64url)"
TOKEN="$HEADER.$PAYLOAD.$SIG"

cat >"$WORK/gatehouse.toml" <<EOF
listen = "127.0.0.1:$GH_PORT"

[store]
url = "memory://"

[log]
level = "warn"

[[apis]]
name = "jwt"
path = "/jwt"
auth = { kind = "jwt", jwk = "$WORK/keys/public.jwk.json", issuer = "https://tokens.example" }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }

[[apis]]
name = "open"
path = "/open"
backend = { upstream = "http://127.0.0.1:$UP_PORT" }
EOF
"$GATEHOUSE" check --config "$WORK/gatehouse.toml" >/dev/null
"$GATEHOUSE" serve --config "$WORK/gatehouse.toml" >"$WORK/gatehouse.out" 2>"$WORK/gatehouse.log" &
GH_PID=$!
PIDS+=("$GH_PID")

wait_port "$UP_PORT"
wait_port "$NGX_PORT"
wait_port "$GH_PORT"

# Each row must actually answer `hello world` before it is measured.
check_row() { # url [header]
  local body
  body="$(curl -fsS -m 5 ${2:+-H "$2"} "$1")"
  [ "$body" = "hello world" ] || { echo "unexpected answer from $1: $body" >&2; exit 1; }
}
# (d)/(e): two instances on one throw-away PostgreSQL, opaque tokens.
PG_LOG="$WORK/pg.log"
PG_URL="$(tests/pg/cluster.sh start --watch $$ 2>"$PG_LOG")" || { cat "$PG_LOG" >&2; exit 1; }
PG_DIR="$(tail -n 1 "$PG_LOG")"
trap 'tests/pg/cluster.sh stop "$PG_DIR" 2>/dev/null || true; cleanup' EXIT INT TERM
pg_gatehouse() { # name port cache_entries
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/gatehouse.toml" <<EOF
listen = "127.0.0.1:$2"

[store]
url = "$PG_URL"
cache = { max_entries = $3 }

[tokens]
access_format = "opaque"

[keys]
dir = "$WORK/$1/keys"

[log]
level = "warn"

[[clients]]
id = "bench"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["api"]

[[apis]]
name = "oauth2"
path = "/oauth2"
auth = { kind = "oauth2", scopes = ["api"] }
backend = { upstream = "http://127.0.0.1:$UP_PORT" }
EOF
  "$GATEHOUSE" serve --config "$WORK/$1/gatehouse.toml" >"$WORK/$1/out" 2>"$WORK/$1/log" &
  PIDS+=("$!")
}
PGH_PORT="$(free_port)"
PGM_PORT="$(free_port)"
pg_gatehouse pg_hit "$PGH_PORT" 100000
wait_port "$PGH_PORT"  # the first instance runs the migrations
pg_gatehouse pg_miss "$PGM_PORT" 100
wait_port "$PGM_PORT"
# 5000 tokens from the token endpoint, over keep-alive connections.
python3 - "http://127.0.0.1:$PGH_PORT" "$WORK/tokens.txt" <<'PY'
import base64, concurrent.futures, http.client, json, sys, urllib.parse
base, out = sys.argv[1], sys.argv[2]
host = urllib.parse.urlparse(base).netloc
auth = "Basic " + base64.b64encode(b"bench:bench-secret").decode()
def batch(n):
    c, got = http.client.HTTPConnection(host, timeout=10), []
    for _ in range(n):
        c.request("POST", "/api/oauth/token", "grant_type=client_credentials&scope=api",
                  {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        got.append(json.loads(r.read())["access_token"])
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

check_row "http://127.0.0.1:$NGX_PORT/hello"
check_row "http://127.0.0.1:$PGH_PORT/oauth2/hello" "Authorization: Bearer $PG_TOKEN"
check_row "http://127.0.0.1:$PGM_PORT/oauth2/hello" "Authorization: Bearer $(tail -n 1 "$WORK/tokens.txt")"
check_row "http://127.0.0.1:$GH_PORT/jwt/hello" "Authorization: Bearer $TOKEN"
check_row "http://127.0.0.1:$GH_PORT/open/hello"
code="$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$GH_PORT/jwt/hello")"
[ "$code" = 401 ] || { echo "JWT route answered $code without a token" >&2; exit 1; }

declare -A URL HDR
URL[a]="http://127.0.0.1:$NGX_PORT/hello"
URL[b]="http://127.0.0.1:$GH_PORT/jwt/hello"
URL[c]="http://127.0.0.1:$GH_PORT/open/hello"
URL[d]="http://127.0.0.1:$PGH_PORT/oauth2/hello"
URL[e]="http://127.0.0.1:$PGM_PORT/oauth2/hello"
HDR[a]="X-Bench: 1"
HDR[b]="Authorization: Bearer $TOKEN"
HDR[c]="X-Bench: 1"
HDR[d]="Authorization: Bearer $PG_TOKEN"
HDR[e]="X-Bench: 1"

run_wrk() { # row duration → "rps p50ms p99ms errors"
  local out
  if [ "$1" = e ]; then
    out="$(TOKENS="$WORK/tokens.txt" wrk -t2 -c64 -d"$2" --latency -s "$WORK/rotate.lua" "${URL[$1]}")"
  else
    out="$(wrk -t2 -c64 -d"$2" --latency -H "${HDR[$1]}" "${URL[$1]}")"
  fi
  parse_wrk <<<"$out"
}

echo "warming up…" >&2
for row in a b c d e; do run_wrk "$row" 3s >/dev/null; done
IDLE_RSS="$(awk '/^VmRSS/ {print $2}' "/proc/$GH_PID/status")"

declare -A RESULTS
for i in $(seq 1 "$RUNS"); do
  for row in a b c d e; do
    r="$(run_wrk "$row" "$DURATION")"
    echo "run $i row $row: $r" >&2
    RESULTS[$row]+="$r"$'\n'
  done
done
PEAK_RSS="$(awk '/^VmHWM/ {print $2}' "/proc/$GH_PID/status")"

median() { # row → the run with the median req/s
  printf '%s' "${RESULTS[$1]}" | sed '/^$/d' | sort -n -k1,1 | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

declare -A NAME
NAME[a]="(a) nginx reverse proxy, no auth"
NAME[b]="(b) gatehouse, RS256 JWT validation"
NAME[c]="(c) gatehouse, auth = none"
NAME[d]="(d) gatehouse, opaque on PG, cache hit"
NAME[e]="(e) gatehouse, opaque on PG, cache miss"
echo
printf '%-38s %12s %10s %10s %8s\n' "row (wrk -t2 -c64 -d$DURATION, median of $RUNS)" "req/s" "p50 ms" "p99 ms" "errors"
for row in a b c d e; do
  read -r rps p50 p99 errs <<<"$(median "$row")"
  printf '%-38s %12.0f %10s %10s %8s\n' "${NAME[$row]}" "$rps" "$p50" "$p99" "$errs"
  eval "RPS_$row=$rps"
done
echo
awk -v a="$RPS_a" -v b="$RPS_b" -v c="$RPS_c" -v d="$RPS_d" -v e="$RPS_e" 'BEGIN {
  printf "ratio d/a (opaque on PostgreSQL, cache hit / nginx proxy) = %.2f\n", d / a
  printf "ratio e/a (opaque on PostgreSQL, cache miss / nginx proxy) = %.2f\n", e / a
  printf "ratio b/a (gatehouse+JWT / nginx proxy) = %.2f   (target >= 0.8, stretch >= 1.0)\n", b / a
  printf "ratio c/a (gatehouse no auth / nginx proxy) = %.2f\n", c / a }'
awk -v i="$IDLE_RSS" -v p="$PEAK_RSS" 'BEGIN { printf "gatehouse RSS: idle %.1f MiB, peak under load %.1f MiB\n", i / 1024, p / 1024 }'
