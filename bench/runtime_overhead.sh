#!/usr/bin/env bash
# What reading Go, Python and the JVM costs (issue #15), measured on real programs:
#
#  go      The Go fixture server (crates/leakhound/tests/fixtures/go-leak, no leak, RATE
#          requests/s, Go's default heap sampling) over three consecutive windows of SECONDS:
#          alone, under `leakhound watch --pid` and under `watch --pid --pprof URL` (a profile
#          every 30 s, each after a forced GC). CPU seconds of the server (from /proc) and of
#          leakhound (its rusage) per window.
#  python  A CPU-bound, allocation-heavy loop (fixed work, it prints its own time): plain
#          python3, under `leakhound run` (the agent: gc counts, no sites), `run --sites`
#          (sampling, the default) and `run --sites` with LEAKHOUND_PYTHON_TRACEMALLOC=1
#          (tracemalloc), taking turns for ROUNDS rounds (default 5); then a program shaped
#          like memray's tutorial leak (functools.cache on a classmethod keeping every result;
#          LRU_PROGRAM=path/to/memray's docs/tutorials/exercise_3/lru_cache.py runs that one
#          instead) as whole commands: plain, `python3 -m memray run` (if `pip install memray`
#          has been done) and `leakhound run --sites`, wall seconds, with leakhound's top site.
#  jvm     A JVM with a 1 GiB live heap (about 8.4 million objects, -Xms2g -Xmx2g, G1): three
#          `jcmd PID GC.class_histogram` calls, as `--jvm` makes every --histogram-interval.
#          For each: the full GC's pause from the JVM's own GC log, the longest stall a
#          1 ms ticker thread in the program saw, jcmd's wall time and CPU; and the same for
#          `GC.heap_info` (read every interval).
#
# Usage: bench/runtime_overhead.sh [go|python|jvm|all] [LEAKHOUND_BINARY] [SECONDS]
set -euo pipefail

WHAT=${1:-all}
LH=$(readlink -f "${2:-target/release/leakhound}")
DUR=${3:-90}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lh-runtime-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
# CPU seconds (user + system) process $1 has used so far.
cpu_of() { python3 -c 'import os,sys; f=open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"; }
# Runs a command; prints its CPU seconds (user + system, its children included) to stderr.
cpu_of_run() { python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r=resource.getrusage(resource.RUSAGE_CHILDREN); print("%.2f" % (r.ru_utime+r.ru_stime), file=sys.stderr)' "$@"; }
sub() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1])-float(sys.argv[2])))' "$1" "$2"; }

echo "machine: $(nproc) cores, $(uname -r); leakhound $LH"

if [ "$WHAT" = go ] || [ "$WHAT" = all ]; then
  command -v go >/dev/null || { echo "go: needs golang-go" >&2; exit 2; }
  (cd "$ROOT/crates/leakhound/tests/fixtures/go-leak" && go build -o "$WORK/go-leak" main.go)
  P=$(port)
  # Go's default heap sampling (one sample per 512 KiB), as a service in production runs.
  LEAK=none RATE=${RATE:-500} DURATION=$((DUR * 3 + 60)) PORT=$P MEM_PROFILE_RATE=524288 \
    "$WORK/go-leak" >/dev/null 2>&1 &
  GO=$!; PIDS+=("$GO")
  wait_port "$P"; sleep 5
  echo "== go: server at ${RATE:-500} requests/s, ${DUR} s per window, Go $(go env GOVERSION)"
  for mode in alone watch watch+pprof; do
    before=$(cpu_of "$GO")
    case $mode in
      alone) sleep "$DUR"; lh=- ;;
      watch) lh=$(cpu_of_run "$LH" --db "$WORK/go.db" watch --pid "$GO" --for "${DUR}s" 2>&1 >/dev/null) ;;
      watch+pprof) lh=$(cpu_of_run "$LH" --db "$WORK/go.db" watch --pid "$GO" --for "${DUR}s" \
        --pprof "http://127.0.0.1:$P" 2>&1 >/dev/null) ;;
    esac
    after=$(cpu_of "$GO")
    echo "go $mode: server CPU $(sub "$after" "$before") s, leakhound CPU $lh s in $DUR s"
  done
  kill "$GO" 2>/dev/null || true
