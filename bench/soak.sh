#!/usr/bin/env bash
# Soak (issue 24): gatehouse on SQLite under mixed load for $DURATION
# seconds (default 1800):
#
#   proxy          wrk -c8 on an `oauth2` route (opaque token looked up in
#                  the store, mock backend)
#   issuance       wrk -c2, client_credentials (client_secret_basic), each
#                  an opaque token written to SQLite
#   introspection  wrk -c2, RFC 7662 on one token
#   logins         bench/soak_logins.py: authorization code + PKCE played
#                  as a browser (login page, argon2id sign-in, consent,
#                  redirect, code exchange, one API call), one at a time
#
# Every $SAMPLE seconds it prints the process's RSS, open file descriptors,
# threads, open TCP connections and live Tokio tasks (from /metrics). It
# fails when any request failed, or when after the warm-up (the first
# quarter) RSS grew by more than 10 % + 8 MiB, descriptors by more than 16,
# or tasks by more than half + 64 (they come and go with requests in
# flight; a leak only grows). GATEHOUSE_BIN runs that binary
# instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=gatehouse-soak
# shellcheck source=bench/common.sh
. bench/common.sh

DURATION="${DURATION:-1800}"
SAMPLE="${SAMPLE:-60}"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
python3 -c 'import requests' 2>/dev/null || python3 -m pip install --quiet requests
if [ -n "${GATEHOUSE_BIN:-}" ]; then
  bin="$GATEHOUSE_BIN"
else
  cargo build --release --quiet
  bin=target/release/gatehouse
fi

port="$(free_port)"
base="http://127.0.0.1:$port"
cat >"$WORK/gatehouse.toml" <<TOML
listen = "127.0.0.1:$port"

[store]
url = "sqlite://$WORK/soak.db"

[tokens]
access_format = "opaque"

# 30 minutes of load would be tens of millions of access lines.
[log]
access = false

[throttle]
client_secrets = { per_account_address = 1000000, per_account = 1000000, per_address = 1000000 }

[[clients]]
id = "soak"
secret = "soak-secret-0815"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["photos", "openid"]

[[users]]
username = "alice"
password = "alice-password-0815"

[[apis]]
name = "photos"
path = "/photos"
auth = { kind = "oauth2", scopes = ["photos"] }
backend = { mock = { body = "ok" } }
TOML
"$bin" check --config "$WORK/gatehouse.toml" >/dev/null
(cd "$WORK" && exec "$bin" serve --config gatehouse.toml >"$WORK/out.log" 2>"$WORK/err.log") &
PIDS+=($!)
wait_port "$port"
pid="$(pgrep -f "serve --config gatehouse.toml" | while read -r p; do
  [ "$(readlink "/proc/$p/cwd")" = "$WORK" ] && echo "$p"; done | head -n 1)"
"$bin" --version 2>/dev/null || true

basic="$(printf 'soak:soak-secret-0815' | base64)"
token="$(curl -sf -u soak:soak-secret-0815 -d grant_type=client_credentials -d scope=photos "$base/api/oauth/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
cat >"$WORK/proxy.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=photos"
wrk.headers["Authorization"] = "Basic $basic"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
# Failed issuances are written out (status and body) to say why.
cat >>"$WORK/issue.lua" <<'LUA'
local bad = 0
response = function(status, headers, body)
  if status ~= 200 and bad < 20 then
    bad = bad + 1
    io.stderr:write(os.date("!%H:%M:%S "), status, " ", body, "\n")
  end
end
LUA
cat >"$WORK/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$token"
wrk.headers["Authorization"] = "Basic $basic"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

