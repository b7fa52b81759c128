#!/usr/bin/env bash
# A throw-away Apache Cassandra for the tests: cassandra-all 5.0.6 from Maven
# Central (copied once, with its runtime classpath, into a cache folder kept
# between runs), run as CassandraDaemon on Java 17 with a small heap.
#
#   node.sh start [--nodes N] [--watch PID]
#                   starts one node on a free loopback port (or, with
#                   --nodes 3, three nodes on 127.0.0.2, .3, .4 port 9042 as
#                   one cluster, one data centre "datacenter1"); prints the
#                   contact points (127.0.0.1:PORT[,…]) on stdout and the dir
#                   on stderr's last line; with --watch, the node(s) stop
#                   themselves when PID exits
#   node.sh stop DIR        stops every node of DIR and removes DIR
#   node.sh down DIR [I]    kills node I (default 1) at once, as a crash would
#   node.sh up DIR [I]      starts node I again (same address, same data)
#
# Every node also speaks TLS on its native port (optional: plain clients
# still connect), with a certificate for its address signed by DIR/ca.pem.
#
# CASSANDRA_CACHE overrides the cache folder
# (default $HOME/.cache/gatehouse/cassandra-5.0.6).
set -euo pipefail

VERSION=5.0.6
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${CASSANDRA_CACHE:-$HOME/.cache/gatehouse/cassandra-$VERSION}"

