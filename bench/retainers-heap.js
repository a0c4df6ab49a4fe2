// The target of `cargo run --release -p leakhound-bench --bin retainers_cost`: a Node.js
// process with a large live JS heap (HEAP_MB of records in a Map, each with a short string)
// that keeps leaking into a module-level array, and that measures its own stalls: a timer
// every 5 ms notes how late it ran, and every 250 ms the largest lateness is printed as
// `stall_ms N` (what a heap snapshot's pause looks like to the program).
'use strict';
const HEAP_MB = Number(process.env.HEAP_MB) || 600;

const table = new Map();
function fill(mb) {
  const per = 120; // about 120 bytes per record with its string and the Map's entry
  const n = Math.floor((mb * 1024 * 1024) / per);
  for (let i = 0; i < n; i++) table.set(i, { id: i, s: 'r' + i });
}
const leaked = [];
function keep(n) {
  for (let i = 0; i < n; i++) leaked.push({ at: Date.now(), note: 'x'.repeat(64) + i });
}

fill(HEAP_MB);
global.gc && global.gc();
const m = process.memoryUsage();
console.log(`ready heap_used ${m.heapUsed} rss ${m.rss}`);

let last = Date.now();
let worst = 0;
setInterval(() => {
  const now = Date.now();
  worst = Math.max(worst, now - last - 5);
  last = now;
}, 5);
setInterval(() => {
  console.log(`stall_ms ${worst}`);
  worst = 0;
}, 250);
setInterval(() => keep(200), 100);
