# Keycloak for bench/token.sh (sourced; needs $WORK, $PIDS and free_port
# from bench/common.sh). The distribution comes from Maven Central
# (org.keycloak:keycloak-quarkus-dist, zip) and is unpacked once under
# $BENCH_CACHE/keycloak; every run starts it in dev mode (`kc.sh start-dev`,
# its embedded H2 database, a fresh data directory) with the realm of
# bench/peers/keycloak-realm.json imported: realm keys RS256 (rsa-generated,
# 2048 bits) and ES256 (ecdsa-generated, P-256), client `bench` whose access
# tokens are RS256 and client `bench-es` whose access tokens are ES256
# (Keycloak picks the access-token algorithm per client:
# `access.token.signed.response.alg`), both confidential (client secret,
# client_secret_basic), service accounts (client_credentials) and direct
# access grants (password) on, refresh tokens rotated (revokeRefreshToken),
# and user alice. Keycloak has no opaque access tokens.

KC_VERSION="${KC_VERSION:-26.5.6}"
KC_DIST="$BENCH_CACHE/keycloak/keycloak-$KC_VERSION"

# A Java of at least 21 (Keycloak 26's floor): JAVA_HOME, the default java,
# or any JDK under /usr/lib/jvm (a Temurin 25 lies there beside Debian's 17).
kc_java_home() {
  local j v
  for j in ${JAVA_HOME:+"$JAVA_HOME"} "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")" /usr/lib/jvm/*; do
    [ -x "$j/bin/java" ] || continue
    v="$("$j/bin/java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')"
    if [ "${v%%.*}" -ge 21 ] 2>/dev/null; then echo "$j"; return 0; fi
  done
  return 1
}

kc_install() {
  KC_JAVA_HOME="$(kc_java_home)" || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-21-jre-headless ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-25-jre-headless || true
    KC_JAVA_HOME="$(kc_java_home)" || { echo "keycloak: no Java >= 21 found or installable" >&2; return 1; }
  }
  if [ ! -x "$KC_DIST/bin/kc.sh" ]; then
    command -v mvn >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven; }
    command -v unzip >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip; }
    mkdir -p "$BENCH_CACHE/keycloak"
    local zip="$BENCH_CACHE/keycloak/keycloak-quarkus-dist-$KC_VERSION.zip"
    if [ ! -f "$zip" ]; then
      mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" \
        -DoutputDirectory="$BENCH_CACHE/keycloak" -Dmdep.useBaseVersion=true >&2
    fi
    (cd "$BENCH_CACHE/keycloak" && unzip -q -o "$zip")
  fi
  KC_VERSION_TEXT="Keycloak $(sed 's/.*Version //' "$KC_DIST/version.txt") (start-dev, H2, $("$KC_JAVA_HOME/bin/java" -version 2>&1 | head -1 | tr -d '"'))"
}

# Starts Keycloak on a free port; sets KC_PORT, KC_PID (kc.sh execs the
# JVM, so this is the JVM's), KC_URL (the realm's OIDC endpoints) and
# KC_STARTUP_MS (launch to the first token issued; dev mode re-runs its
# Quarkus build at every start, part of that time).
kc_start() {
  rm -rf "$KC_DIST/data"
  mkdir -p "$KC_DIST/data/import"
  cp bench/peers/keycloak-realm.json "$KC_DIST/data/import/bench.json"
  KC_PORT="$(free_port)"
  local mgmt t0
  mgmt="$(free_port)"
  t0="$(date +%s%N)"
  (cd "$KC_DIST" && JAVA_HOME="$KC_JAVA_HOME" exec bin/kc.sh start-dev --import-realm \
    --http-host=127.0.0.1 --http-port="$KC_PORT" --http-management-port="$mgmt" \
    --hostname-strict=false --log-level=warn >"$WORK/keycloak.log" 2>&1) &
  KC_PID=$!
  PIDS+=("$KC_PID")
  KC_URL="http://127.0.0.1:$KC_PORT/realms/bench/protocol/openid-connect"
  # Up to KC_START_TIMEOUT seconds (default 900): on a busy 2-core machine
  # its first start (the Quarkus build, the realm import) took 8 minutes.
  local deadline=$(( $(date +%s) + ${KC_START_TIMEOUT:-900} ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if curl -fsS -m 5 -o /dev/null -u bench:bench-secret -d grant_type=client_credentials "$KC_URL/token" 2>/dev/null; then
      KC_STARTUP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
      return 0
    fi
    kill -0 "$KC_PID" 2>/dev/null || { echo "keycloak exited:" >&2; tail -20 "$WORK/keycloak.log" >&2; return 1; }
    sleep 0.1
  done
  echo "keycloak did not start in ${KC_START_TIMEOUT:-900} s" >&2
  return 1
}