fetch() {
  [ -f "$CACHE/lib/cassandra-all-$VERSION.jar" ] && return
  command -v mvn >/dev/null && command -v java >/dev/null \
    || { echo "Java 17 and Maven are not installed: run ./test.sh" >&2; exit 1; }
  mkdir -p "$CACHE"
  # Into a temp folder first: an interrupted copy never looks complete.
  local tmp; tmp="$(mktemp -d "$CACHE/lib.XXXXXX")"
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp" >&2
  rm -rf "$CACHE/lib"; mv "$tmp" "$CACHE/lib"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A test CA (DIR/ca.pem, made once per DIR) and a certificate it signs for
# node I's address, as the PKCS12 keystore Cassandra reads.
certify() { # dir i addr
  local n="$1/n$2"
  if [ ! -f "$1/ca.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=gatehouse-test-ca \
      -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
  fi
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" \
    -keyout "$n/node.key" -out "$n/node.csr" 2>/dev/null
  openssl x509 -req -in "$n/node.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=IP:%s\n' "$3") -out "$n/node.pem" 2>/dev/null
  openssl pkcs12 -export -inkey "$n/node.key" -in "$n/node.pem" -certfile "$1/ca.pem" \
    -passout pass:gatehouse-test -out "$n/keystore.p12"
}

# Writes node I's config under DIR/nI: address, ports, seeds.
configure() { # dir i addr native_port storage_port seeds
  local n="$1/n$2"
  mkdir -p "$n/data"
  certify "$1" "$2" "$3"
  # commitlog_sync: batch acknowledges a write only once it is on disk, so a
  # node killed (`down`) right after answering loses nothing it answered;
  # `periodic` (the production default, where replicas on other machines
  # give durability) would drop up to one period of acknowledged writes on a
  # single node. Concurrent writes still share one fsync.
  cat >"$n/cassandra.yaml" <<YAML
cluster_name: gatehouse-test
num_tokens: 1
allocate_tokens_for_local_replication_factor: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$6"
listen_address: $3
rpc_address: $3
storage_port: $5
native_transport_port: $4
start_native_transport: true
data_file_directories: [$n/data/data]
commitlog_directory: $n/data/commitlog
saved_caches_directory: $n/data/saved_caches
hints_directory: $n/data/hints
cdc_raw_directory: $n/data/cdc_raw
commitlog_sync: batch
# Paxos v2: fewer round trips per lightweight transaction than v1.
paxos_variant: v2
# Tests drop many small keyspaces: no snapshot on drop, no on-disk cache churn.
auto_snapshot: false
key_cache_size: 1MiB
counter_cache_size: 0MiB
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
concurrent_compactors: 1
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
authenticator: PasswordAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
roles_validity: 60s
credentials_validity: 60s
# TLS on the native port, optional: the same port takes plain and TLS
# clients (tests/instances.rs connects with tls_ca=DIR/ca.pem).
client_encryption_options:
  enabled: true
  optional: true
  keystore: $n/keystore.p12
  keystore_password: gatehouse-test
  store_type: PKCS12
  require_client_auth: false
YAML
  cat >"$n/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$n/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
  echo "$3:$4" >"$n/contact"
}

jvm_flags() {
  # Cassandra's conf/jvm17-server.options (module exports and opens it needs
  # on Java 17, G1) with a heap small enough for a shared CI machine.
  echo -Xms512m -Xmx512m -Xss512k -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300 -XX:+UseStringDeduplication -XX:+ExitOnOutOfMemoryError \
    -Djdk.attach.allowAttachSelf=true \
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED \
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED \
    --add-exports java.sql/java.sql=ALL-UNNAMED \
    --add-exports java.base/java.lang.ref=ALL-UNNAMED \
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED \
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED \
    --add-opens java.base/java.lang.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11
}

launch() { # dir i
  local n="$1/n$2"
  # ring_delay/gossip settle: waits meant for joining a big ring; a local
  # test node (or three) need none of them. The default superuser
  # (cassandra/cassandra) is made at once instead of after 10 s.
  # shellcheck disable=SC2046
  setsid nohup java $(jvm_flags) \
    -Dcassandra-foreground=yes -Dcassandra.config="file://$n/cassandra.yaml" \
    -Dcassandra.storagedir="$n/data" -Dcassandra.logdir="$n" \
    -Dlogback.configurationFile="file://$n/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 \
    -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.load_ring_state=false \
    -cp "$CACHE/lib/*" org.apache.cassandra.service.CassandraDaemon \
    </dev/null >"$n/stdout.log" 2>&1 &
  echo $! >"$n/pid"
}

# Waits until node I answers CQL and its default superuser can log in.
wait_ready() { # dir i
  local n="$1/n$2" hp deadline
  hp="$(cat "$n/contact")"
  deadline=$((SECONDS + 120))
  until grep -q "Created default superuser" "$1"/n*/system.log 2>/dev/null \
      && python3 - "$hp" <<'PY' 2>/dev/null; do
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
socket.create_connection((h, int(p)), 1).close()
PY
    if ! kill -0 "$(cat "$n/pid")" 2>/dev/null; then
      echo "cassandra node $2 exited:" >&2; tail -n 40 "$n/stdout.log" "$n/system.log" >&2 || true; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { echo "cassandra node $2 did not start in 120 s" >&2; tail -n 40 "$n/system.log" >&2; exit 1; }
    sleep 0.5
  done
}

stop_node() { # dir i
  local pid
  pid="$(cat "$1/n$2/pid" 2>/dev/null)" || return 0
  kill -9 "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

case "${1:-}" in
  start)
    shift
    nodes=1 watched=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --watch) watched="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
      esac
    done
    fetch
    dir="$(mktemp -d /tmp/gatehouse-cassandra.XXXXXX)"
    echo "$nodes" >"$dir/nodes"
    contacts=""
    if [ "$nodes" = 1 ]; then
      configure "$dir" 1 127.0.0.1 "$(free_port)" "$(free_port)" 127.0.0.1
      launch "$dir" 1
      wait_ready "$dir" 1
      contacts="$(cat "$dir/n1/contact")"
    else
      # Several nodes need one storage port for all (gossip peers share it)
      # and so each its own address; they join one after another.
      seeds="127.0.0.2"
      for i in $(seq 1 "$nodes"); do
        configure "$dir" "$i" "127.0.0.$((i + 1))" 9042 7000 "$seeds"
      done
      for i in $(seq 1 "$nodes"); do
        launch "$dir" "$i"
        wait_ready "$dir" "$i"
        contacts="${contacts:+$contacts,}$(cat "$dir/n$i/contact")"
      done
    fi
    if [ -n "$watched" ]; then
      setsid nohup bash -c "while kill -0 $watched 2>/dev/null; do sleep 1; done; \"$0\" stop \"$dir\"" \
        </dev/null >/dev/null 2>&1 &
    fi
    echo "$contacts"
    echo "$dir" >&2
    ;;
  stop)
    dir="$2"
    for i in $(seq 1 "$(cat "$dir/nodes" 2>/dev/null || echo 1)"); do stop_node "$dir" "$i"; done
    rm -rf "$dir"
    ;;
  down)
    stop_node "$2" "${3:-1}"
    ;;
  up)
    fetch
    launch "$2" "${3:-1}"
    wait_ready "$2" "${3:-1}"
    ;;
  *)
    echo "usage: $0 start [--nodes N] [--watch PID] | stop DIR | down DIR [I] | up DIR [I]" >&2
    exit 2
    ;;
esac
