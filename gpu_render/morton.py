"""Numba kernels of the tile index: Morton (Z-order) keys, run statistics, run reduction.

A point's key interleaves the bits of its pixel column (x, from the west) and row (y, from the
north) at ``KEY_LEVEL`` (2^26 pixels per side, the pixels of zoom-18 tiles). Sorted by key, the
points of any tile at zoom <= 18 form one contiguous run, and so do the pixels of any tile in a
pre-aggregated level; dropping the low ``2*k`` bits of a key gives its key ``k`` levels coarser.
"""
import math

import numba as nb
import numpy as np

from .planes import COUNT, COUNT_VALID, MAX, MIN, SUM, VAR

KEY_LEVEL = 26
INVALID = np.uint64(0xFFFFFFFFFFFFFFFF)   # key of rows outside the Web Mercator square or NaN

_JIT = dict(nogil=True, cache=True)


@nb.njit(inline="always")
def _spread(v):
    v = np.uint64(v) & np.uint64(0xFFFFFFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


@nb.njit(inline="always")
def _compact(v):
    v = v & np.uint64(0x5555555555555555)
    v = (v | (v >> np.uint64(1))) & np.uint64(0x3333333333333333)
    v = (v | (v >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)
    return v


@nb.njit(**_JIT)
def interleave(x, y):
    """Morton code of column ``x`` and row ``y`` (x in the even bits)."""
    return _spread(x) | (_spread(y) << np.uint64(1))


@nb.njit(**_JIT)
def deinterleave(key):
    return np.int64(_compact(key)), np.int64(_compact(key >> np.uint64(1)))


@nb.njit(parallel=True, **_JIT)
def box_keys(xs, ys, x0, x1, y0, y1, out):
    """``out[i]`` = key of point i at KEY_LEVEL, binned like a Viewport over [x0, x1] x [y0, y1]
    (``int(v * s + t)``, the upper edge clamped into the last pixel; rows from the top);
    INVALID if outside or NaN."""
    n = 1 << KEY_LEVEL
    sx = n / (x1 - x0) if x1 > x0 else 0.0
    sy = n / (y1 - y0) if y1 > y0 else 0.0
    tx, ty = -x0 * sx, -y0 * sy
    for i in nb.prange(xs.shape[0]):
        x = np.float64(xs[i])
        y = np.float64(ys[i])
        if x0 <= x <= x1 and y0 <= y <= y1:
            col = min(np.int64(x * sx + tx), n - 1)
            row = n - 1 - min(np.int64(y * sy + ty), n - 1)
            out[i] = interleave(col, row)
        else:
            out[i] = INVALID


def keys(xs, ys, world, out):
    """``box_keys`` over the Web Mercator square [-world, world]²."""
    box_keys(xs, ys, -world, world, -world, world, out)


@nb.njit(**_JIT)
def level_stats(keys, levels):
    """For each level q in 0..levels-1: (distinct values, longest run) of the sorted
    ``keys >> 2*(KEY_LEVEL - q)``, i.e. the pixels of a sparse level q and, read as tiles of zoom
    q, the most points in one tile. One pass for all levels."""
    distinct = np.zeros(levels, np.int64)
    longest = np.zeros(levels, np.int64)
    start = np.zeros(levels, np.int64)
    n = keys.shape[0]
    if n == 0:
        return distinct, longest
    distinct[:] = 1
    for i in range(1, n + 1):
        d = keys[i] ^ keys[i - 1] if i < n else INVALID
        if d == 0:
            continue
        bits = 0
        while d > np.uint64(0):
            d >>= np.uint64(1)
            bits += 1
        # keys i-1 and i differ at level q when bits > 2*(KEY_LEVEL - q)
        for q in range(max(0, KEY_LEVEL - (bits - 1) // 2), levels):
            if i < n:
                distinct[q] += 1
            run = i - start[q]
            if run > longest[q]:
                longest[q] = run
            start[q] = i
    return distinct, longest


@nb.njit(**_JIT)
def count_runs(keys, shift):
    n = keys.shape[0]
    if n == 0:
        return 0
    runs = 1
    for i in range(1, n):
        if (keys[i] >> shift) != (keys[i - 1] >> shift):
            runs += 1
    return runs


@nb.njit(**_JIT)
def reduce_points(kind, keys, shift, vals, okeys, cnt, sm, m2, val):
    """Aggregate sorted points into one entry per distinct ``key >> shift`` (a sparse level).
    Rows with a NaN value add nothing (as the kernels drop them); VAR uses the running update."""
    j = -1
    prev = INVALID
    has_vals = vals.shape[0] > 0
    is_max = kind == MAX
    for i in range(keys.shape[0]):
        k = keys[i] >> shift
        if j < 0 or k != prev:
            j += 1
            okeys[j] = k
            prev = k
        if kind == COUNT:
            cnt[j] += 1
            continue
        v = np.float64(vals[i]) if has_vals else 0.0
        if math.isnan(v):
            continue
        if kind == COUNT_VALID:
            cnt[j] += 1
        elif kind == SUM:
            sm[j] += v
            cnt[j] += 1
        elif kind == VAR:
            c = cnt[j]
            if c > 0:
                s = sm[j]
                m2[j] += (v - s / c) * (v - (s + v) / (c + 1))
            sm[j] += v
            cnt[j] = c + 1
        else:
            cur = val[j]
            if math.isnan(cur) or (v > cur if is_max else v < cur):
                val[j] = v
    return j + 1


@nb.njit(**_JIT)
def reduce_entries(kind, keys, shift, cnt, sm, m2, val, okeys, ocnt, osm, om2, oval):
    """Merge the entries of a sparse level into the next coarser one (``key >> shift``),
    with the merge rules of ``gpu_render.planes`` (Chan et al. for VAR)."""
    j = -1
    prev = INVALID
    for i in range(keys.shape[0]):
        k = keys[i] >> shift
        if j < 0 or k != prev:
            j += 1
            okeys[j] = k
            prev = k
        if kind == COUNT or kind == COUNT_VALID:
            ocnt[j] += cnt[i]
        elif kind == SUM:
            osm[j] += sm[i]
            ocnt[j] += cnt[i]
        elif kind == VAR:
            na = np.float64(ocnt[j])
            nb_ = np.float64(cnt[i])
            if na > 0 and nb_ > 0:
                delta = sm[i] / nb_ - osm[j] / na
                om2[j] += m2[i] + delta * delta * na * nb_ / (na + nb_)
            else:
                om2[j] += m2[i]
            osm[j] += sm[i]
            ocnt[j] += cnt[i]
        else:
            a = oval[j]
            b = val[i]
            if math.isnan(a) or (not math.isnan(b) and ((b > a) if kind == MAX else (b < a))):
                oval[j] = b
    return j + 1


@nb.njit(**_JIT)
def scatter_tile(keys, lo, hi, cnt, sm, m2, val, ocnt, osm, om2, oval):
    """Copy the entries ``lo:hi`` of a level (all inside one tile, so at most one per pixel) to
    their pixels in a 256x256 tile, rows south-up as canvases are. Planes of size 1 are unused."""
    for i in range(lo, hi):
        col, row = deinterleave(keys[i] & np.uint64(0xFFFF))
        p = (255 - row) * 256 + col
        if ocnt.shape[0] > 1:
            ocnt[p] = cnt[i]
        if osm.shape[0] > 1:
            osm[p] = sm[i]
        if om2.shape[0] > 1:
            om2[p] = m2[i]
        if oval.shape[0] > 1:
            oval[p] = val[i]
