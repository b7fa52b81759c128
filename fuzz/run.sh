#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 20) on its seed
# corpus (fuzz/corpus/<target>, read only) plus what earlier runs found
# (fuzz/work/<target>, not committed). Exits non-zero if any target crashes,
# panics, times out or runs out of memory; the input is left in
# fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# No sanitizer (-s none): the targets are safe Rust, and without one the
# build needs no nightly compiler, so this runs with the machine's own
# toolchain (set FUZZ_TOOLCHAIN=nightly to pick another). Everything runs
# under `nice`; CARGO_BUILD_JOBS is honoured.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-20}
[ $# -gt 0 ] && shift
tc=()
[ -n "${FUZZ_TOOLCHAIN:-}" ] && tc=("+$FUZZ_TOOLCHAIN")
nice=(nice -n "${FUZZ_NICE:-19}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  "${nice[@]}" cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${tc[@]}" fuzz list)
fi

t0=$(date +%s)
"${nice[@]}" cargo "${tc[@]}" fuzz build -s none
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - t0 )) s"

failed=()
for t in "${targets[@]}"; do
  # A target without committed seeds still runs (from an empty corpus).
  mkdir -p "work/$t" "artifacts/$t" "corpus/$t"
  log="work/$t.log"
  s0=$(date +%s)
  set +e
  "${nice[@]}" cargo "${tc[@]}" fuzz run -s none "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=25 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  # A run that died before its stats has none: not a reason to stop here.
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)
  echo "fuzz: $t: $(( $(date +%s) - s0 )) s, ${execs:-?} executions, exit $status"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|Base64' "$log" >&2 || tail -n 40 "$log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/work/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs} s each without a crash"
