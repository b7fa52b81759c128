#!/usr/bin/env bash
# The README's first command on a fresh machine: a Rust toolchain, gcc and
# Python, no -dev package. Builds the default gatehouse (no `saml` feature)
# where every -dev package but the C library's is hidden, libclang and
# pkg-config with them, then serves the embedded demo and asks it for
# /hello; `check` of a config with [[saml_idps]] must name the feature.
#
#   tests/fresh_machine.sh      (./test.sh runs it before the test suite)
#
# How the machine is made "fresh" without a second machine: a private mount
# namespace (unshare -m, needs root) in which
#   - every file of every installed -dev package (headers, libfoo.so,
#     libfoo.a, foo.pc) is gone, but for libc6-dev, linux-libc-dev, the
#     packages they depend on and gcc's libgcc/libstdc++ (what a C compiler
#     brings);
#   - so are libclang (any version), /usr/lib/llvm-*, the pkg-config
#     folders, pkg-config, xmlsec1-config, llvm-config and clang;
#   - LIBCLANG_PATH, OPENSSL_DIR, PKG_CONFIG_PATH and the like are unset.
# The build shares target/ with the test suite (gatehouse and the crates
# whose features differ in a binary-only build are compiled again).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" != --inside ]; then
  if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "fresh-machine: SKIPPED (needs root, unshare and dpkg for a private mount namespace)"
    exit 0
  fi
  exec unshare --mount --propagation private "$0" --inside
fi

tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# What a C compiler brings: libc6-dev and the packages it depends on, and
# gcc's own libgcc/libstdc++ -dev packages.
installed() { dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null | awk '$1 == "ii" {print $2}'; }
keep=(libc6-dev linux-libc-dev libcrypt-dev libnsl-dev libtirpc-dev $(installed 'libgcc-*-dev' 'libstdc++-*-dev'))

# Everything else to hide, as paths under /usr: whole folders (LLVM, the
# pkg-config folders) and every file of the other -dev packages, libclang
# of any version and the tools that find libraries.
dirs=()
for d in /usr/lib/llvm-* /usr/lib/*/pkgconfig /usr/lib/pkgconfig /usr/share/pkgconfig /usr/local/lib/pkgconfig; do
  [ -d "$d" ] && dirs+=("$d")
done
others=()
for p in $(installed '*-dev' | sort -u); do
  case " ${keep[*]} " in *" $p "*) ;; *) others+=("$p") ;; esac
done
{
  dpkg-query -L "${others[@]}" 2>/dev/null || true
  ls -d /usr/lib/*/libclang*.so* /usr/lib/libclang*.so* /usr/local/lib/libclang*.so* 2>/dev/null || true
  for b in pkg-config pkgconf xmlsec1-config xml2-config llvm-config clang; do
    ls -d /usr/bin/$b* /usr/local/bin/$b* 2>/dev/null || true
  done
} >"$tmp/files"
# An overlay on /usr whose upper layer has a whiteout (a 0/0 character
# device) for each: the paths vanish, symlinks included, and nothing else
# changes (bind-mounting /dev/null would follow a libfoo.so link and hide
# the runtime library it points to).
mkdir -p "$tmp/up" "$tmp/work"
hidden=$(python3 - "$tmp/up" "$tmp/files" "${dirs[@]}" <<'EOF'
import os, stat, sys
up, listing, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
paths = set(dirs)
for f in open(listing).read().split("\n"):
    if not f.startswith("/usr/") or any(f.startswith(d + "/") for d in dirs):
        continue
    if os.path.islink(f) or (os.path.exists(f) and not os.path.isdir(f)):
        paths.add(f)
for p in sorted(paths):
    w = os.path.join(up, os.path.relpath(p, "/usr"))
    os.makedirs(os.path.dirname(w), exist_ok=True)
    os.mknod(w, stat.S_IFCHR | 0o600, os.makedev(0, 0))
print(len(paths))
EOF
)
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$tmp/up,workdir=$tmp/work" /usr
# No variable points the build at a library either. (PKG_CONFIG_LIBDIR is
# left alone: pkg-config is gone anyway, and aws-lc-sys reruns its C build
# whenever that variable changes.)
unset LIBCLANG_PATH BINDGEN_EXTRA_CLANG_ARGS PKG_CONFIG_PATH CLANG_PATH LLVM_CONFIG_PATH OPENSSL_DIR
echo "fresh-machine: -dev packages left: ${keep[*]}; $hidden paths of the others, libclang, LLVM and pkg-config hidden"

# The default build (the dev profile: the same crates and system libraries
# as --release, and the test suite's cache), warnings refused since CI's
# clippy builds the `saml` feature.
t0=$(date +%s)
if ! cargo build --locked --bin gatehouse 2>&1 | tee "$tmp/build.log"; then
  echo "fresh-machine: FAILED: the default build needs something a fresh machine lacks (see above)"
  exit 1
fi
if grep -q '^warning: `gatehouse`' "$tmp/build.log" || grep -qE '^warning: unused' "$tmp/build.log"; then
  echo "fresh-machine: FAILED: the build without the saml feature has warnings"
  exit 1
fi
echo "fresh-machine: default build in $(( $(date +%s) - t0 )) s"

# The embedded demo serves /hello.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/run"
(cd "$tmp/run" && GATEHOUSE_LISTEN="127.0.0.1:$port" exec "$root/target/debug/gatehouse" serve >"$tmp/serve.log" 2>&1) &
pid=$!
ok=
for _ in $(seq 1 120); do
  if body=$(python3 - "$port" 2>/dev/null <<'EOF'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/hello", timeout=2).read().decode())
EOF
  ); then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ok" ] || [ "${body:-}" != "hello world" ]; then
  echo "fresh-machine: FAILED: the demo did not answer /hello with 'hello world' (got: ${body:-nothing})"
  cat "$tmp/serve.log"
  exit 1
fi
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

# A SAML config is refused with the way out named, file:line first.
cat >"$tmp/saml.toml" <<'EOF'
[[saml_idps]]
entity_id = "https://idp.example/saml"
certificate = "idp.pem"
EOF
if out=$("$root/target/debug/gatehouse" check --config "$tmp/saml.toml" 2>&1); then
  echo "fresh-machine: FAILED: check accepted [[saml_idps]] in a build without SAML"
  exit 1
fi
case "$out" in
  *saml.toml:2:*"--features saml"*) ;;
  *) echo "fresh-machine: FAILED: check's message does not point at the line and the feature: $out"; exit 1 ;;
esac
echo "fresh-machine: ok (demo served /hello; check says: $out)"
