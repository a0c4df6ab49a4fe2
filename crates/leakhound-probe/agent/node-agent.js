// leakhound's Node.js agent. Loaded with `node --require` (leakhound sets NODE_OPTIONS), it
// reports memory, GC, event-loop delay and workload counters to leakhound once an interval,
// as one JSON line per report over a local socket. It never keeps the process alive (unref),
// never throws into the application, and keeps working if leakhound goes away and comes back.
'use strict';
(function leakhoundAgent() {
  const socketPath = process.env.LEAKHOUND_AGENT_SOCKET;
  if (!socketPath || global.__leakhoundAgent) return;
  global.__leakhoundAgent = true;
  let net, v8, dc, perf;
  try {
    net = require('net');
    v8 = require('v8');
    dc = require('diagnostics_channel');
    perf = require('perf_hooks');
  } catch (e) {
    return;
  }
  const intervalMs = Math.max(100, Number(process.env.LEAKHOUND_AGENT_INTERVAL_MS) || 1000);

  const counters = Object.create(null);
  const bump = (name, n) => {
    counters[name] = (counters[name] || 0) + (n === undefined ? 1 : n);
  };
  const subscribe = (channel, fn) => {
    try {
      dc.subscribe(channel, (message) => {
        try {
          fn(message);
        } catch (e) {
          // Never disturb the application.
        }
      });
    } catch (e) {
      // Channel unknown on this Node version.
    }
  };
  subscribe('http.client.request.start', () => bump('node.http.client.requests'));
  subscribe('http.server.request.start', () => bump('node.http.server.requests'));
  subscribe('undici:request:create', () => bump('node.undici.requests'));
  const onSocket = (message) => {
    bump('node.net.sockets.opened');
    const socket = message && message.socket;
    if (socket && typeof socket.once === 'function') {
      socket.once('close', () => bump('node.net.sockets.closed'));
    }
  };
  subscribe('net.client.socket', onSocket);
  subscribe('net.server.socket', onSocket);
  // Applications count their own operations without depending on leakhound:
  // require('diagnostics_channel').channel('leakhound.count').publish({ name: 'jobs', n: 1 })
  subscribe('leakhound.count', (m) => {
    if (m && typeof m.name === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(m.name)) {
      const n = Number(m.n === undefined ? 1 : m.n);
      if (Number.isFinite(n) && n >= 0) bump('app.' + m.name, n);
    }
  });

  const gc = { count: 0, pauseSeconds: 0, major: 0, minor: 0, incremental: 0, weak: 0 };
  // Called after each full (mark-compact) collection: the sites' reading waits for one.
  let afterMajor = null;
  try {
    const kinds = perf.constants || {};
    const observer = new perf.PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        gc.count += 1;
        gc.pauseSeconds += entry.duration / 1000;
        const kind = entry.detail ? entry.detail.kind : entry.kind;
        if (kind === kinds.NODE_PERFORMANCE_GC_MAJOR) {
          gc.major += 1;
          if (afterMajor) {
            try {
              afterMajor();
            } catch (e) {
              // Never disturb the application.
            }
          }
        } else if (kind === kinds.NODE_PERFORMANCE_GC_MINOR) gc.minor += 1;
        else if (kind === kinds.NODE_PERFORMANCE_GC_INCREMENTAL) gc.incremental += 1;
        else gc.weak += 1;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  } catch (e) {
    // No GC observation on this runtime.
  }
  let loop = null;
  try {
    loop = perf.monitorEventLoopDelay({ resolution: 20 });
    loop.enable();
  } catch (e) {
    loop = null;
  }

  let socket = null;
  let nextAttempt = 0;
  let backoff = intervalMs;
  const connect = () => {
    if (socket || Date.now() < nextAttempt) return;
    try {
      const s = net.createConnection(socketPath);
      s.unref();
      s.on('error', () => {
        s.destroy();
      });
      s.on('close', () => {
        if (socket === s) socket = null;
        nextAttempt = Date.now() + backoff;
        backoff = Math.min(backoff * 2, 30000);
      });
      s.on('connect', () => {
        backoff = intervalMs;
      });
      // leakhound may ask for allocation sites when this process connects (`watch --sites`).
      let pending = '';
      s.on('data', (chunk) => {
        try {
          pending += chunk.toString('utf8');
          let nl;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            const ask = JSON.parse(line);
            if (ask && ask.sites_interval_ms > 0 && !sitesStarted) {
              startSites(schedule(ask.sites_interval_ms, ask.sites_min_interval_ms), ask.sites_sampling);
            }
          }
          if (pending.length > 4096) pending = '';
        } catch (e) {
          pending = '';
        }
      });
      socket = s;
    } catch (e) {
      socket = null;
      nextAttempt = Date.now() + backoff;
    }
  };

  const report = () => {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    const message = {
      v: 1,
      pid: process.pid,
      t: Date.now() / 1000,
      rss: m.rss,
      heap_total: m.heapTotal,
      heap_used: m.heapUsed,
      external: m.external,
      array_buffers: m.arrayBuffers || 0,
      malloced: h.malloced_memory,
      detached_contexts: h.number_of_detached_contexts,
      event_loop_delay_ms: loop ? loop.mean / 1e6 : null,
      handles: typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo().length : null,
      counters: Object.assign({
        'node.gc.count': gc.count,
        'node.gc.pause_seconds': gc.pauseSeconds,
        'node.gc.major': gc.major,
        'node.gc.minor': gc.minor,
        'node.gc.incremental': gc.incremental,
      }, counters),
    };
    if (loop) loop.reset();
    connect();
    // Drop the report rather than queue it if leakhound is not there or slow.
    if (socket && !socket.connecting && socket.writableLength < 65536) {
      socket.write(JSON.stringify(message) + '\n');
    }
  };
  const timer = setInterval(() => {
    try {
      report();
    } catch (e) {
      // Never disturb the application.
    }
  }, intervalMs);
  timer.unref();

  // Allocation sites: V8's sampling heap profiler, in process, through the inspector protocol
  // (no debugger attached, no port opened). It samples one allocation per SAMPLING bytes on
  // average and keeps only samples whose objects are still alive, so each stack's bytes
  // estimate what it holds live now. Off unless leakhound asks (run/watch --sites).
  var sitesStarted = false;
  // When to report (leakhound_wire::Schedule): the gap is 15% of the time profiled so far,
  // between a floor and a ceiling, so a one-minute soak gets a dozen profiles and a week-long
  // watch one every 30 s. Without a floor the gap is fixed (`--sites-interval`).
  function schedule(maxMs, minMs) {
    const max = Math.max(1000, Number(maxMs) || 30000);
    const min = Math.min(max, Math.max(1000, Number(minMs) || max));
    return (elapsedMs) => Math.min(max, Math.max(min, Math.floor(elapsedMs * 0.15)));
  }
  const sitesMs = Number(process.env.LEAKHOUND_SITES_INTERVAL_MS) || 0;
  if (sitesMs > 0) {
    startSites(schedule(sitesMs, process.env.LEAKHOUND_SITES_MIN_INTERVAL_MS), Number(process.env.LEAKHOUND_SITES_SAMPLING));
  }

  function startSites(gapAfter, askedSampling) {
    try {
      startSampling(gapAfter, askedSampling);
      sitesStarted = true;
    } catch (e) {
      // No inspector in this build of Node: no sites, everything else works.
    }
  }

  function startSampling(gapAfter, askedSampling) {
    const inspector = require('inspector');
    // V8's heap profiler names the JavaScript frames on the stack, and an inlined function has
    // none: its allocations are charged to the caller it was inlined into, so a small leaking
    // function vanishes into whoever calls it once the optimiser gets to it. Inlining off (for
    // code optimised from now on) keeps every allocation with the function that made it;
    // LEAKHOUND_SITES_INLINING=1 keeps inlining (measured cost in the README).
    if (process.env.LEAKHOUND_SITES_INLINING !== '1') {
      try {
        v8.setFlagsFromString('--no-turbo-inlining');
      } catch (e) {
        // An unknown flag on another V8: sites still work, with inlined frames merged.
      }
    }
    const sampling = Math.max(1024, Number(askedSampling) || 32768);
    const top = Math.max(1, Number(process.env.LEAKHOUND_SITES_TOP) || 200);
    // The agent's own allocations (taking and sending profiles) are not the program's.
    const ownFile = require('path').basename(__filename);
    const session = new inspector.Session();
    session.connect();
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', {
      samplingInterval: sampling,
      includeObjectsCollectedByMajorGC: false,
      includeObjectsCollectedByMinorGC: false,
    });
    // The profiler keeps a sample until a collection frees its object, and V8 may not run a
    // full collection for minutes on a small heap: garbage promoted to the old generation
    // reads as held until then. A profile is read right after the program's own full
    // collection when one comes within a quarter of the gap, else as it is. No collection is
    // forced: asking for one before each read (HeapProfiler.collectGarbage) cost a server at
    // 2,000 requests/s failed requests and a higher p99 (bench/sites_overhead.sh).
    const read = () => {
      const started = process.hrtime.bigint();
      session.post('HeapProfiler.getSamplingProfile', (err, res) => {
        if (err || !res || !res.profile) return;
        try {
          sendProfile(res.profile, started);
        } catch (e) {
          // Never disturb the application.
        }
      });
    };
    // Reads once, after the program's next full collection or a quarter of the gap later,
    // then schedules the next reading; never throws.
    const collect = (gap, then) => {
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        afterMajor = null;
        try {
          read();
        } catch (e) {
          // Never disturb the application.
        }
        then();
      };
      afterMajor = once;
      const wait = setTimeout(once, Math.max(250, Math.floor(gap / 4)));
      wait.unref();
    };
    // The profile goes as it is: leakhound turns it into sites (frames named relative to the
    // working directory, the top stacks, the remainder) in one place, for this agent and for
    // processes it attaches to over the inspector (leakhound-probe's node_profile).
    const sendProfile = (profile, started) => {
      connect();
      if (!socket || socket.connecting || socket.writableLength >= 65536) return;
      const body = JSON.stringify(profile);
      // What taking and serialising the profile cost this process, for the overhead figures.
      const tookMs = Number(process.hrtime.bigint() - started) / 1e6;
      socket.write(
        '{"v":1,"type":"node_profile","pid":' + process.pid + ',"t":' + Date.now() / 1000 +
          ',"sampling_bytes":' + sampling + ',"top":' + top + ',"cwd":' + JSON.stringify(process.cwd()) +
          ',"took_ms":' + tookMs + ',"own":' + JSON.stringify(ownFile) + ',"profile":' + body + '}\n'
      );
    };
    const began = Date.now();
    const next = () => {
      const gap = gapAfter(Date.now() - began);
      const timer = setTimeout(() => {
        try {
          collect(gap, next);
        } catch (e) {
          // Never disturb the application.
          next();
        }
      }, gap);
      timer.unref();
    };
    next();
  }
})();