end=$(( $(date +%s) + DURATION ))
wrk -t1 -c8 -d"${DURATION}s" --latency -s "$WORK/proxy.lua" "$base/photos" >"$WORK/proxy.out" 2>&1 &
PIDS+=($!); w1=$!
wrk -t1 -c2 -d"${DURATION}s" --latency -s "$WORK/issue.lua" "$base/api/oauth/token" >"$WORK/issue.out" 2>"$WORK/issue.err" &
PIDS+=($!); w2=$!
wrk -t1 -c2 -d"${DURATION}s" --latency -s "$WORK/introspect.lua" "$base/api/oauth/introspect" >"$WORK/introspect.out" 2>&1 &
PIDS+=($!); w3=$!
python3 bench/soak_logins.py "$base" soak soak-secret-0815 http://127.0.0.1:9/cb "$end" >"$WORK/logins.out" 2>"$WORK/logins.err" &
PIDS+=($!); w4=$!

t0=$(date +%s)
printf '%8s %10s %6s %8s %6s %6s\n' elapsed_s rss_kib fds threads tcp tasks
samples=()
# The last sample is taken while the load still runs.
while [ $(( $(date +%s) + SAMPLE )) -le "$end" ]; do
  sleep "$SAMPLE"
  el=$(( $(date +%s) - t0 ))
  rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
  thr="$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")"
  fds="$(ls "/proc/$pid/fd" | wc -l)"
  tcp="$(ss -Htn state established "( sport = :$port )" | wc -l)"
  tasks="$(curl -fsS -m 10 "$base/metrics" | awk '$1 == "gatehouse_runtime_alive_tasks" {print $2}')"
  printf '%8s %10s %6s %8s %6s %6s\n' "$el" "$rss" "$fds" "$thr" "$tcp" "${tasks:-?}"
  samples+=("$el $rss $fds ${tasks:-0}")
done
wait "$w1" "$w2" "$w3" "$w4" || true

fail=0
for k in proxy issue introspect; do
  read -r rps p50 p99 errs < <(parse_wrk <"$WORK/$k.out")
  reqs="$(awk '/requests in/ {print $1}' "$WORK/$k.out")"
  echo "$k: $reqs requests, $rps req/s, p50 ${p50} ms, p99 ${p99} ms, errors $errs"
  [ "$errs" = 0 ] || { fail=1; grep -E 'Socket errors|Non-2xx' "$WORK/$k.out" || true; }
done
[ ! -s "$WORK/issue.err" ] || { echo "failed issuances:"; head -n 20 "$WORK/issue.err"; }
read -r _ lok lfail <"$WORK/logins.out"
echo "logins: $lok completed, $lfail failed"
[ "$lfail" = 0 ] && [ "$lok" -gt 0 ] || { fail=1; head -n 5 "$WORK/logins.err"; }
if grep -q panicked "$WORK/err.log"; then echo "gatehouse panicked"; fail=1; fi
if [ "$fail" != 0 ]; then
  echo "gatehouse's warnings and errors (counted):"
  grep -E 'WARN|ERROR' "$WORK/err.log" "$WORK/out.log" | sed -E 's/^[^ ]* +//; s/[0-9]{4}-[0-9-]+T[0-9:.]+Z? *//' | sort | uniq -c | sort -rn | head -n 20 || true
fi

# Flat after warm-up: the sample nearest a quarter of the run against the last.
n=${#samples[@]}
warm="${samples[$(( n / 4 ))]}"
last="${samples[$(( n - 1 ))]}"
read -r _ wrss wfd wtasks <<<"$warm"
read -r _ lrss lfd ltasks <<<"$last"
echo "after warm-up: RSS $wrss KiB, $wfd fds, $wtasks tasks; at the end: RSS $lrss KiB, $lfd fds, $ltasks tasks"
if [ "$lrss" -gt $(( wrss + wrss / 10 + 8192 )) ]; then echo "RSS grew"; fail=1; fi
if [ "$lfd" -gt $(( wfd + 16 )) ]; then echo "descriptors grew"; fail=1; fi
if [ "$ltasks" -gt $(( wtasks + wtasks / 2 + 64 )) ]; then echo "tasks grew"; fail=1; fi
[ "$fail" = 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit "$fail"
