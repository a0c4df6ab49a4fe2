# leakhound's Python agent. leakhound puts this file's directory first on PYTHONPATH, so
# Python imports it at startup as `sitecustomize`; it then runs the program's own
# sitecustomize, if any, and takes its directory off sys.path again. It reports the
# interpreter's gauges and GC counts to leakhound once an interval, as JSON lines over a local
# socket. When sites are asked for, it loads leakhound's profiler library (ctypes), which
# samples Python's allocations and reports live memory by stack itself; where that cannot
# work (no library, another CPython version) or when LEAKHOUND_PYTHON_TRACEMALLOC=1, the
# agent reports sites from tracemalloc instead, and says why. With --retainers it also finds
# who holds what stays (leakhound_holders.py, beside it). It runs on a daemon thread,
# never raises into the program, and keeps working if leakhound goes away and comes back.
import os
import sys


def _leakhound_agent():
    # Everything the agent uses is imported now, before tracemalloc may start: a module imported
    # later would count as memory the program allocated.
    import ast
    import atexit
    import gc
    import json
    import socket
    import threading
    import time
    try:
        # Beside this file, on the path only while sitecustomize runs.
        import leakhound_holders
    except Exception:
        leakhound_holders = None

    path = os.environ.get('LEAKHOUND_AGENT_SOCKET')
    if not path or getattr(sys, '_leakhound_agent', False):
        return
    sys._leakhound_agent = True

    def number(name, default):
        try:
            return float(os.environ.get(name) or default)
        except ValueError:
            return default

    interval = max(0.1, number('LEAKHOUND_AGENT_INTERVAL_MS', 1000) / 1000)
    state = {'sock': None, 'next_attempt': 0.0, 'backoff': interval, 'sites_gap': None,
             'sites_began': 0.0, 'sites_due': 0.0, 'pending': b'', 'sampler': None,
             'thread': 0, 'notices': [], 'finishing': False, 'retainers': None}
    retainers_wanted = os.environ.get('LEAKHOUND_RETAINERS') == '1'
    top = int(max(1, number('LEAKHOUND_SITES_TOP', 200)))
    # Object counts of the commonest types walk every object the collector tracks: only when
    # asked (LEAKHOUND_PYTHON_TYPES=1), with the sites.
    types_wanted = os.environ.get('LEAKHOUND_PYTHON_TYPES') == '1'
    nframes = int(min(64, max(1, number('LEAKHOUND_SITES_FRAMES', 16))))
    tracemalloc_wanted = os.environ.get('LEAKHOUND_PYTHON_TRACEMALLOC') == '1'
    profiler_path = os.environ.get('LEAKHOUND_PYTHON_PROFILER')
    import tracemalloc
    own_files = {__file__, os.path.abspath(__file__), tracemalloc.__file__}
    if leakhound_holders is not None:
        own_files |= {leakhound_holders.__file__, os.path.abspath(leakhound_holders.__file__)}
    cwd = os.getcwd() + os.sep
    # How a frame's file is shown (leakhound's probe names sampled frames by the same rules,
    # from the context sent to it): the standard library as `<stdlib>/json/encoder.py`, so
    # that its frames can be told from the program's; else relative to the working
    # directory; else to the longest sys.path entry (site-packages); else as it is.
    stdlib = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
    # The script's directory joins sys.path only after sitecustomize runs.
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ('', '-c', '-m') else None
    script_dir = [os.path.dirname(os.path.abspath(script))] if script and os.path.isfile(script) else []
    roots = sorted({os.path.abspath(p) + os.sep for p in sys.path + script_dir if p},
                   key=len, reverse=True)

    def connect():
        if state['sock'] is not None or time.monotonic() < state['next_attempt']:
            return state['sock']
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1.0)
            s.connect(path)
            state['sock'] = s
            state['backoff'] = interval
        except OSError:
            state['next_attempt'] = time.monotonic() + state['backoff']
            state['backoff'] = min(state['backoff'] * 2, 30.0)
        return state['sock']

    def drop():
        s = state['sock']
        state['sock'] = None
        state['next_attempt'] = time.monotonic() + state['backoff']
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def send(message):
        s = connect()
        if s is None:
            return
        try:
            s.sendall(json.dumps(message, separators=(',', ':')).encode() + b'\n')
        except OSError:
            drop()

    def read_asks():
        # leakhound may ask for allocation sites when this process connects (`watch --sites`).
        s = state['sock']
        if s is None:
            return
        try:
            s.settimeout(0)
            chunk = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            chunk = None
        except OSError:
            drop()
            return
        finally:
            if state['sock'] is not None:
                state['sock'].settimeout(1.0)
        if chunk == b'':
            drop()
            return
        if chunk:
            state['pending'] = (state['pending'] + chunk)[-4096:]
            while b'\n' in state['pending']:
                line, state['pending'] = state['pending'].split(b'\n', 1)
                try:
                    ask = json.loads(line)
                    most = float(ask.get('sites_interval_ms', 0)) / 1000
                    least = float(ask.get('sites_min_interval_ms', 0)) / 1000
                except (ValueError, AttributeError, TypeError):
                    continue
                if most > 0 and not state['sites_gap']:
                    start_sites(most, least)
                if ask.get('retainers'):
                    start_retainers()

    def start_retainers():
        if state['retainers'] is None and leakhound_holders is not None:
            state['retainers'] = {'began': time.monotonic(), 'first': None, 'second': None,
                                  'due': 0.0}

    def retainers_step():
        # Who holds what stays (--retainers): a look at every object 10 s and 30 s in, then,
        # from 45 s, what was born between the looks and is still alive, by holder, every 30 s
        # (or less often, so that comparing takes at most 5% of the time).
        r = state['retainers']
        if r is None:
            return
        now = time.monotonic()
        if r['first'] is None:
            if now - r['began'] >= 10:
                r['first'] = leakhound_holders.look()
        elif r['second'] is None:
            if now - r['began'] >= 30:
                r['second'] = leakhound_holders.look()
                r['due'] = now + 15
        elif now >= r['due']:
            found = leakhound_holders.compare(r['first'], r['second'])
            took = time.monotonic() - now
            r['due'] = time.monotonic() + max(30.0, 20 * took)
            send({'v': 1, 'type': 'holders', 'pid': os.getpid(), 't': time.time(),
                  'holders': found})

    def notice(text):
        state['notices'].append(text)

    def start_sites(most, least):
        # When to report (leakhound_wire::Schedule): the gap is 15% of the time profiled so
        # far, between `least` and `most`, so a one-minute soak gets a dozen reports and a
        # week-long watch one every 30 s; without `least` the gap is fixed (--sites-interval).
        most = max(1.0, most)
        least = min(most, max(1.0, least or most))
        if state['sampler'] is not None or state['sites_gap']:
            return
        if not tracemalloc_wanted:
            why = start_sampling(most, least)
            if why is None:
                return
            notice('Python sites: %s; using tracemalloc instead, which traces every allocation '
                   '(about ten times slower on allocation-heavy code)' % why)
        import tracemalloc
        if not tracemalloc.is_tracing():
            tracemalloc.start(nframes)
        state['sites_gap'] = lambda elapsed: min(most, max(least, elapsed * 0.15))
        state['sites_began'] = time.monotonic()
        state['sites_due'] = state['sites_began'] + least

    def start_sampling(most, least):
        # Loads leakhound's profiler library and starts it on this interpreter; None when it
        # runs, else why not. The library reports the sites itself, on its own thread.
        version = '%d.%d.%d' % sys.version_info[:3]
        if sys.implementation.name != 'cpython':
            return 'the sampling profiler reads CPython; this is %s %s' % (
                sys.implementation.name, version)
        if sys.version_info[:2] != (3, 11):
            return ('the sampling profiler reads the frames of CPython 3.11; this is CPython %s'
                    % version)
        path = profiler_path
        # A library already in the process (preloaded for --native-sites) is the one to use.
        try:
            with open('/proc/self/maps') as f:
                for line in f:
                    if 'libleakhound_preload' in line and '/' in line:
                        path = line[line.index('/'):].strip()
                        break
        except OSError:
            pass
        if not path:
            return ('the sampling profiler library is not known (leakhound sets '
                    'LEAKHOUND_PYTHON_PROFILER where it finds libleakhound_preload.so)')
        try:
            import ctypes
            lib = ctypes.PyDLL(path)
        except OSError as e:
            return 'cannot load the sampling profiler %s: %s' % (path, e)
        buf = ctypes.create_string_buffer(65536)
        lib.leakhound_python_frames.restype = ctypes.c_ssize_t
        # The line of the call, read on the same line (a running frame's f_lineno moves on).
        n, line = lib.leakhound_python_frames(sys.hexversion, buf, len(buf)), sys._getframe().f_lineno
        if n == -1:
            return ('the sampling profiler reads the frames of CPython 3.11; this is CPython %s'
                    % version)
        if n < 0:
            return 'this CPython %s lacks a function the sampling profiler needs' % version
        got = [line.split('\t') for line in buf.raw[:n].decode('utf-8', 'replace').splitlines()]
        want = []
        here = sys._getframe()
        while here is not None and len(want) < len(got) + 1:
            want.append([here.f_code.co_qualname, here.f_code.co_filename, str(here.f_lineno)])
            here = here.f_back
        want[0][2] = str(line)
        if got != want:
            return ('the frames of this CPython %s (%s) read by the sampling profiler differ '
                    'from sys._getframe()' % (version, sys.version.split()[0]))
        # The agent's own allocations are not the program's: its thread is left out.
        lib.leakhound_python_ignore_thread.argtypes = [ctypes.c_uint64]
        lib.leakhound_python_ignore_thread(state['thread'])
        context = json.dumps({'version': version, 'cwd': cwd, 'stdlib': stdlib, 'roots': roots})
        lib.leakhound_python_start.argtypes = [ctypes.c_uint32, ctypes.c_uint64,
                                               ctypes.c_uint64, ctypes.c_char_p]
        lib.leakhound_python_live_bytes.restype = ctypes.c_double
        # Its reports cost the program little (a copy of the profiler's table, no walk of the
        # heap), so a thinning schedule starts at 250 ms: a run of a few seconds gets enough
        # of them when leakhound samples that often (--interval).
        first = min(least, 0.25) if least < most else least
        rc = lib.leakhound_python_start(sys.hexversion, int(most * 1000), int(first * 1000),
                                        context.encode())
        if rc != 0:
            return 'the sampling profiler did not start (code %d)' % rc
        state['sampler'] = lib
        return None

    def finishing():
        # What the interpreter frees at exit is not the program's doing: reports stop first.
        state['finishing'] = True
        if state['sampler'] is not None:
            state['sampler'].leakhound_python_finishing()

    functions = {}

    def function_at(filename, line):
        # tracemalloc frames carry no function name: find the innermost def around the line.
        spans = functions.get(filename)
        if spans is None:
            spans = []
            try:
                with open(filename, 'rb') as f:
                    tree = ast.parse(f.read())

                def walk(node, prefix):
                    for child in ast.iter_child_nodes(node):
                        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                            name = prefix + child.name
                            spans.append((child.lineno, getattr(child, 'end_lineno', child.lineno), name))
                            walk(child, name + '.')
                        else:
                            walk(child, prefix)
                walk(tree, '')
            except (OSError, SyntaxError, ValueError, RecursionError):
                pass
            if len(functions) < 4096:
                functions[filename] = spans
        if not spans and not os.path.isfile(filename):
            # Frozen or generated code (`<frozen importlib._bootstrap>`): no source to read.
            return '?'
        best = None
        for start, end, name in spans:
            if start <= line <= end and (best is None or start >= best[0]):
                best = (start, name)
        return best[1] if best else '<module>'

    def shown(filename):
        if filename.startswith(stdlib) and not any(
                d in filename[len(stdlib):].split(os.sep) for d in ('site-packages', 'dist-packages')):
            return '<stdlib>/' + filename[len(stdlib):]
        if filename.startswith(cwd):
            return filename[len(cwd):]
        for root in roots:
            if filename.startswith(root):
                return filename[len(root):]
        return filename

    def frame_name(frame):
        filename = frame.filename
        name = '%s (%s:%d)' % (function_at(filename, frame.lineno), shown(filename), frame.lineno)
        return name.encode('utf-8', 'replace')[:1024].decode('utf-8', 'ignore')

    def send_sites():
        import tracemalloc
        started = time.perf_counter()
        # statistics() costs about 10 us per live allocation (it hashes every traceback), which
        # is the agent's main cost; Snapshot.filter_traces would double it, so the agent's and
        # tracemalloc's own allocations (any stack through their files: the agent's thread
        # allocates in json and socket too) are dropped from the grouped result instead.
        stats = [
            s for s in tracemalloc.take_snapshot().statistics('traceback')
            if not any(f.filename in own_files for f in s.traceback)
        ]
        sites = []
        other_bytes = 0
        other_objects = 0
        for s in stats[top:]:
            other_bytes += s.size
            other_objects += s.count
        for s in stats[:top]:
            # Oldest frame first in tracemalloc; innermost first here.
            frames = [frame_name(f) for f in reversed(s.traceback)][:64]
            sites.append({'frames': frames, 'bytes': s.size, 'objects': s.count})
        send({
            'v': 1, 'type': 'sites', 'source': 'python', 'pid': os.getpid(), 't': time.time(),
            'sampling_bytes': 0, 'sites': sites, 'other_bytes': other_bytes,
            'other_objects': other_objects,
            # What taking and summing the snapshot cost this process, for the overhead figures.
            'took_ms': (time.perf_counter() - started) * 1000,
        })
        if types_wanted:
            state['types'] = top_types()

    def top_types():
        # Objects the collector tracks (containers and instances), by type: the ten commonest.
        counts = {}
        for o in gc.get_objects():
            t = type(o).__name__
            counts[t] = counts.get(t, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])[:10]

    def report():
        import tracemalloc
        counts = gc.get_count()
        gauges = {
            'python.allocated_blocks': sys.getallocatedblocks(),
            'python.gc.gen0': counts[0],
            'python.gc.gen1': counts[1],
            'python.gc.gen2': counts[2],
        }
        if tracemalloc.is_tracing():
            gauges['python.traced_bytes'] = tracemalloc.get_traced_memory()[0]
        if state['sampler'] is not None:
            gauges['python.sampled_bytes'] = state['sampler'].leakhound_python_live_bytes()
        for name, n in state.get('types') or []:
            safe = ''.join(c if c.isascii() and (c.isalnum() or c in '_.:-') else '_' for c in name)
            gauges['python.objects.' + safe[:40]] = n
        counters = {'python.gc.collected': 0, 'python.gc.uncollectable': 0}
        for i, g in enumerate(gc.get_stats()):
            counters['python.gc.collections.gen%d' % i] = g.get('collections', 0)
            counters['python.gc.collected'] += g.get('collected', 0)
            counters['python.gc.uncollectable'] += g.get('uncollectable', 0)
        send({'v': 1, 'type': 'runtime', 'runtime': 'python', 'pid': os.getpid(),
              't': time.time(), 'gauges': gauges, 'counters': counters})
        while state['notices'] and state['sock'] is not None:
            send({'v': 1, 'type': 'notice', 'pid': os.getpid(), 'text': state['notices'].pop(0)})

    def loop():
        while not state['finishing']:
            time.sleep(interval)
            if state['finishing']:
                break
            try:
                report()
                read_asks()
                now = time.monotonic()
                if state['sites_gap'] and now >= state['sites_due']:
                    state['sites_due'] = now + state['sites_gap'](now - state['sites_began'])
                    send_sites()
                retainers_step()
            except Exception:
                # Never disturb the program.
                pass

    def start_thread():
        t = threading.Thread(target=loop, name='leakhound-agent', daemon=True)
        t.start()
        state['thread'] = t.ident
        if state['sampler'] is not None:
            # A forked child's new agent thread.
            state['sampler'].leakhound_python_ignore_thread(t.ident)

    def after_fork():
        # A forked worker (multiprocessing, gunicorn) has no agent thread and shares the
        # parent's socket: it closes its copy and starts its own.
        if state['sock'] is not None:
            try:
                state['sock'].close()
            except OSError:
                pass
        state['sock'] = None
        state['next_attempt'] = 0.0
        # The parent's looks are not the child's objects.
        if state['retainers'] is not None:
            state['retainers'] = None
            start_retainers()
        start_thread()

    atexit.register(finishing)
    # The thread first, so that the profiler knows which thread to leave out.
    start_thread()
    if retainers_wanted:
        start_retainers()
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(after_in_child=after_fork)

    def begin():
        sites_ms = number('LEAKHOUND_SITES_INTERVAL_MS', 0)
        if sites_ms > 0:
            start_sites(sites_ms / 1000, number('LEAKHOUND_SITES_MIN_INTERVAL_MS', 0) / 1000)
    return begin


def _leakhound_chain():
    # Run the program's own sitecustomize (the next one on the path), as if ours were not there.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    import importlib.machinery
    import importlib.util
    spec = importlib.machinery.PathFinder.find_spec('sitecustomize', sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules['sitecustomize'] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        # What site.py says of a failing sitecustomize.
        print('Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s'
              % (type(e).__name__, e), file=sys.stderr)


try:
    _leakhound_begin = _leakhound_agent()
except Exception:
    _leakhound_begin = None
_leakhound_chain()
# Sites start once the chain has run: what finding and importing the program's sitecustomize
# allocates (importlib's caches, kept for good) is leakhound's doing, not the program's.
try:
    if _leakhound_begin is not None:
        _leakhound_begin()
except Exception:
    pass
del _leakhound_begin
