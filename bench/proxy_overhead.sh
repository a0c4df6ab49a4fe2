#!/usr/bin/env bash
# Recorder overhead (issue #7): `leakhound record` forwarding a fixed 2,000 requests/s on
# loopback, next to the same load sent directly. Reports the recorder's CPU and RSS, and the
# latency it adds (p50/p90/p99 from `leakhound replay`, which generates the load).
# Usage: bench/proxy_overhead.sh [LEAKHOUND_BINARY] [SECONDS] [RATE]   (needs node)
set -euo pipefail

LH=$(readlink -f "${1:-target/release/leakhound}")
DUR=${2:-20}
RATE=${3:-2000}
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
command -v node >/dev/null || { echo "needs node" >&2; exit 2; }
TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/lh-proxy-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

UP=$(port)
node -e "require('http').createServer((q, s) => s.end('ok')).listen($UP, '127.0.0.1')" &
PIDS+=($!)
wait_port "$UP"

# One small GET, replayed in a loop at a fixed rate.
cat > "$WORK/load.har" <<HAR
{"log":{"version":"1.2","entries":[{"startedDateTime":"2026-11-27T00:00:00.000Z","request":{"method":"GET","url":"http://x/item?id=1","headers":[{"name":"accept","value":"*/*"}]},"response":{"status":200,"content":{"size":2}}}]}}
HAR

load() { "$LH" replay "$WORK/load.har" --target "http://127.0.0.1:$1" --rate "${RATE}/s" --concurrency 64 --loop --for "${DUR}s" 2>/dev/null | sed 's/^replayed: //'; }

DIRECT=$(load "$UP")

PROXY=$(port)
"$LH" record --listen "127.0.0.1:$PROXY" --upstream "http://127.0.0.1:$UP" --out "$WORK/rec.har" --max-body 1KiB 2>/dev/null &
REC=$!
PIDS+=($REC)
wait_port "$PROXY"
T0=$(cpu_ticks $REC); R0=$(rss_mib $REC); START=$(date +%s.%N)
PEAK=$R0
( while kill -0 $REC 2>/dev/null; do r=$(rss_mib $REC 2>/dev/null || echo 0); echo "$r"; sleep 1; done ) > "$WORK/rss.txt" &
PIDS+=($!)
VIA=$(load "$PROXY")
T1=$(cpu_ticks $REC); R1=$(rss_mib $REC); END=$(date +%s.%N)
PEAK=$(sort -n "$WORK/rss.txt" | tail -1)
kill -INT $REC; wait $REC 2>/dev/null || true
ENTRIES=$(($(wc -l < "$WORK/rec.har") - 2))
CPU=$(echo "($T1 - $T0) / $TCK / ($END - $START) * 100" | bc -l)

echo
echo "Recorder overhead: ${RATE} requests/s for ${DUR} s on loopback, $(nproc) cores, $(uname -r)"
echo
echo "| path | replay result |"
echo "| --- | --- |"
echo "| direct | $DIRECT |"
echo "| through leakhound record | $VIA |"
echo
printf -- "- recorder CPU: %.1f%% of one core; RSS %s MiB at start, %s MiB peak, %s MiB at end; %s exchanges written\n" "$CPU" "$R0" "$PEAK" "$R1" "$ENTRIES"
