# What `--retainers` costs a Python process: the agent's two looks at its collector and one
# comparison, timed on a heap of N/3 small dicts with a list each, after 20,000 new dicts
# were kept between the looks; peak RSS before and after.
#   python3 bench/python_retainers_cost.py 1000000
import gc
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'crates', 'leakhound-probe', 'agent', 'python'))
import leakhound_holders  # noqa: E402


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
heap = [{'i': i, 'v': [i]} for i in range(n // 3)]
leak = []
before = peak_mib()
print('tracked objects: %d, peak RSS %.0f MiB' % (len(gc.get_objects()), before))
t = time.perf_counter()
first = leakhound_holders.look()
look1 = time.perf_counter() - t
leak.extend({'x': i} for i in range(20000))
t = time.perf_counter()
second = leakhound_holders.look()
look2 = time.perf_counter() - t
t = time.perf_counter()
found = leakhound_holders.compare(first, second)
compare = time.perf_counter() - t
print('looks %.2f s and %.2f s, comparison %.2f s, peak RSS +%.0f MiB' %
      (look1, look2, compare, peak_mib() - before))
print('top holder: %s, %d objects' % (' <- '.join(found[0]['path']), found[0]['objects']))
