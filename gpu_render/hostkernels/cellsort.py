"""Counting sort of host rows by grid cell (``spatialframe``): cell ids on all cores, then one
stable pass that places every row after the rows of the cells before its own; ``radix_order``
repeats it digit by digit to sort 64-bit keys (the spatial index's Z-order keys)."""
import math

import numba as nb
import numpy as np


@nb.njit(inline="always")
def cell_of(v, lo, scale, g):
    """The cell (0..g-1) of coordinate ``v``: monotonic in ``v``, so a box's cells hold every
    row inside the box."""
    return min(max(np.int64((v - lo) * scale), 0), g - 1)


@nb.njit(nogil=True, cache=True)
def box_cells(a, b, lo, scale, g):
    """(first, last) cell of the interval [a, b], by ``cell_of`` itself."""
    return cell_of(a, lo, scale, g), cell_of(b, lo, scale, g)


@nb.njit(parallel=True, nogil=True, cache=True)
def cell_ids(xs, ys, x0, sx, y0, sy, g, out):
    """out[i] = row-major cell of row i on a g x g grid; ``g*g`` for a NaN or infinite x or y
    (rows no view holds)."""
    for i in nb.prange(xs.shape[0]):
        x = np.float64(xs[i])
        y = np.float64(ys[i])
        if math.isfinite(x) and math.isfinite(y):
            out[i] = cell_of(y, y0, sy, g) * g + cell_of(x, x0, sx, g)
        else:
            out[i] = g * g


@nb.njit(parallel=True, nogil=True, cache=True)
def destinations(ids, ncells, parts, dest):
    """dest[i] = sorted position of row i, rows ordered by cell and by row number within a cell;
    returns ``starts`` (ncells + 1): the first position of each cell. Each of ``parts`` threads
    counts, then places, its own contiguous rows (after those of the threads before it)."""
    n = ids.shape[0]
    counts = np.zeros((parts, ncells), np.int64)
    for t in nb.prange(parts):
        for i in range(t * n // parts, (t + 1) * n // parts):
            counts[t, ids[i]] += 1
    starts = np.zeros(ncells + 1, np.int64)
    for c in range(ncells):
        pos = starts[c]
        for t in range(parts):   # counts become each thread's first position in the cell
            k = counts[t, c]
            counts[t, c] = pos
            pos += k
        starts[c + 1] = pos
    for t in nb.prange(parts):
        pos = counts[t]
        for i in range(t * n // parts, (t + 1) * n // parts):
            c = ids[i]
            dest[i] = pos[c]
            pos[c] += 1
    return starts


@nb.njit(parallel=True, nogil=True, cache=True)
def scatter(col, dest, out):
    """out[dest[i]] = col[i] on all cores (reads in order, writes to the sorted positions)."""
    for i in nb.prange(col.shape[0]):
        out[dest[i]] = col[i]


@nb.njit(parallel=True, nogil=True, cache=True)
def digits(keys, shift, mask, out):
    """out[i] = (keys[i] >> shift) & mask, one radix digit of every key, on all cores."""
    for i in nb.prange(keys.shape[0]):
        out[i] = np.int32((keys[i] >> shift) & mask)


RADIX_BITS = 11   # bits per pass: 2,048 counters per thread stay in L1/L2


def radix_order(keys, bits, parts=None):
    """The stable argsort (int64) of uint64 ``keys`` by their low ``bits`` bits (keys equal in
    those stay in row order; higher bits are ignored): a least-significant-digit radix sort,
    each pass a parallel counting sort (``destinations``, ``scatter``). Temporaries: 36 B a key."""
    n = keys.shape[0]
    parts = parts or max(1, nb.get_num_threads())
    order = np.arange(n, dtype=np.int64)
    cur, spare_keys, spare_order = keys, np.empty_like(keys), np.empty_like(order)
    ids, dest = np.empty(n, np.int32), np.empty(n, np.int64)
    for shift in range(0, bits, RADIX_BITS):
        width = min(RADIX_BITS, bits - shift)
        digits(cur, np.uint64(shift), np.uint64((1 << width) - 1), ids)
        destinations(ids, 1 << width, parts, dest)
        scatter(order, dest, spare_order)
        order, spare_order = spare_order, order
        if shift + width < bits:        # the keys are needed in the new order for the next digit
            scatter(cur, dest, spare_keys)
            cur, spare_keys = spare_keys, (np.empty_like(keys) if cur is keys else cur)
    return order
