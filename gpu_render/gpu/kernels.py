"""Numba CUDA kernels of the GPU backend (kernels only; launching and glue live in ``backend``).

How they are shaped for the hardware:

- **Coalesced, block-uniform loops.** A block walks tiles of ``TPB * ITEMS`` consecutive rows,
  the grid striding over tiles (a persistent grid of a few blocks per SM). Thread ``t`` reads rows
  ``tile + t + j*TPB`` for ``j < ITEMS``: every load of a warp is one contiguous 128-byte line per
  column, and each thread has ``ITEMS`` independent loads in flight. The loop bounds are the same
  for every thread of a block, so ``syncthreads`` is always legal.
- **No trash-slot atomics on the GPU.** Rows that are dropped (NaN or out-of-range coordinate,
  NaN value, unknown category) are skipped instead of accumulated into the trash slot, which on a
  GPU would be one hot address that every off-screen point hammers.
- **Contention.** Three layers keep many points on few pixels from serialising:
  1. per-thread run aggregation: a thread keeps (pixel, count, sum) of its current run in
     registers and issues one atomic per run, not per point. Data with spatial locality in row
     order, and the worst case (everything in one pixel), issue ``ITEMS``-to-thousands of times
     fewer atomics;
  2. block-private shared-memory histograms (``*_shared``) whenever the whole output grid
     (pixels x categories) fits in ``SMEM_SLOTS``: atomics land in on-chip shared memory and each
     block flushes its non-zero cells to device memory once;
  3. otherwise device-memory atomics resolve in L2 (a 1920x1080 uint32 grid is 8 MB, resident in
     the 50 MB L2 of an H100), spread over 2M addresses.
  min/max/first/last read the current cell first and only issue the atomic when the row could
  improve it, so a hot pixel quickly stops receiving atomics at all.
- **std/var without locks.** Two passes per chunk: (sum, count) per cell, then the sum of
  squared deviations from that chunk's cell mean (``m2_global``); the chunk's (count, sum, m2)
  is merged into the running partial with Chan's formula (``planes.merge``). Exact, mergeable,
  no per-pixel lock.
- **first/last deterministic.** ``rowpick`` takes the atomic min (first) / max (last) of the row
  number per cell; ``rowvalue`` then writes the value of the row that won. Row order decides, not
  thread timing.

Binning is datashader's: ``int(x*sx + tx)`` in float64 with the upper edge clamped, the product
and sum rounded separately (``bin_index``: no fused multiply-add), exactly as the CPU kernels
(``cpu_fallback.kernels.bin_block``), so results match the CPU backend.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run on numba's simulator (one Python thread per
CUDA thread), with a small block so tests stay quick.
"""
import math

import numpy as np
from numba import config, cuda

SIMULATED = bool(config.ENABLE_CUDASIM)
TPB = 32 if SIMULATED else 256          # threads per block
ITEMS = 4 if SIMULATED else 8           # rows per thread per tile
TILE = TPB * ITEMS
SMEM_SLOTS = 4096                       # cells a block-private shared histogram can hold (48 KB for sum)


if SIMULATED:   # the simulator runs Python floats: a product and a sum are rounded apart
    def _mul(a, b):
        return a * b

    def _add(a, b):
        return a + b
else:          # explicitly rounded: libNVVM would contract ``a*b + c`` into one fma
    from numba.cuda.libdevice import dadd_rn as _add, dmul_rn as _mul


@cuda.jit(device=True)
def bin_index(v, scale, translate, n):
    """datashader's ``int(v*scale + translate)``, upper edge clamped into pixel ``n - 1``; the
    product and the sum are rounded separately (unfused), exactly as on the CPU."""
    return min(np.int64(_add(_mul(v, scale), translate)), n - 1)


@cuda.jit(device=True)
def _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, has_vals, has_cats):
    """Output cell (pixel*ncat + category) of row ``i``, or -1 when the row is dropped."""
    x = np.float64(xs[i])
    y = np.float64(ys[i])
    if not ((p[4] <= x) and (x <= p[5]) and (p[6] <= y) and (y <= p[7])):
        return -1
    if xlog:
        x = math.log10(x)
    if ylog:
        y = math.log10(y)
    k = bin_index(y, p[2], p[3], h) * w + bin_index(x, p[0], p[1], w)
    if has_cats:
        c = np.int64(cats[i])
        if c < 0 or c >= ncat:
            return -1
        k = k * ncat + c
    if has_vals and math.isnan(vals[i]):
        return -1
    return k


