#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: initdb in a temp dir, trust
# auth, listening on a free loopback port only, fsync as in production.
#
#   cluster.sh start [--ssl] [--watch PID]
#                                    prints the base URL (postgres://postgres@127.0.0.1:PORT)
#                                    on stdout and the data dir on stderr's last line;
#                                    with --watch, the server stops itself when PID exits
#   cluster.sh stop DIR              stops the server of DIR and removes DIR
#   cluster.sh down DIR              stops it at once, as a crash would
#   cluster.sh up DIR                starts it again on the same port
#
# PostgreSQL refuses to run as root, so as root it runs as the `postgres`
# user (created by Debian's postgresql package, which ./test.sh installs).
set -euo pipefail

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ]; then echo "$d"; return; fi
  dirname "$(command -v initdb || { echo "PostgreSQL is not installed: run ./test.sh" >&2; exit 1; })"
}
BIN="$(bindir)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_server() { # dir port
  local ssl=""
  if [ -f "$1/server.crt" ]; then
    ssl="-c ssl=on -c ssl_cert_file=$1/server.crt -c ssl_key_file=$1/server.key"
  fi
  as_pg "$BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $2 -k $1 -c max_connections=400 -c shared_buffers=64MB $ssl" start >/dev/null
}

case "${1:-}" in
  start)
    shift
    ssl=""
    if [ "${1:-}" = "--ssl" ]; then ssl=1; shift; fi
    dir="$(mktemp -d /tmp/gatehouse-pg.XXXXXX)"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    if [ -n "$ssl" ]; then
      # A throw-away CA (ca.crt) and a server certificate for 127.0.0.1 it signed.
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gatehouse-test-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
      openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
      chmod 600 "$dir/server.key"
      [ "$(id -u)" = 0 ] && chown postgres "$dir/server.key" "$dir/server.crt"
    fi
    port="$(free_port)"
    echo "$port" >"$dir/port"
    start_server "$dir" "$port"
    if [ "${1:-}" = "--watch" ] && [ -n "${2:-}" ]; then
      watched="$2"
      # Detached: stops the server once the watched process is gone.
      setsid nohup bash -c "while kill -0 $watched 2>/dev/null; do sleep 1; done; \"$0\" stop \"$dir\"" \
        </dev/null >/dev/null 2>&1 &
    fi
    echo "postgres://postgres@127.0.0.1:$port"
    echo "$dir" >&2
    ;;
  stop)
    dir="$2"
    as_pg "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  down)
    as_pg "$BIN/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null
    ;;
  up)
    start_server "$2" "$(cat "$2/port")"
    ;;
  *)
    echo "usage: $0 start [--watch PID] | stop DIR | down DIR | up DIR" >&2
    exit 2
    ;;
esac
