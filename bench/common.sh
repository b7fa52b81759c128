# Shared by the bench scripts (sourced): a work dir, processes stopped on
# exit, free loopback ports. Set BENCH_NAME before sourcing.

WORK="$(mktemp -d "/tmp/${BENCH_NAME:-gatehouse-bench}.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  exit 1
}

to_ms() { # wrk latency like 812.00us / 1.23ms / 1.02s → ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", v }'
}

# wrk --latency output on stdin → "rps p50ms p99ms errors" (non-2xx/3xx
# answers and socket errors both count as errors; a script that judges
# the answers itself prints "Unexpected answers: N", which then counts
# instead of the statuses).
parse_wrk() {
  local out rps p50 p99 errs
  out="$(cat)"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errs="$(awk '/Non-2xx or 3xx responses:/ {s += $NF} /^Unexpected answers:/ {u = $NF; judged = 1}
    /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + (judged ? u : s)}' <<<"$out")"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $errs"
}
