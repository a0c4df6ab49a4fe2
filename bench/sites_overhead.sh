#!/usr/bin/env bash
# What collecting allocation sites costs a Node.js service (issue #13): a Node HTTP server
# under a fixed request rate on loopback, run under `leakhound run` without the agent, with the
# agent (memory and counters), with the agent and `--sites` (V8's sampling heap profiler, one
# sample per 32 KiB, profiles on the default schedule: every 3 s at first, thinning to 30 s,
# and V8's inlining off so every allocation keeps its function), and with `--sites` but
# inlining kept (LEAKHOUND_SITES_INLINING=1), one after another and twice over. Prints the
# answered rate and latency percentiles of each (from `leakhound replay`, the load generator),
# the server's CPU time per request (/proc), and the ratios of the `--sites` runs to the
# agent-only runs.
# Usage: [ROUNDS=2] bench/sites_overhead.sh [LEAKHOUND_BINARY] [SECONDS] [RATE]   (needs node)
set -euo pipefail

LH=$(readlink -f "${1:-target/release/leakhound}")
DUR=${2:-40}
RATE=${3:-3000}
[ -x "$LH" ] || { echo "no leakhound binary at $LH" >&2; exit 2; }
command -v node >/dev/null || { echo "needs node" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lh-sites-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# A service that allocates per request: parses a query into objects, renders JSON, and keeps
# the last 1,000 answers in a cache.
cat > "$WORK/server.js" <<'JS'
const http = require('http');
const cache = new Map();
function render(id) {
  const items = [];
  for (let i = 0; i < 20; i++) items.push({ id, i, name: 'item-' + id + '-' + i, tags: ['a', 'b', String(i)] });
  return JSON.stringify({ id, items });
}
http.createServer((req, res) => {
  const id = Number(new URL(req.url, 'http://x').searchParams.get('id')) || 0;
  const body = render(id);
  cache.set(id % 1000, body);
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
JS
cat > "$WORK/load.har" <<HAR
{"log":{"version":"1.2","entries":[{"startedDateTime":"2026-11-27T00:00:00.000Z","request":{"method":"GET","url":"http://x/item?id=17","headers":[{"name":"accept","value":"*/*"}]},"response":{"status":200,"content":{"size":2}}}]}}
HAR

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One configuration: `leakhound run EXTRA -- node server.js` under the load; prints the
# replay summary and the server's CPU microseconds per answered request.
measure() {
  local p; p=$(port)
  PORT=$p "$LH" --db "$WORK/lh.db" run --for "$((DUR + 30))s" "$@" --output /dev/null -- node "$WORK/server.js" 2>/dev/null &
  local lh=$!
  wait_port "$p"
  local node; node=$(pgrep -n -f "node $WORK/server.js")
  sleep 3
  local t0; t0=$(cpu_ticks "$node")
  local out; out=$("$LH" replay "$WORK/load.har" --target "http://127.0.0.1:$p" --rate "${RATE}/s" --concurrency 64 --loop --for "${DUR}s" 2>/dev/null | sed 's/^replayed: //')
  local t1; t1=$(cpu_ticks "$node")
  local answered; answered=$(sed -n 's/.* \([0-9]*\) answered.*/\1/p' <<<"$out")
  printf '%s; server CPU %.1f us/request\n' "$out" "$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / ${answered:-1}" | bc -l)"
  kill -INT $lh; wait $lh 2>/dev/null || true
}

declare -A OUT
ROUNDS=${ROUNDS:-2}
for round in $(seq "$ROUNDS"); do
  OUT[none$round]=$(measure --no-agent)
  OUT[agent$round]=$(measure)
  OUT[sites$round]=$(measure --sites)
  OUT[inl$round]=$(LEAKHOUND_SITES_INLINING=1 measure --sites)
done

echo
echo "Sites overhead: a Node HTTP server at ${RATE} requests/s for ${DUR} s on loopback, $(nproc) cores, node $(node --version)"
echo
echo "| run | leakhound run ... | replay result |"
echo "| --- | --- | --- |"
for round in $(seq "$ROUNDS"); do
  echo "| $round | --no-agent | ${OUT[none$round]} |"
  echo "| $round | (agent) | ${OUT[agent$round]} |"
  echo "| $round | --sites | ${OUT[sites$round]} |"
  echo "| $round | --sites, inlining kept | ${OUT[inl$round]} |"
done
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" <<<"$2"; }
echo
for round in $(seq "$ROUNDS"); do
  a=${OUT[agent$round]}; s=${OUT[sites$round]}
  an=$(field answered "$(sed 's/\([0-9]*\) answered/answered \1/' <<<"$a")")
  sn=$(field answered "$(sed 's/\([0-9]*\) answered/answered \1/' <<<"$s")")
  ap=$(field p99 "$a"); sp=$(field p99 "$s")
  ac=$(sed -n 's/.*server CPU \([0-9.]*\) us.*/\1/p' <<<"$a"); sc=$(sed -n 's/.*server CPU \([0-9.]*\) us.*/\1/p' <<<"$s")
  ic=$(sed -n 's/.*server CPU \([0-9.]*\) us.*/\1/p' <<<"${OUT[inl$round]}")
  printf -- "- round %s: --sites answered %.2f%% of what the agent alone did; p99 %.2f times the agent alone's (%s vs %s ms); server CPU per request %+.1f%% (%s vs %s us), with inlining kept %+.1f%%\n" \
    "$round" "$(echo "100 * $sn / $an" | bc -l)" "$(echo "$sp / $ap" | bc -l)" "$sp" "$ap" \
    "$(echo "100 * ($sc / $ac - 1)" | bc -l)" "$sc" "$ac" "$(echo "100 * ($ic / $ac - 1)" | bc -l)"
done
