"""Timing helpers shared by the benchmarks: best times of jobs run alternately."""
from __future__ import annotations

import time


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
