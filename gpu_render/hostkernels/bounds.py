"""Finite bounds of a host column, on all cores (table ranges, and both backends' ``bounds``)."""
import math

import numba as nb
import numpy as np


@nb.njit(parallel=True, nogil=True, cache=True)
def finite_bounds(a, parts):
    """(min, max) of the finite values of ``a``; (inf, -inf) when there are none."""
    n = a.shape[0]
    lo = np.full(parts, np.inf)
    hi = np.full(parts, -np.inf)
    for t in nb.prange(parts):
        mn = np.inf
        mx = -np.inf
        for i in range(t * n // parts, (t + 1) * n // parts):
            v = a[i]
            if math.isfinite(v):
                mn = min(mn, v)
                mx = max(mx, v)
        lo[t] = mn
        hi[t] = mx
    return lo.min(), hi.max()