fi

if [ "$WHAT" = python ] || [ "$WHAT" = all ]; then
  cat > "$WORK/loop.py" <<'PY'
# Fixed CPU-bound work that allocates: small dicts and strings, a bounded list of the latest.
import time
start = time.perf_counter()
latest = []
for i in range(3_000_000):
    latest.append({'id': i, 'name': 'item-%d' % i, 'tags': [i, i + 1]})
    if len(latest) > 10_000:
        latest.clear()
print('%.2f' % (time.perf_counter() - start))
PY
  ROUNDS=${ROUNDS:-5}
  echo "== python: $(python3 --version), a loop of 3 million small dicts, $ROUNDS rounds"
  median() { python3 -c 'import statistics,sys; v=sorted(map(float,sys.argv[1:])); print("%.2f (%s)" % (statistics.median(v), ", ".join("%.2f" % x for x in v)))' "$@"; }
  plain=(); agent=(); sampled=(); traced=()
  for round in $(seq "$ROUNDS"); do
    plain+=("$(python3 "$WORK/loop.py")")
    "$LH" --db "$WORK/py.db" run --output "$WORK/py.out" -- python3 "$WORK/loop.py" >/dev/null 2>&1
    agent+=("$(cat "$WORK/py.out")")
    "$LH" --db "$WORK/py.db" run --sites --output "$WORK/py.out" -- python3 "$WORK/loop.py" >/dev/null 2>&1
    sampled+=("$(cat "$WORK/py.out")")
    LEAKHOUND_PYTHON_TRACEMALLOC=1 "$LH" --db "$WORK/py.db" run --sites --output "$WORK/py.out" -- \
      python3 "$WORK/loop.py" >/dev/null 2>&1
    traced+=("$(cat "$WORK/py.out")")
  done
  echo "python loop plain: $(median "${plain[@]}") s"
  echo "python loop leakhound run (agent): $(median "${agent[@]}") s"
  echo "python loop leakhound run --sites (sampling): $(median "${sampled[@]}") s"
  echo "python loop leakhound run --sites (LEAKHOUND_PYTHON_TRACEMALLOC=1): $(median "${traced[@]}") s"

  LRU=${LRU_PROGRAM:-$WORK/lru.py}
  if [ -z "${LRU_PROGRAM:-}" ]; then
    cat > "$WORK/lru.py" <<'PY'
# Shaped like memray's tutorial leak: a cache on a classmethod (functools.cache) keyed by an
# instance's parameter keeps every argument tuple and every result, here big integers.
import functools
from collections import Counter


class Series:
    def __init__(self, step):
        self.step = step

    def factorial_plus(self, n):
        return self.term(n, self.step)

    @classmethod
    @functools.cache
    def term(cls, n, step):
        return n * cls.term(n - 1, step) + step if n > 1 else 1 + step


def last_digits(steps, length):
    for step in range(steps):
        s = Series(step)
        for n in range(length):
            yield s.factorial_plus(n) % 10


