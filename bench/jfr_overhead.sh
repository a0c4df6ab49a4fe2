#!/usr/bin/env bash
# What `--jvm` (a flight recording kept in the JVM, issue #23) costs, measured on a real JVM:
#
#  overhead  An allocation-heavy program (Alloc.java below: 512 MiB live in 4 million objects,
#            a loop that allocates 64 KiB of short-lived objects per operation and counts
#            operations, a 1 ms ticker thread that notes the longest stall it sees), G1,
#            -Xms1g -Xmx1g, over consecutive windows of SECONDS: alone, under `leakhound
#            watch --jvm PID` (defaults: a dump every 3 s at first, thinning to 30 s), and
#            under `watch --jvm PID --retainers` (a dump with paths to GC roots after 60 s).
#            Per window: operations per second, the longest stall the program saw, the
#            longest safepoint (the JVM's own -Xlog:safepoint, with its operation), the
#            longest GC pause, CPU of the JVM and of leakhound.
#  dumps     The same program with leakhound's recording settings, dumped every 30 s as
#            leakhound does (only the chunks since the last dump): at 30 s and after DUMPS dumps
#            (20: 10 minutes of recording), jcmd's wall time and CPU for one dump, the file's size, and reading it:
#            `jfr print --json` (a JVM per dump) against leakhound's reader (the jfr_read bin).
#
# JVM_OPTIONS (environment) are added to the benchmarked JVM's options: e.g.
# JVM_OPTIONS=-XX:FlightRecorderOptions:old-object-queue-size=4096, the queue `run --jvm` sets,
# against the JVM's default of 256.
#
# Usage: bench/jfr_overhead.sh [overhead|dumps|all] [LEAKHOUND_BINARY] [SECONDS]
set -euo pipefail

WHAT=${1:-all}
LH=$(readlink -f "${2:-target/release/leakhound}")
DUR=${3:-120}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
command -v jcmd >/dev/null || { echo "needs a JDK (default-jdk-headless)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lh-jfr-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cpu_of() { python3 -c 'import os,sys; f=open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK"))' "$1"; }
cpu_of_run() { python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r=resource.getrusage(resource.RUSAGE_CHILDREN); print("%.2f" % (r.ru_utime+r.ru_stime), file=sys.stderr)' "$@"; }
sub() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1])-float(sys.argv[2])))' "$1" "$2"; }

cat > "$WORK/Alloc.java" <<'JAVA'
import java.util.ArrayList;
import java.util.List;

// 512 MiB live, then operations that each allocate 64 KiB of short-lived objects; prints
// "t OPS MAXSTALL_MS" every second (cumulative operations, longest stall since the last line).
public class Alloc {
    static final class Item { long a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13; }
    static final List<Item> LIVE = new ArrayList<>();
    static volatile long ops;
    static volatile long stallNs;
    static Object sink;

    public static void main(String[] args) throws Exception {
        for (long b = 0; b < (512L << 20); b += 128) LIVE.add(new Item());
        Thread worker = new Thread(() -> {
            while (true) {
                for (int i = 0; i < 512; i++) sink = new byte[96];
                sink = new byte[16384];
                sink = new long[2048];
                ops++;
            }
        });
        worker.setDaemon(true);
        worker.start();
        Thread ticker = new Thread(() -> {
            long last = System.nanoTime();
            while (true) {
                try { Thread.sleep(1); } catch (InterruptedException e) { return; }
                long now = System.nanoTime();
                if (now - last > stallNs) stallNs = now - last;
                last = now;
            }
        });
        ticker.setDaemon(true);
        ticker.start();
        System.out.println("ready");
        while (true) {
            Thread.sleep(1000);
            System.out.printf("%d %d %.1f%n", System.currentTimeMillis() / 1000, ops, stallNs / 1e6);
            stallNs = 0;
            System.out.flush();
        }
    }
}
JAVA

start_alloc() {
  # shellcheck disable=SC2086
  java -Xms1g -Xmx1g ${JVM_OPTIONS:-} -Xlog:gc:file="$WORK/$1-gc.log" -Xlog:safepoint:file="$WORK/$1-sp.log" \
    "$WORK/Alloc.java" >"$WORK/$1.out" 2>&1 &
  J=$!; PIDS+=("$J")
  for _ in $(seq 600); do grep -q ready "$WORK/$1.out" 2>/dev/null && break; sleep 0.2; done
  grep -q ready "$WORK/$1.out" || { echo "the JVM never filled its heap" >&2; exit 1; }
  sleep 5
}

# Operations per second, longest stall, longest safepoint and GC pause between unix times.
window() {
  python3 - "$WORK/$1.out" "$WORK/$1-sp.log" "$WORK/$1-gc.log" "$2" "$3" <<'PY'
import re, sys
out, sp, gc, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
rows = [l.split() for l in open(out) if re.match(r"^\d+ \d+ ", l)]
rows = [(int(a), int(b), float(c)) for a, b, c in rows if t0 <= int(a) <= t1]
ops = (rows[-1][1] - rows[0][1]) / max(1, rows[-1][0] - rows[0][0])
stall = max(r[2] for r in rows)
# -Xlog uptime is relative to JVM start: align through the first line of the program.
print("%.0f ops/s, longest stall %.1f ms" % (ops, stall), end="")
PY
}

