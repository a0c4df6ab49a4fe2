#!/usr/bin/env bash
# Native profiler overhead (issue #14): an allocation-heavy C program (bench/native_alloc.c:
# THREADS threads making OPS small allocations each) run alone, preloaded with the profiler
# but not profiling (the cost of interposing malloc), under `leakhound run --native-sites` at
# the default (a budget of samples per second: the mean follows the allocation rate) and with
# the fixed 512 KiB mean that was the default before, and under heaptrack; then redis-server
# under redis-benchmark the same ways. The modes take turns, ROUNDS times, and the medians are compared.
# The C program reports its own wall time, CPU time and peak RSS (getrusage), so what is
# measured is the target, not the tool around it.
# Usage: bench/native_overhead.sh [ROUNDS] [THREADS] [OPS] [HEAPTRACK_ROUNDS]
#        (needs gcc; heaptrack and redis-server/redis-benchmark for those columns; heaptrack
#        runs in the first HEAPTRACK_ROUNDS rounds only, 3 by default: it takes 25x as long)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-7}
THREADS=${2:-4}
OPS=${3:-5000000}
HEAP_ROUNDS=${4:-3}
LH=target/release/leakhound
SO=target/release/libleakhound_preload.so
command -v gcc >/dev/null || { echo "needs gcc" >&2; exit 2; }
cargo build --release -q -p leakhound -p leakhound-preload
WORK=$(mktemp -d /tmp/lh-native-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
gcc -O2 -g -pthread -o "$WORK/native_alloc" bench/native_alloc.c
PROG=("$WORK/native_alloc" "$THREADS" "$OPS")

# Each prints the program's line: elapsed S cpu S maxrss_kib K ops N checksum C
none() { "${PROG[@]}"; }
off() { LD_PRELOAD="$(readlink -f $SO)" "${PROG[@]}"; }
profiled() {
  "$LH" --db "$WORK/lh.db" run --native-sites --output "$WORK/out" -- "${PROG[@]}" >/dev/null 2>&1
  cat "$WORK/out"
}
fixed() {
  "$LH" --db "$WORK/lh.db" run --native-sites --native-sampling 512KiB --output "$WORK/out" -- "${PROG[@]}" >/dev/null 2>&1
  cat "$WORK/out"
}
heap() { heaptrack -o "$WORK/ht" "${PROG[@]}" 2>/dev/null | grep '^elapsed'; rm -f "$WORK"/ht*; }

MODES=(none off profiled fixed)
command -v heaptrack >/dev/null && MODES+=(heap) || echo "(no heaptrack: its column is skipped)" >&2
for r in $(seq "$ROUNDS"); do
  for m in "${MODES[@]}"; do
    [ "$m" = heap ] && [ "$r" -gt "$HEAP_ROUNDS" ] && continue
    line=$($m)
    echo "$m $line" >>"$WORK/c.txt"
  done
done

python3 - "$WORK/c.txt" "$THREADS" "$OPS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append((float(f[2]), float(f[4]), float(f[6]) / 1024))
med = {m: tuple(statistics.median(r[i] for r in v) for i in range(3)) for m, v in rows.items()}
print(f"C workload: {sys.argv[2]} threads x {int(sys.argv[3]):,} allocations, median of {len(rows['none'])} rounds"
      + (f" ({len(rows['heap'])} of heaptrack)" if "heap" in rows else ""))
print("| mode | wall s | CPU s | peak RSS MiB | wall vs none | CPU vs none |")
print("|---|---:|---:|---:|---:|---:|")
names = {"none": "nothing", "off": "preloaded, not sampling", "profiled": "leakhound run --native-sites (default: sample budget)", "fixed": "... --native-sampling 512KiB (the old default)", "heap": "heaptrack"}
base = med["none"]
for m in ["none", "off", "profiled", "fixed", "heap"]:
    if m in med:
        w, c, r = med[m]
        print(f"| {names[m]} | {w:.3f} | {c:.3f} | {r:.1f} | {w / base[0] - 1:+.1%} | {c / base[1] - 1:+.1%} |")
if "heap" in med:
    for i, what in [(0, "wall"), (1, "CPU")]:
        ours = med["profiled"][i] - base[i]
        theirs = med["heap"][i] - base[i]
        if ours > 0:
            print(f"heaptrack's {what} overhead / the profiler's: {theirs / ours:.0f}x")
        else:
            print(f"heaptrack's {what} overhead: {theirs:.2f} s; the profiler's is within the noise")
print(f"the profiler's memory in the target: {med['profiled'][2] - base[2]:+.1f} MiB peak RSS")
PY

# redis-server under redis-benchmark: requests per second, and the server's peak RSS.
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  serve() { # MODE: starts redis on $port as that mode, prints its pid
    local args=(redis-server --port "$port" --save "" --appendonly no --bind 127.0.0.1)
    case $1 in
      none) "${args[@]}" >/dev/null 2>&1 & ;;
      profiled) "$LH" --db "$WORK/lh.db" run --native-sites --output "$WORK/redis.out" -- "${args[@]}" >/dev/null 2>&1 & ;;
      fixed) "$LH" --db "$WORK/lh.db" run --native-sites --native-sampling 512KiB --output "$WORK/redis.out" -- "${args[@]}" >/dev/null 2>&1 & ;;
      heap) heaptrack -o "$WORK/ht" "${args[@]}" >/dev/null 2>&1 & ;;
    esac
    PIDS+=($!)
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    pgrep -n -f "redis-server 127.0.0.1:$port" || pgrep -n -f "redis-server.*$port"
  }
  for r in $(seq "$ROUNDS"); do
    for m in none profiled fixed heap; do
      [ "$m" = heap ] && { ! command -v heaptrack >/dev/null || [ "$r" -gt "$HEAP_ROUNDS" ]; } && continue
      spid=$(serve $m)
      t0=$(awk '{print $14 + $15}' "/proc/$spid/stat")
      rps=$(redis-benchmark -p "$port" -q -n 200000 -c 50 -P 16 -t set,get,lpush,lpop,incr -d 64 --csv 2>/dev/null |
        awk -F'"' 'NR > 1 {s += $4; n++} END {printf "%.0f", s / n}')
      t1=$(awk '{print $14 + $15}' "/proc/$spid/stat")
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0)
      # The server's CPU per request: steadier than throughput on a shared machine.
      echo "$m $rps $hwm $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) ))" >>"$WORK/r.txt"
      redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
      sleep 1
      kill "${PIDS[@]}" 2>/dev/null || true
      wait 2>/dev/null || true
      PIDS=()
      rm -f "$WORK"/ht*
    done
  done
  python3 - "$WORK/r.txt" <<'PY'
