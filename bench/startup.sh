#!/usr/bin/env bash
# Start-up and memory (issue 13, item 6): time from exec to the first answer
# of /healthz with the embedded demo (keys and database already created by a
# first start), over RUNS starts; idle RSS one second after each start.
# Targets: <= 50 ms to first response, <= 30 MiB idle RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
cargo build --release --locked --bin gatehouse
GATEHOUSE="$(pwd)/target/release/gatehouse"
BENCH_NAME=gatehouse-startup
# shellcheck source=bench/common.sh
. bench/common.sh
PORT="$(free_port)"
cd "$WORK"
GATEHOUSE_LISTEN="127.0.0.1:$PORT" python3 - "$GATEHOUSE" "$PORT" "$RUNS" <<'PY'
import os, socket, statistics, subprocess, sys, time
binary, port, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def first_response():
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/1.1 200")
            s.close()
            if ok:
                return
        except OSError:
            time.sleep(0.0005)
def start():
    return subprocess.Popen([binary, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
p = start(); first_response(); p.kill(); p.wait()   # creates keys and the database
times, rss = [], []
for _ in range(runs):
    t = time.perf_counter()
    p = start()
    first_response()
    times.append((time.perf_counter() - t) * 1000)
    time.sleep(1.5)
    with open(f"/proc/{p.pid}/status") as f:
        rss += [int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS")]
    p.kill(); p.wait()
m, r = statistics.median(times), statistics.median(rss)
print(f"start to first response: median {m:.1f} ms (min {min(times):.1f}, max {max(times):.1f}) over {runs} starts  (target <= 50)  {'ok' if m <= 50 else 'MISSED'}")
print(f"idle RSS: median {r:.1f} MiB  (target <= 30)  {'ok' if r <= 30 else 'MISSED'}")
PY
