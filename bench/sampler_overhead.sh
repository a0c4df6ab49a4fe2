#!/usr/bin/env bash
# Sampler overhead (issue #2): CPU time and RSS of leakhound's own `watch` process sampling
# 1 process and a tree of 100 processes every 1 s, side by side with psrecord on the same targets.
# Usage: bench/sampler_overhead.sh [LEAKHOUND_BINARY] [SECONDS]   (needs psrecord and GNU time)
set -euo pipefail

LH=$(readlink -f "${1:-target/release/leakhound}")
DUR=${2:-180}
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 2; }
# The real psrecord script, not a pyenv shim, so the measured pid is python itself.
PSREC=$( (pyenv which psrecord 2>/dev/null) || command -v psrecord) \
  || { echo "needs psrecord: pip install psrecord" >&2; exit 2; }
TCK=$(getconf CLK_TCK)
HOLD=$((DUR * 6 + 617)) # workloads outlive the bench; the odd number keeps --name exact
WORK=$(mktemp -d /tmp/lh-sampler-bench.XXXXXX)
STARTED=() # workloads (killed with their children on exit)
CUR=""     # the measurement running now (GNU time and the sampler)
ROWS=()
SERIES=()

children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
cleanup() {
  local p
  for p in "${STARTED[@]}"; do
    kill $(children "$p") "$p" 2>/dev/null || true
  done
  [ -z "$CUR" ] || kill $CUR 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
ticks() { sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | awk '{print $12 + $13}' || true; }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status 2>/dev/null || true; }
hwm_kib() { awk '/^VmHWM/ {print $2}' /proc/"$1"/status 2>/dev/null || true; }

