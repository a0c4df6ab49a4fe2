// Evaluated by leakhound in a running Node.js process over its inspector (`watch --pid PID
// --sites`), with the console's command-line API (so `require` works in any module system).
// `install` subscribes to the same diagnostics channels as the agent that `run` injects, keeping
// counts under one global symbol; `read` returns the memory figures and the counts as JSON;
// `remove` unsubscribes and deletes the global, leaving the process as it was found.
(function (what) {
  const key = Symbol.for('leakhound.attach');
  const dc = require('diagnostics_channel');
  if (what === 'install') {
    if (globalThis[key]) return true;
    const counters = Object.create(null);
    const subs = [];
    const bump = (name, n) => {
      counters[name] = (counters[name] || 0) + (n === undefined ? 1 : n);
    };
    const on = (channel, fn) => {
      const safe = (m) => {
        try {
          fn(m);
        } catch (e) {
          // Never disturb the application.
        }
      };
      try {
        dc.subscribe(channel, safe);
        subs.push([channel, safe]);
      } catch (e) {
        // Channel unknown on this Node version.
      }
    };
    on('http.client.request.start', () => bump('node.http.client.requests'));
    on('http.server.request.start', () => bump('node.http.server.requests'));
    on('undici:request:create', () => bump('node.undici.requests'));
    const onSocket = () => bump('node.net.sockets.opened');
    on('net.client.socket', onSocket);
    on('net.server.socket', onSocket);
    on('leakhound.count', (m) => {
      if (m && typeof m.name === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(m.name)) {
        const n = Number(m.n === undefined ? 1 : m.n);
        if (Number.isFinite(n) && n >= 0) bump('app.' + m.name, n);
      }
    });
    globalThis[key] = { counters, subs };
    return true;
  }
  const state = globalThis[key];
  if (what === 'remove') {
    if (state) {
      for (const [channel, fn] of state.subs) {
        try {
          dc.unsubscribe(channel, fn);
        } catch (e) {
          // Already gone.
        }
      }
      delete globalThis[key];
    }
    return true;
  }
  const m = process.memoryUsage();
  const h = require('v8').getHeapStatistics();
  return {
    pid: process.pid,
    cwd: process.cwd(),
    t: Date.now() / 1000,
    rss: m.rss,
    heap_total: m.heapTotal,
    heap_used: m.heapUsed,
    external: m.external,
    array_buffers: m.arrayBuffers || 0,
    malloced: h.malloced_memory,
    detached_contexts: h.number_of_detached_contexts,
    handles: typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo().length : null,
    counters: Object.assign({}, state ? state.counters : {}),
  };
})