print(Counter(last_digits(500, 500)).most_common(3))
print(Counter(last_digits(1000, 1000)).most_common(3))
PY
  fi
  echo "== python: $(basename "$LRU"), whole commands, $ROUNDS rounds (wall seconds)"
  wall() { python3 -c 'import subprocess,sys,time; t=time.monotonic(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print("%.2f" % (time.monotonic()-t))' "$@"; }
  has_memray=$(python3 -c 'import memray' 2>/dev/null && echo yes || echo no)
  plain=(); memray=(); sites=()
  for round in $(seq "$ROUNDS"); do
    plain+=("$(wall python3 "$LRU")")
    if [ "$has_memray" = yes ]; then
      memray+=("$(wall python3 -m memray run -f -o "$WORK/memray.bin" "$LRU")")
    fi
    sites+=("$(wall "$LH" --db "$WORK/lru$round.db" run --sites --output "$WORK/lru.out" -- python3 "$LRU")")
  done
  echo "lru plain: $(median "${plain[@]}") s"
  [ "$has_memray" = yes ] && echo "lru memray run: $(median "${memray[@]}") s" || echo "lru memray run: not installed (pip install memray)"
  echo "lru leakhound run --sites: $(median "${sites[@]}") s"
  echo "lru leakhound's top site (last round):"
  "$LH" --db "$WORK/lru$ROUNDS.db" analyze --format json | python3 -c 'import json,sys
j=json.load(sys.stdin); s=(j.get("sites") or [{}])[0]
print("  %s: %s" % (s.get("verdict"), " <- ".join(s.get("stack", [])[:3])))
print("  " + j["headline"])'
fi

if [ "$WHAT" = jvm ] || [ "$WHAT" = all ]; then
  command -v jcmd >/dev/null || { echo "jvm: needs a JDK (default-jdk-headless)" >&2; exit 2; }
  cat > "$WORK/Heap.java" <<'JAVA'
import java.util.ArrayList;
import java.util.List;

// Holds about 1 GiB of live objects (a 128-byte object each), then runs a ticker that sleeps
// 1 ms at a time and prints the longest gap it saw each time a gap exceeds 50 ms.
public class Heap {
    static final class Item {
        long a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13;
    }

    // Static, so the objects stay live: a local unused after the fill would be collected.
    static final List<Item> items = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        long target = 1L << 30;
        for (long bytes = 0; bytes < target; bytes += 128) {
            items.add(new Item());
        }
        System.out.println("ready " + items.size());
        System.out.flush();
        long last = System.nanoTime();
        while (true) {
            Thread.sleep(1);
            long now = System.nanoTime();
            if (now - last > 50_000_000L) {
                System.out.printf("stall %.1f ms%n", (now - last) / 1e6);
                System.out.flush();
            }
            last = now;
        }
    }
}
JAVA
  java -Xms2g -Xmx2g -Xlog:gc:file="$WORK/gc.log" "$WORK/Heap.java" >"$WORK/heap.out" 2>&1 &
  J=$!; PIDS+=("$J")
  for _ in $(seq 600); do grep -q ready "$WORK/heap.out" 2>/dev/null && break; sleep 0.2; done
  grep -q ready "$WORK/heap.out" || { echo "the JVM never filled its heap" >&2; cat "$WORK/heap.out" >&2; exit 1; }
  sleep 3
  echo "== jvm: $(java -version 2>&1 | head -1), $(grep ready "$WORK/heap.out" | cut -d' ' -f2) objects"
  echo "jvm heap: $(jcmd "$J" GC.heap_info | sed -n 2p | sed 's/^ *//')"
  for cmd in GC.heap_info GC.class_histogram GC.class_histogram GC.class_histogram GC.heap_info; do
    lines_before=$(wc -l <"$WORK/heap.out")
    start=$(date +%s.%N)
    cpu=$(cpu_of_run jcmd "$J" "$cmd" 2>&1 >/dev/null)
    wall=$(python3 -c "import time; print('%.2f' % (time.time() - $start))")
    sleep 1
    stall=$(tail -n +"$((lines_before + 1))" "$WORK/heap.out" | sed -n 's/stall \(.*\) ms/\1/p' | sort -n | tail -1 || true)
    pause=$( (grep 'Heap Inspection' "$WORK/gc.log" || true) | tail -1 | sed 's/.* \([0-9.]*ms\)$/\1/')
    [ "$cmd" = GC.heap_info ] && pause=-
    echo "jvm $cmd: jcmd wall ${wall} s, jcmd CPU ${cpu} s, GC pause ${pause:--}, longest stall seen ${stall:-<50} ms"
  done
fi
