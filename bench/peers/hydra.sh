# Ory Hydra for bench/token.sh (sourced; needs $WORK, $PIDS, free_port from
# bench/common.sh). Hydra is built once from Go modules under
# $BENCH_CACHE/hydra: a small module of ours that requires
# github.com/ory/hydra/v2 at $HYDRA_VERSION and repeats the `replace`
# directives of Hydra's go.mod (its hydra-client-go replacement points into
# its own repository, which a module download does not carry, so the
# published hydra-client-go it requires stands in), built with cgo and
# `-tags sqlite`. Each instance runs `serve all --dev` on loopback with its
# own database on the bench's PostgreSQL (migrated first: Hydra's SQLite is
# for development only, and under 64 connections it answers "database is
# locked" errors), Hydra's default client-secret hasher
# (PBKDF2-SHA256, 25,000 iterations in v2.3; BCrypt cost 10 if
# HYDRA_HASHER=bcrypt) and clients created through its admin API:
# `bench` (access_token_strategy jwt) and `bench-opaque` (opaque), both
# client_secret_basic, with client_credentials, authorization_code and
# refresh_token. Hydra has no password grant (it leaves users to a login
# app) and signs JWT access tokens with its `hydra.jwt.access-token` key set:
# RS256 as generated, ES256 when `hydra_start` is asked for it (the set is
# replaced through the admin API before any token is issued).

HYDRA_VERSION="${HYDRA_VERSION:-v2.3.0}"
HYDRA_BIN="$BENCH_CACHE/hydra/hydra-$HYDRA_VERSION"
HYDRA_HASHER="${HYDRA_HASHER:-pbkdf2}"

