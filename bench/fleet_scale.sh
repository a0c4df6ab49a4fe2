#!/usr/bin/env bash
# Fleet analysis at scale (issue #6): SERIES series of 14 days at STEP seconds loaded into a
# real VictoriaMetrics, then `leakhound fleet` over all of them; prints wall time (fetch and
# analysis) and leakhound's peak RSS. Every 10th series leaks.
# Usage: bench/fleet_scale.sh [LEAKHOUND_BINARY] [SERIES] [STEP_SECONDS]   (needs victoria-metrics)
set -euo pipefail

LH=$(readlink -f "${1:-target/release/leakhound}")
SERIES=${2:-2000}
STEP=${3:-300}
[ -x /usr/bin/victoria-metrics ] || { echo "needs victoria-metrics (apt-get install victoria-metrics)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lh-fleet-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$PORT" -retentionPeriod=1y >/dev/null 2>&1 &
VM=$!
trap 'kill $VM 2>/dev/null; wait $VM 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done

START=$(date +%s.%N)
python3 - "$PORT" "$SERIES" "$STEP" <<'PY'
import sys, time, math, random, urllib.request
port, n, step = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
now = time.time(); start = now - 14 * 86400; points = int(14 * 86400 / step)
rnd = random.Random(1)
for i in range(n):
    leak = 8e6 if i % 10 == 0 else 0.0
    base = rnd.uniform(60e6, 1e9)
    lines = []
    for k in range(points):
        t = start + k * step
        v = base + leak * (t - start) / 86400 + 0.05 * base * math.sin(2 * math.pi * t / 86400) + rnd.gauss(0, 0.002 * base)
        lines.append(f'process_resident_memory_bytes{{job="bench",instance="i-{i:04d}"}} {v:.0f} {int(t * 1000)}')
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/import/prometheus", data="\n".join(lines).encode(), method="POST")).read()
urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush").read()
PY
LOADED=$(date +%s.%N)
/usr/bin/time -v "$LH" fleet --prometheus "http://127.0.0.1:$PORT" --query 'process_resident_memory_bytes{job="bench"}' \
  --range 15d --step "${STEP}s" --tolerance 2MiB/day --format json > "$WORK/out.json" 2> "$WORK/time.txt"
DONE=$(date +%s.%N)
python3 - "$WORK/out.json" "$WORK/time.txt" "$SERIES" "$STEP" "$(echo "$LOADED - $START" | bc)" "$(echo "$DONE - $LOADED" | bc)" <<'PY'
import json, sys, re
out = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read()
n, step, load, fleet = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
leaks = sorted(s["labels"]["instance"] for s in out["series"] if s["verdict"] == "leak")
truth = sorted(f"i-{i:04d}" for i in range(n) if i % 10 == 0)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
cpu = re.search(r"Percent of CPU this job got: (\d+)%", t).group(1)
pts = n * int(14 * 86400 / step)
print(f"\n{n} series x 14 days at {step} s = {pts / 1e6:.1f} M points in VictoriaMetrics (load {load:.0f} s)")
print(f"- leakhound fleet: {fleet:.1f} s wall, {cpu}% CPU (of one core), peak RSS {rss:.0f} MiB")
print(f"- series analysed {len(out['series'])}; leaks found {len(leaks)}, of which true {len(set(leaks) & set(truth))} of {len(truth)}; false {len(set(leaks) - set(truth))}")
PY
