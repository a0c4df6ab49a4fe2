# Who holds what stays, in a Python process (leakhound `--retainers`): memlab's method on
# Python's collector. Three looks at every object the collector tracks and at what each refers
# to directly (strings, bytes and numbers are not tracked, but the containers holding them
# are, and a dict or tuple holding only such values, which CPython stops tracking, is looked
# into from whatever refers to it): objects born between the first and the second look that are still alive at the third
# are what stays; each is charged, with everything new beneath it, to the first old container
# that refers to it, and the largest holders are named by walking their referrers back to a
# module's global, a class or an instance attribute (gc.get_referrers). Identities are
# addresses, which Python reuses: an object that merely took the place of one born between the
# looks can be counted, so a holder must hold many objects to be named. Every look holds the
# interpreter for about a second per million objects.
import gc
import sys

# Most holders named per comparison; fewest new objects a holder must hold; steps of a path.
MOST = 10
FEWEST = 10
STEPS = 6


_UNTRACKED_CONTAINERS = (dict, tuple)


def _containers(objects):
    """The tracked objects, and the containers CPython stops tracking while they hold only
    atomic values (a dict of numbers to bytes, say), found among what those refer to."""
    extra = []
    seen = set()
    for o in objects:
        yield o
        for r in gc.get_referents(o):
            if isinstance(r, _UNTRACKED_CONTAINERS) and not gc.is_tracked(r) and id(r) not in seen:
                seen.add(id(r))
                extra.append(r)
    for r in extra:
        yield r


def look():
    """The identities of every container and of what each refers to directly."""
    seen = set()
    add = seen.add
    for o in _containers(gc.get_objects()):
        add(id(o))
        for r in gc.get_referents(o):
            add(id(r))
    return seen


def _size(o):
    try:
        return sys.getsizeof(o)
    except Exception:
        return 0


def _key_in(container, x):
    """How `container` refers to `x`: a dict's key or a sequence's index, as text."""
    try:
        if isinstance(container, dict):
            for k, v in container.items():
                if v is x:
                    return str(k)
        elif isinstance(container, (list, tuple)):
            for i, v in enumerate(container):
                if v is x:
                    return '[%d]' % i
    except Exception:
        pass
    return None


def _describe(holder, own):
    """The holder, then what holds it, toward a module: e.g. ['visitors (list)', 'module app']."""
    modules = {}
    for name, m in list(sys.modules.items()):
        d = getattr(m, '__dict__', None)
        if d is not None:
            modules[id(d)] = name
    path = []
    x = holder
    own = own | {id(path)}
    for _ in range(STEPS):
        if id(x) in modules:
            path.append('module %s' % modules[id(x)])
            return path
        step = None
        for r in gc.get_referrers(x):
            if id(r) in own or type(r).__name__ in ('frame', 'cell'):
                continue
            attrs = getattr(r, '__dict__', None)
            if not isinstance(r, (dict, list, tuple, type)) and isinstance(attrs, dict):
                # An instance whose attributes live in the object itself (3.11+).
                name = _key_in(attrs, x)
                if name is not None:
                    path.append('%s.%s (%s)' % (type(r).__name__, name, type(x).__name__))
                    step = r
                    break
            key = _key_in(r, x)
            if key is None:
                continue
            if id(r) in modules:
                path.append('%s (%s)' % (key, type(x).__name__))
                path.append('module %s' % modules[id(r)])
                return path
            if isinstance(r, dict):
                # An instance's or a class's attributes: name the owner and go on from it.
                for o in gc.get_referrers(r):
                    if id(o) in own:
                        continue
                    if isinstance(o, type) and o.__dict__.get(key) is x:
                        path.append('%s (%s)' % (key, type(x).__name__))
                        path.append('class %s.%s' % (o.__module__, o.__qualname__))
                        return path
                    if getattr(o, '__dict__', None) is r:
                        path.append('%s.%s (%s)' % (type(o).__name__, key, type(x).__name__))
                        step = o
                        break
            else:
                path.append('%s (%s)' % (key, type(x).__name__))
                step = r
            if step is not None:
                break
        if step is None:
            if not path:
                path.append('(%s)' % type(x).__name__)
            return path
        x = step
    return path


def compare(first, second):
    """Holders of what was born between the looks `first` and `second` and is still alive:
    [{'path': [...], 'bytes': B, 'objects': N}], the largest first."""
    objects = gc.get_objects()
    born = second - first
    visited = set()
    own = {id(objects), id(first), id(second), id(born), id(visited)}
    held = {}
    own.add(id(held))
    for c in _containers(objects):
        ic = id(c)
        if ic in own or ic in born:
            continue
        for r in gc.get_referents(c):
            ir = id(r)
            if ir not in born or ir in visited or ir in own:
                continue
            visited.add(ir)
            n, b, todo = 0, 0, [r]
            while todo:
                x = todo.pop()
                n += 1
                b += _size(x)
                for y in gc.get_referents(x):
                    iy = id(y)
                    if iy in born and iy not in visited:
                        visited.add(iy)
                        todo.append(y)
            e = held.get(ic)
            if e is None:
                held[ic] = [c, n, b]
            else:
                e[1] += n
                e[2] += b
    del objects
    top = sorted((e for e in held.values() if e[1] >= FEWEST), key=lambda e: -e[2])[:MOST]
    own = {id(held), id(top), id(first), id(second), id(born), id(visited)}
    own.update(id(e) for e in top)
    out = []
    for c, n, b in top:
        out.append({'path': _describe(c, own | {id(out)}), 'bytes': float(b), 'objects': float(n)})
    return out