@cuda.jit
def count_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_vals, has_cats, cnt):
    """cnt[k] += rows in cell k; one device atomic per run of equal cells per thread."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    prev = -1
    run = 0
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, has_vals, has_cats)
                if k >= 0:
                    if k == prev:
                        run += 1
                    else:
                        if run > 0:
                            cuda.atomic.add(cnt, prev, np.uint32(run))
                        prev = k
                        run = 1
    if run > 0:
        cuda.atomic.add(cnt, prev, np.uint32(run))


@cuda.jit
def count_shared(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_vals, has_cats, cnt):
    """count_global for grids of at most SMEM_SLOTS cells: a block-private shared histogram."""
    sh = cuda.shared.array(SMEM_SLOTS, np.uint32)
    n = xs.shape[0]
    t = cuda.threadIdx.x
    size = w * h * ncat
    for s in range(t, size, TPB):
        sh[s] = 0
    cuda.syncthreads()
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, has_vals, has_cats)
                if k >= 0:
                    cuda.atomic.add(sh, k, np.uint32(1))
    cuda.syncthreads()
    for s in range(t, size, TPB):
        c = sh[s]
        if c > 0:
            cuda.atomic.add(cnt, s, c)


@cuda.jit
def sum_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, sm, cnt):
    """sm[k] += values, cnt[k] += rows of non-NaN values; one atomic pair per run per thread."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    prev = -1
    run = 0
    acc = 0.0
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0:
                    v = np.float64(vals[i])
                    if k == prev:
                        run += 1
                        acc += v
                    else:
                        if run > 0:
                            cuda.atomic.add(sm, prev, acc)
                            cuda.atomic.add(cnt, prev, np.uint32(run))
                        prev = k
                        run = 1
                        acc = v
    if run > 0:
        cuda.atomic.add(sm, prev, acc)
        cuda.atomic.add(cnt, prev, np.uint32(run))


@cuda.jit
def sum_shared(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, sm, cnt):
    """sum_global for grids of at most SMEM_SLOTS cells: block-private shared sums and counts."""
    ssum = cuda.shared.array(SMEM_SLOTS, np.float64)
    scnt = cuda.shared.array(SMEM_SLOTS, np.uint32)
    n = xs.shape[0]
    t = cuda.threadIdx.x
    size = w * h * ncat
    for s in range(t, size, TPB):
        ssum[s] = 0.0
        scnt[s] = 0
    cuda.syncthreads()
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0:
                    cuda.atomic.add(ssum, k, np.float64(vals[i]))
                    cuda.atomic.add(scnt, k, np.uint32(1))
    cuda.syncthreads()
    for s in range(t, size, TPB):
        c = scnt[s]
        if c > 0:
            cuda.atomic.add(sm, s, ssum[s])
            cuda.atomic.add(cnt, s, c)


@cuda.jit
def m2_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, mean, m2):
    """m2[k] += (v - mean[k])**2: the second, lock-free pass of std/var."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    prev = -1
    acc = 0.0
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0:
                    v = np.float64(vals[i])
                    m = mean[k]
                    d = 0.0 if v == m else v - m    # a lone +-inf value has variance 0, as on the CPU
                    if k == prev:
                        acc += d * d
                    else:
                        if prev >= 0:
                            cuda.atomic.add(m2, prev, acc)
                        prev = k
                        acc = d * d
    if prev >= 0:
        cuda.atomic.add(m2, prev, acc)


@cuda.jit
def minmax_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, is_max, val):
    """val[k] = min/max of the values (NaN = empty); the atomic is issued only if it can win."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0:
                    v = np.float64(vals[i])
                    cur = val[k]
                    if is_max:
                        if math.isnan(cur) or v > cur:
                            cuda.atomic.nanmax(val, k, v)
                    elif math.isnan(cur) or v < cur:
                        cuda.atomic.nanmin(val, k, v)


@cuda.jit
def rowpick_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, row0, is_last, row):
    """row[k] = smallest (first) / largest (last) row number in cell k, by atomic min/max."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0:
                    r = row0 + i
                    if is_last:
                        if r > row[k]:
                            cuda.atomic.max(row, k, r)
                    elif r < row[k]:
                        cuda.atomic.min(row, k, r)


@cuda.jit
def rowvalue_global(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, row0, row, val):
    """val[k] = value of the row that ``rowpick_global`` chose for cell k (one writer per cell)."""
    n = xs.shape[0]
    t = cuda.threadIdx.x
    for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
        for j in range(ITEMS):
            i = tile + j * TPB + t
            if i < n:
                k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, True, has_cats)
                if k >= 0 and row[k] == row0 + i:
                    val[k] = vals[i]


def get(key):
    """The kernel named ``key`` (how the backend names what it launches)."""
    return globals()[key]


KERNELS = ("count_global", "count_shared", "sum_global", "sum_shared", "m2_global",
           "minmax_global", "rowpick_global", "rowvalue_global")   # every kernel ``get`` names