# measure TOOL TARGETS CMD...: runs CMD under GNU time, polls its RSS and CPU ticks every 10 s,
# appends a table row. Peak RSS is the larger of GNU time's maxrss and the last VmHWM seen (the
# kernel's lazily updated high-water mark can read a little under the current VmRSS).
measure() {
  local tool=$1 targets=$2 n=${#ROWS[@]}
  shift 2
  local out=$WORK/run$n t0 t1 tpid spid="" i
  t0=$(now)
  /usr/bin/time -v -o "$out.time" "$@" >"$out.log" 2>&1 &
  tpid=$!
  CUR=$tpid
  for i in $(seq 100); do
    spid=$(children "$tpid" | awk '{print $1}')
    [ -n "$spid" ] && break
    sleep 0.05
  done
  [ -n "$spid" ] || { echo "$tool did not start" >&2; cat "$out.log" >&2; exit 1; }
  CUR="$tpid $spid"
  local series="" rss0="" rss1="" k0="" w0="" k1="" w1="" r k h hwm=0
  i=0
  while kill -0 "$spid" 2>/dev/null; do
    if [ "$i" = 2 ] || [ $((i % 10)) = 0 ] && [ "$i" -gt 0 ]; then
      r=$(rss_kib "$spid") k=$(ticks "$spid") h=$(hwm_kib "$spid")
      [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
      if [ -n "$r" ] && [ -n "$k" ]; then
        [ -z "$rss0" ] && rss0=$r
        [ "$i" -ge 10 ] && [ -z "$k0" ] && { k0=$k; w0=$(now); }
        [ "$i" -ge 10 ] && { k1=$k; w1=$(now); rss1=$r; series+=" $(awk -v r="$r" 'BEGIN {printf "%.1f", r / 1024}')"; }
      fi
    fi
    sleep 1
    i=$((i + 1))
  done
  wait "$tpid" || true
  t1=$(now)
  CUR=""
  local user sys maxrss
  user=$(awk -F': ' '/User time/ {print $2}' "$out.time")
  sys=$(awk -F': ' '/System time/ {print $2}' "$out.time")
  maxrss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out.time")
  ROWS+=("$(awk -v t="$tool" -v g="$targets" -v u="$user" -v s="$sys" -v t0="$t0" -v t1="$t1" \
    -v k0="${k0:-0}" -v k1="${k1:-0}" -v w0="${w0:-0}" -v w1="${w1:-1}" -v hz="$TCK" \
    -v m="$((maxrss > hwm ? maxrss : hwm))" -v r0="${rss0:-0}" -v r1="${rss1:-0}" 'BEGIN {
      cpu = (u + s) / (t1 - t0) * 100; steady = (k1 - k0) / hz / (w1 - w0) * 100
      printf "| %s | %s | 1 s | %.0f | %.2f | %.3f | %.3f | %.1f | %.1f / %.1f |\n", t, g, t1 - t0,
        u + s, cpu, steady, m / 1024, r0 / 1024, r1 / 1024 }')")
  local db procs=""
  db=$(sed -n 's/.*--db \([^ ]*\).*/\1/p' <<<"$*")
  [ -z "$db" ] || procs=", processes in the last sample: $("$LH" --db "$db" export 1 --format csv \
    | awk -F, 'NR == 1 {for (c = 1; c <= NF; c++) if ($c == "processes") k = c} END {print $k}')"
  SERIES+=("$tool, $targets: RSS MiB every 10 s:$series$procs")
}

# 1 target
"$LH" workload alloc 20 --hold "$HOLD" --tag lhbench1 >/dev/null &
ONE=$!
STARTED+=("$ONE")
sleep 2
measure "leakhound watch --pid" 1 "$LH" --db "$WORK/lh1.db" watch --pid "$ONE" --interval 1s --for "${DUR}s"
measure "psrecord" 1 "$PSREC" "$ONE" --interval 1 --duration "$DUR" --log "$WORK/ps1.log" --include-children
kill "$ONE"

# 100 targets: children of one parent
"$LH" workload tree 100 5 --hold "$HOLD" --tag lhbench >/dev/null &
TREE=$!
STARTED+=("$TREE")
for i in $(seq 100); do
  [ "$(children "$TREE" | wc -w)" -ge 100 ] && break
  sleep 0.1
done
sleep 3
[ "$(children "$TREE" | wc -w)" = 100 ] || { echo "tree did not start 100 children" >&2; exit 1; }
measure "leakhound watch --pid" "100 (+parent)" "$LH" --db "$WORK/lh100.db" watch --pid "$TREE" --interval 1s --for "${DUR}s"
measure "psrecord" "100 (+parent)" "$PSREC" "$TREE" --interval 1 --duration "$DUR" --log "$WORK/ps100.log" --include-children
# The same tree without PSS/USS: how much of the cost is the kernel's smaps_rollup walk.
measure "leakhound watch --pid --no-smaps" "100 (+parent)" "$LH" --db "$WORK/lhnosmaps.db" watch --pid "$TREE" --no-smaps --interval 1s --for "${DUR}s"
# --name over the 100 children; the trailing $ keeps the pattern from matching GNU time's own
# command line (which contains the pattern text).
measure "leakhound watch --name" 100 "$LH" --db "$WORK/lhname.db" watch --name "workload alloc 5 --hold ${HOLD}\$" --interval 1s --for "${DUR}s"

echo
echo "Sampler overhead over ${DUR} s at 1 s, $(nproc) cores, $(uname -r); leakhound $("$LH" --version | awk '{print $2}'), psrecord $(pip show psrecord 2>/dev/null | awk '/^Version/ {print $2}')"
echo
echo "| tool | targets | interval | wall s | CPU s | CPU % of a core | CPU % steady (after 10 s) | peak RSS MiB | RSS start / end MiB |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${ROWS[@]}"
echo
for pair in "0 1" "2 3" "4 3"; do # leakhound row, psrecord row
  set -- $pair
  awk -v a="${ROWS[$1]}" -v b="${ROWS[$2]}" 'BEGIN {
    split(a, x, "|"); split(b, y, "|"); lh = x[8] + 0; ps = y[8] + 0
    gsub(/^ +| +$/, "", x[2]); gsub(/^ +| +$/, "", x[3])
    printf "- %s targets: psrecord uses %.1f× the CPU of `%s` (steady state; %.1f× over the whole run)\n",
      x[3], ps / (lh > 0 ? lh : 0.001), x[2], (y[7] + 0) / ((x[7] + 0) > 0 ? x[7] + 0 : 0.001) }'
done
echo
printf -- '- %s\n' "${SERIES[@]}"
