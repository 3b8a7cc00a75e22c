"""Numba CPU kernels: bin a block of rows, then accumulate it into one thread's private planes.

Design:
- Rows are split into one contiguous range per part (thread); each part writes only its own row
  of the planes, so there are no racing writes, and row order within a part is kept (first/last).
- Each range is processed in blocks: ``bin_block`` computes the flat output index of every row
  (a branch-free loop that LLVM vectorises), then a short scatter loop accumulates. Rows that
  are dropped (NaN, out of range, NaN value, unknown category) go to a trash slot at the end of
  every plane instead of branching, which ``finalize`` discards.
- Binning reproduces datashader exactly: ``int(x * sx + tx)`` in float64, points on the upper
  edge clamped into the last pixel.
- One compiled kernel serves every kind (the kind is dispatched per block, not per row), all
  planes are always passed in a fixed order, and ``cache=True`` means a second process loads
  machine code from numba's cache instead of recompiling.
"""
import math

import numba as nb
import numpy as np

from gpu_render.planes import COUNT, COUNT_VALID, LAST, MAX, MIN, SUM, VAR

_JIT = dict(nogil=True, cache=True)
BLOCK = 16384



@nb.njit(inline="always")
def _bin_rows(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, idx):
    sx, tx, sy, ty, x0, x1, y0, y1 = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
    trash = w * h * ncat
    has_vals = vals.shape[0] > 0
    has_cats = cats.shape[0] > 0
    for j in range(xs.shape[0]):
        x = np.float64(xs[j])
        y = np.float64(ys[j])
        ok = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
        fx = math.log10(x) if xlog else x
        fy = math.log10(y) if ylog else y
        fx = fx * sx + tx if ok else 0.0
        fy = fy * sy + ty if ok else 0.0
        k = min(np.int64(fy), h - 1) * w + min(np.int64(fx), w - 1)
        if has_cats:
            c = np.int64(cats[j])
            ok = ok and c >= 0 and c < ncat
            k = k * ncat + c
        if has_vals:
            ok = ok and not math.isnan(vals[j])
        idx[j] = k if ok else trash


@nb.njit(**_JIT)
def bin_block(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, idx):
    """idx[j] = (pixel * ncat + category) of row j, or the trash slot ``w*h*ncat``.

    Linear axes get a copy of the loop with the logarithms compiled out, which LLVM vectorises
    (a log10 call in the loop, even an untaken one, keeps it scalar: about 25% slower)."""
    if xlog or ylog:
        _bin_rows(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, idx)
    else:
        _bin_rows(xs, ys, vals, cats, ncat, p, w, h, False, False, idx)


@nb.njit(**_JIT)
def _count16(idx, m, c16, cnt):
    """Counts in 16-bit private counters: half the cache footprint of uint32 (an 800x600 grid
    then fits a 1 MB L2). A counter that wraps to 0 hands 65536 on to the 32-bit plane."""
    for j in range(m):
        k = idx[j]
        c = c16[k] + 1
        if c == 65536:
            cnt[k] += 65536
            c = 0
        c16[k] = c


@nb.njit(**_JIT)
def _scatter(kind, idx, m, vals, row0, cnt, sm, m2, row, val):
    """Accumulate ``m`` binned rows of one block into one part's planes."""
    if kind == COUNT or kind == COUNT_VALID:
        for j in range(m):
            cnt[idx[j]] += 1
    elif kind == SUM:
        for j in range(m):
            k = idx[j]
            sm[k] += vals[j]
            cnt[k] += 1
    elif kind == VAR:
        for j in range(m):
            k = idx[j]
            v = vals[j]
            c = cnt[k]
            if c > 0:  # datashader's running update, from the sum and count before v
                s = sm[k]
                m2[k] += (v - s / c) * (v - (s + v) / (c + 1))
            sm[k] += v
            cnt[k] = c + 1
    elif kind == MIN or kind == MAX:
        is_max = kind == MAX
        for j in range(m):
            k = idx[j]
            v = vals[j]
            cur = val[k]
            if math.isnan(cur) or (v > cur if is_max else v < cur):
                val[k] = v
    else:
        is_last = kind == LAST
        for j in range(m):
            k = idx[j]
            r = row0 + j
            if (r > row[k]) if is_last else (r < row[k]):
                row[k] = r
                val[k] = vals[j]


@nb.njit(parallel=True, **_JIT)
def aggregate(kind, parts, xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, row0, idx, c16,
              cnt, sm, m2, row, val):
    """Aggregate all rows into planes of shape (parts, w*h*ncat + 1); unused planes may be (1, 1).

    ``idx`` (parts, BLOCK) is each thread's bin buffer (int32 when the planes allow: half the
    traffic). ``c16``, for the count kinds only, may be (parts, plane size) of 16-bit counters,
    zero, added into ``cnt`` at the end; (1, 1) otherwise: counts then go straight to ``cnt``."""
    n = xs.shape[0]
    no_vals = vals[:0]
    no_cats = cats[:0]
    small = (kind == COUNT or kind == COUNT_VALID) and c16.shape[1] == cnt.shape[1]
    for t in nb.prange(parts):
        ix = idx[t]
        c = cnt[t % cnt.shape[0]]
        lo = t * n // parts
        hi = (t + 1) * n // parts
        for b0 in range(lo, hi, BLOCK):
            b1 = min(b0 + BLOCK, hi)
            bv = vals[b0:b1] if vals.shape[0] else no_vals
            bc = cats[b0:b1] if cats.shape[0] else no_cats
            bin_block(xs[b0:b1], ys[b0:b1], bv, bc, ncat, p, w, h, xlog, ylog, ix)
            if small:
                _count16(ix, b1 - b0, c16[t], c)
            else:
                _scatter(kind, ix, b1 - b0, bv, row0 + b0, c, sm[t % sm.shape[0]],
                         m2[t % m2.shape[0]], row[t % row.shape[0]], val[t % val.shape[0]])
        if small:
            s = c16[t]
            for k in range(c.shape[0]):
                c[k] += s[k]
