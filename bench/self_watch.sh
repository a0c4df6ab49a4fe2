#!/usr/bin/env bash
# Long-run self-check (issue #8): does leakhound itself leak while it watches 100 processes?
# Watcher A samples a tree of 100 processes every 1 s with the /metrics exporter on (scraped every
# 15 s, as a Prometheus would). Observer B, a second leakhound, samples A every 5 s. At the end,
# leakhound's own verdict on A's RSS is printed, with A's sample count against the count expected.
# Usage: bench/self_watch.sh [LEAKHOUND_BINARY] [MINUTES]   (default 65 minutes)
set -euo pipefail

LH=$(readlink -f "${1:-target/release/leakhound}")
MIN=${2:-65}
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lh-self-watch.XXXXXX)
# A copy, so that a rebuild during the hour does not swap the binary under the run.
cp "$LH" "$WORK/leakhound"
LH=$WORK/leakhound
PIDS=()
children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill $(children "$p") "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$LH" workload tree 100 5 --hold $((MIN * 60 + 600)) --tag lhself >/dev/null &
TREE=$!
PIDS+=("$TREE")
for _ in $(seq 100); do
  [ "$(children "$TREE" | wc -w)" -ge 100 ] && break
  sleep 0.1
done
[ "$(children "$TREE" | wc -w)" = 100 ] || { echo "tree did not start 100 children" >&2; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$LH" --db "$WORK/a.db" watch --pid "$TREE" --interval 1s --for "${MIN}m" \
  --listen "127.0.0.1:$PORT" >"$WORK/a.out" 2>"$WORK/a.err" &
A=$!
PIDS+=("$A")
sleep 1
"$LH" --db "$WORK/b.db" watch --pid "$A" --interval 5s --for "$((MIN + 5))m" \
  >"$WORK/b.out" 2>"$WORK/b.err" &
B=$!
PIDS+=("$B")
echo "work dir $WORK; watcher A pid $A (100 targets at 1 s, /metrics on :$PORT), observer B pid $B"

scrapes=0
failed=0
while kill -0 "$A" 2>/dev/null; do
  if curl -sf "http://127.0.0.1:$PORT/metrics" -o /dev/null; then
    scrapes=$((scrapes + 1))
  else
    failed=$((failed + 1))
  fi
  sleep 15
done
wait "$A" || true
wait "$B" || true

echo
echo "Self-watch: $MIN min, $(nproc) cores, $(uname -r), leakhound $("$LH" --version | awk '{print $2}')"
echo "- /metrics scrapes: $scrapes answered, $failed failed (the last may miss as A stops)"
ticks=$("$LH" --db "$WORK/a.db" export 1 --format csv \
  | awk -F, 'NR == 1 {for (c = 1; c <= NF; c++) if ($c == "rss") k = c; next} $k != "" {n++} END {print n}')
echo "- watcher A stored $ticks intervals of rss in $((MIN * 60)) s at 1 s"
echo "- A's stderr tail:"
tail -n 3 "$WORK/a.err" | sed 's/^/    /'
echo "- leakhound's verdict on watcher A (observer B, every 5 s):"
"$LH" --db "$WORK/b.db" analyze 1 --series rss --series anon --series uss --series fds --series threads | sed 's/^/    /'
"$LH" --db "$WORK/b.db" analyze 1 --series rss --format json >"$WORK/verdict.json"
"$LH" --db "$WORK/b.db" export 1 --format csv \
  | awk -F, 'NR == 1 {for (c = 1; c <= NF; c++) if ($c == "rss") k = c; next}
      $k != "" {v[++n] = $k} END {
        printf "- A RSS (MiB): first %.2f, after 5 min %.2f, last %.2f, min %.2f, max %.2f\n",
          v[1] / 1048576, v[61] / 1048576, v[n] / 1048576, min(v, n) / 1048576, max(v, n) / 1048576 }
      function min(a, n,  i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
      function max(a, n,  i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }'
echo "- JSON verdict and databases: $WORK"
