#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints inputs tried per target (issue #8).
# Needs a nightly toolchain (`cargo +nightly`) and cargo-fuzz (installed here if missing).
# A failing input is minimised and copied to fuzz/regressions/<target>/, which the stable test
# crates/leakhound-fuzz-targets/tests/regressions.rs replays; fix the bug, then commit both.
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
set -uo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(csv exposition prom_api har agent units)
cargo +nightly --version >/dev/null 2>&1 || { echo "fuzz/run.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 2
cargo +nightly fuzz build -O 2>&1 | tail -n 3 || exit 2

ROWS=()
FAILED=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Seeds and earlier failures start the corpus; the corpus itself is not committed.
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null
  cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null
  log=artifacts/$t/run.log
  start=$(date +%s)
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
    $([ -f "dict/$t.dict" ] && echo "-dict=dict/$t.dict") >"$log" 2>&1
  status=$?
  wall=$(($(date +%s) - start))
  execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')
  files=$(ls "corpus/$t" | wc -l)
  result=ok
  if [ "$status" != 0 ]; then
    FAILED=1
    crash=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | awk '{print $5}')
    result="FAILED ($crash)"
    if [ -n "$crash" ] && [ -f "$crash" ]; then
      mkdir -p "regressions/$t"
      cp "$crash" "regressions/$t/$(basename "$crash")"
      result="FAILED: kept as fuzz/regressions/$t/$(basename "$crash")"
    fi
    grep -m 3 -E 'panicked|ERROR' "$log" | sed 's/^/    /' >&2
  fi
  ROWS+=("| $t | ${execs:-?} | $wall | $((${execs:-0} / (wall > 0 ? wall : 1))) | ${cov:-?} | $files | $result |")
done

echo
echo "Fuzzing: ${SECS} s per target, $(nproc) cores, $(cargo +nightly --version | awk '{print $2}')"
echo
echo "| target | inputs run | seconds | inputs/s | coverage points | corpus files | result |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${ROWS[@]}"
exit $FAILED