import statistics, sys
rows = {}
requests = 5 * 200000
for line in open(sys.argv[1]):
    m, rps, hwm, cpu_us = line.split()
    rows.setdefault(m, []).append((float(rps), float(hwm) / 1024, float(cpu_us) / requests))
med = {m: tuple(statistics.median(r[i] for r in v) for i in range(3)) for m, v in rows.items()}
print()
print(f"redis-benchmark (set, get, lpush, lpop, incr; 50 clients, pipeline 16, 64 B values), median of {len(rows['none'])} rounds"
      + (f" ({len(rows['heap'])} of heaptrack)" if "heap" in rows else ""))
print("| mode | requests/s | server CPU us/request | server peak RSS MiB | CPU vs none |")
print("|---|---:|---:|---:|---:|")
names = {"none": "nothing", "profiled": "leakhound run --native-sites (default: sample budget)", "fixed": "... --native-sampling 512KiB (the old default)", "heap": "heaptrack"}
for m in ["none", "profiled", "fixed", "heap"]:
    if m in med:
        rps, rss, cpu = med[m]
        print(f"| {names[m]} | {rps:,.0f} | {cpu:.2f} | {rss:.1f} | {cpu / med['none'][2] - 1:+.1%} |")
if "heap" in med:
    ours = med["profiled"][2] - med["none"][2]
    theirs = med["heap"][2] - med["none"][2]
    if ours > 0:
        print(f"heaptrack's CPU overhead / the profiler's: {theirs / ours:.0f}x")
    else:
        print(f"heaptrack adds {theirs / med['none'][2]:.0%} CPU per request; the profiler's cost is within the noise")
PY
fi