hydra_install() {
  local go
  go="$(command -v go || true)"
  [ -n "$go" ] || { [ -x /usr/local/go/bin/go ] && go=/usr/local/go/bin/go; }
  if [ -z "$go" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
    go="$(command -v go)"
  fi
  command -v gcc >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
  if [ ! -x "$HYDRA_BIN" ]; then
    local src="$BENCH_CACHE/hydra/src" dir
    rm -rf "$src"
    mkdir -p "$src"
    (
      cd "$src"
      export GOFLAGS=-mod=mod
      dir="$("$go" mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
      # Our module: Hydra's replace directives (the local one swapped for the
      # published module), Hydra's go.sum, its own main.
      {
        echo "module gatehouse.bench/hydra"
        echo
        echo "go 1.22"
        echo
        echo "require github.com/ory/hydra/v2 $HYDRA_VERSION"
        echo
        sed -n -e 's|^replace \(.*\) => \(\./.*\)$|// replace \1 => \2: a path inside Hydra'"'"'s repository, which its module download lacks (the version it requires stands in)|p' \
          -e '/^replace .* => [^.]/p' "$dir/go.mod"
      } >go.mod
      cp "$dir/go.sum" go.sum && chmod u+w go.sum
      printf '%s\n' 'package main' '' 'import (' '	"github.com/ory/hydra/v2/cmd"' '	"github.com/ory/x/profilex"' ')' '' \
        'func main() {' '	defer profilex.Profile().Stop()' '	cmd.Execute()' '}' >main.go
      "$go" mod tidy >&2
      CGO_ENABLED=1 "$go" build -tags sqlite,sqlite_omit_load_extension -trimpath \
        -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" -o "$HYDRA_BIN.tmp" . >&2
    )
    mv "$HYDRA_BIN.tmp" "$HYDRA_BIN"
  fi
  HYDRA_VERSION_TEXT="Ory Hydra $("$HYDRA_BIN" version 2>/dev/null | awk '/^Version:/ {print $2}') (built here, $("${go}" version | awk '{print $3}'), PostgreSQL, $HYDRA_HASHER client secrets)"
}

# hydra_start NAME ALG DSN: a Hydra with its own database, signing JWT
# access tokens with ALG (RS256 or ES256). Sets HYDRA_PUBLIC[NAME],
# HYDRA_ADMIN[NAME], HYDRA_PID[NAME], HYDRA_STARTUP_MS[NAME] (launch to its
# readiness endpoint answering, after migration; clients are created after).
declare -A HYDRA_PUBLIC HYDRA_ADMIN HYDRA_PID HYDRA_STARTUP_MS
hydra_start() {
  local name="$1" alg="$2" dsn="$3" dir="$WORK/$1" pub adm t0 i
  mkdir -p "$dir"
  pub="$(free_port)"
  adm="$(free_port)"
  cat >"$dir/hydra.yml" <<EOF
dsn: "$dsn"
serve:
  public: { host: 127.0.0.1, port: $pub }
  admin: { host: 127.0.0.1, port: $adm }
urls:
  self: { issuer: "http://127.0.0.1:$pub" }
  login: "http://127.0.0.1:$pub/bench-login"
  consent: "http://127.0.0.1:$pub/bench-consent"
secrets:
  system: ["gatehouse-bench-system-secret-0123456789"]
strategies:
  access_token: jwt
oauth2:
  hashers:
    algorithm: $HYDRA_HASHER
ttl:
  access_token: 1h
  refresh_token: 720h
log:
  level: error
EOF
  "$HYDRA_BIN" migrate sql up -e --yes --config "$dir/hydra.yml" >"$dir/migrate.log" 2>&1 ||
    { cat "$dir/migrate.log" >&2; return 1; }
  t0="$(date +%s%N)"
  (cd "$dir" && exec "$HYDRA_BIN" serve all --dev --config "$dir/hydra.yml" >"$dir/out.log" 2>&1) &
  HYDRA_PID[$name]=$!
  PIDS+=("$!")
  HYDRA_PUBLIC[$name]="http://127.0.0.1:$pub"
  HYDRA_ADMIN[$name]="http://127.0.0.1:$adm"
  for i in $(seq 1 600); do
    if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$adm/health/ready" 2>/dev/null; then
      HYDRA_STARTUP_MS[$name]=$(( ($(date +%s%N) - t0) / 1000000 ))
      break
    fi
    kill -0 "${HYDRA_PID[$name]}" 2>/dev/null || { echo "hydra $name exited:" >&2; tail -20 "$dir/out.log" >&2; return 1; }
    sleep 0.05
  done
  if [ "$alg" = ES256 ]; then
    curl -fsS -m 10 -o /dev/null -X DELETE "http://127.0.0.1:$adm/admin/keys/hydra.jwt.access-token" 2>/dev/null || true
    curl -fsS -m 10 -o /dev/null -H 'Content-Type: application/json' \
      -d '{"alg":"ES256","use":"sig","kid":"bench-es256"}' "http://127.0.0.1:$adm/admin/keys/hydra.jwt.access-token" ||
      { echo "hydra $name: cannot create an ES256 key set" >&2; return 1; }
  fi
  local c strategy
  for c in bench bench-opaque; do
    strategy=jwt
    [ "$c" = bench-opaque ] && strategy=opaque
    curl -fsS -m 30 -o /dev/null -H 'Content-Type: application/json' -d "{
      \"client_id\": \"$c\", \"client_secret\": \"bench-secret\",
      \"grant_types\": [\"client_credentials\", \"authorization_code\", \"refresh_token\"],
      \"response_types\": [\"code\"], \"scope\": \"api offline_access\",
      \"redirect_uris\": [\"http://127.0.0.1:$pub/bench-callback\"],
      \"token_endpoint_auth_method\": \"client_secret_basic\",
      \"access_token_strategy\": \"$strategy\"
    }" "http://127.0.0.1:$adm/admin/clients" || { echo "hydra $name: cannot create client $c" >&2; return 1; }
  done
  curl -fsS -m 30 -o /dev/null -u bench:bench-secret -d grant_type=client_credentials -d scope=api \
    "http://127.0.0.1:$pub/oauth2/token" || { echo "hydra $name: no token" >&2; return 1; }
}