# The longest safepoints (operation and ms) and GC pauses logged since line $2 of the logs.
pauses() {
  python3 - "$WORK/$1-sp.log" "$WORK/$1-gc.log" "$2" "$3" <<'PY'
import re, sys
sp, gc, sp_from, gc_from = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
best = (0.0, "-")
for l in open(sp).readlines()[sp_from:]:
    m = re.search(r'Safepoint "([^"]+)".*Total: (\d+) ns', l)
    if m and int(m.group(2)) / 1e6 > best[0]:
        best = (int(m.group(2)) / 1e6, m.group(1))
ops = {}
for l in open(sp).readlines()[sp_from:]:
    m = re.search(r'Safepoint "([^"]+)".*Total: (\d+) ns', l)
    if m and not m.group(1).startswith("G1"):
        ops[m.group(1)] = max(ops.get(m.group(1), 0), int(m.group(2)) / 1e6)
gcs = [float(m.group(1)) for l in open(gc).readlines()[gc_from:] for m in [re.search(r" ([0-9.]+)ms$", l)] if m]
print(", longest safepoint %.1f ms (%s), longest GC pause %.1f ms, %d GCs; non-GC safepoints: %s"
      % (best[0], best[1], max(gcs or [0]), len(gcs), ", ".join("%s %.1f ms" % kv for kv in sorted(ops.items())) or "none"))
PY
}

echo "machine: $(nproc) cores, $(uname -r); $(java -version 2>&1 | head -1); leakhound $LH; JVM_OPTIONS=${JVM_OPTIONS:-}"

if [ "$WHAT" = overhead ] || [ "$WHAT" = all ]; then
  start_alloc ov
  echo "== overhead: Alloc.java (512 MiB live, -Xms1g -Xmx1g, G1), $DUR s per window"
  for mode in alone watch watch+retainers; do
    sp_from=$(wc -l <"$WORK/ov-sp.log"); gc_from=$(wc -l <"$WORK/ov-gc.log")
    before=$(cpu_of "$J"); t0=$(date +%s)
    case $mode in
      alone) sleep "$DUR"; lh=- ;;
      watch) lh=$(cpu_of_run "$LH" --db "$WORK/lh.db" watch --jvm "$J" --for "${DUR}s" 2>&1 >/dev/null) ;;
      watch+retainers) lh=$(cpu_of_run "$LH" --db "$WORK/lh.db" watch --jvm "$J" --retainers \
        --for "${DUR}s" 2>&1 >/dev/null) ;;
    esac
    t1=$(date +%s); after=$(cpu_of "$J")
    echo "$mode: $(window ov $((t0 + 2)) "$t1")$(pauses ov "$sp_from" "$gc_from"); JVM CPU $(sub "$after" "$before") s, leakhound CPU $lh s"
  done
  kill "$J" 2>/dev/null || true
fi

if [ "$WHAT" = dumps ] || [ "$WHAT" = all ]; then
  (cd "$ROOT" && cargo build --release -q -p leakhound-bench --bin jfr_read)
  READ="$ROOT/target/release/jfr_read"
  start_alloc dumps
  # leakhound's settings (leakhound_probe::jfr::settings), as leakhound starts them.
  cat > "$WORK/lh.jfc" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0" label="leakhound" provider="leakhound">
  <event name="jdk.OldObjectSample"><setting name="enabled">true</setting><setting name="stackTrace">true</setting><setting name="cutoff">0 ns</setting></event>
  <event name="jdk.GCHeapSummary"><setting name="enabled">true</setting></event>
  <event name="jdk.MetaspaceSummary"><setting name="enabled">true</setting></event>
</configuration>
XML
  jcmd "$J" JFR.start name=bench settings="$WORK/lh.jfc" maxage=5m maxsize=32m >/dev/null
  echo "== dumps: every 30 s, the chunks since the last one"
  last=${DUMPS:-20}
  for i in $(seq "$last"); do
    sleep 30
    f="$WORK/d$i.jfr"
    start=$(date +%s.%N)
    cpu=$(cpu_of_run jcmd "$J" JFR.dump name=bench filename="$f" begin=-32s 2>&1 >/dev/null)
    wall=$(python3 -c "import time; print('%.2f' % (time.time() - $start))")
    if [ "$i" = 1 ] || [ "$i" = "$last" ]; then
      jstart=$(date +%s.%N)
      jcpu=$(cpu_of_run jfr print --json --events jdk.OldObjectSample,jdk.GCHeapSummary "$f" 2>&1 >/dev/null)
      jwall=$(python3 -c "import time; print('%.2f' % (time.time() - $jstart))")
      jsize=$(jfr print --json --events jdk.OldObjectSample,jdk.GCHeapSummary "$f" | wc -c)
      echo "after $((i * 30)) s: jcmd JFR.dump wall ${wall} s, CPU ${cpu} s, $(($(stat -c %s "$f") / 1024)) KiB"
      echo "  jfr print --json: wall ${jwall} s, CPU ${jcpu} s, $((jsize / 1024)) KiB of JSON"
      echo "  $("$READ" "$f" 20)"
      full="$WORK/full$i.jfr"
      jcmd "$J" JFR.dump name=bench filename="$full" >/dev/null
      echo "  the whole recording (maxage 5m): $(($(stat -c %s "$full") / 1024)) KiB; $("$READ" "$full" 5)"
    fi
  done
  kill "$J" 2>/dev/null || true
fi
