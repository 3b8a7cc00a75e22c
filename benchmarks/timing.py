"""Timing helpers shared by the benchmarks: best times of jobs run alternately."""
from __future__ import annotations

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# appended to a child's script: its peak resident memory (the kernel's high-water mark)
PEAK_LINE = ('\nprint("PEAK", int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) '
             '* 1024)\n')


def best_pair(a, b, repeat):
    """Best times of ``a`` and ``b``, run alternately after a warm-up of each, so that load
    from other users of a shared machine hits both alike (``b`` may be None)."""
    fns = [f for f in (a, b) if f is not None]
    times = [[] for _ in fns]
    for f in fns:
        f()
    for _ in range(repeat):
        for f, ts in zip(fns, times):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
    return [min(ts) for ts in times] + [None] * (2 - len(fns))


def best(fn, repeat):
    return best_pair(fn, None, repeat)[0]


def child_peak(script, args=()):
    """(peak RSS in bytes, wall seconds, stdout) of ``script`` run in a fresh Python process with
    this checkout on its path; it fails unless the script exits 0."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", script + PEAK_LINE, *args], capture_output=True,
                         text=True, env=env)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"child failed ({res.returncode}): {res.stderr[-2000:]}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("PEAK")][-1].split()
    return int(line[1]), wall, res.stdout
