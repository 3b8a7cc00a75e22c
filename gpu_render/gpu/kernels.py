"""Numba CUDA kernels of the GPU backend (kernels only; launching and glue live in ``backend``).

How they are shaped for the hardware:

- **One tile loop.** ``get((body, shared, warp))`` builds every kernel from one loop; the body
  (what a row does to its cell) and the shared-memory and warp switches are closure constants
  that numba folds, so each kernel compiles to its own body alone. ``PASSES`` lists each kind's passes in one place.
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
  2. block-private shared-memory histograms (``shared=True``) whenever the whole output grid
     (pixels x categories) fits in ``SMEM_SLOTS``: atomics land in on-chip shared memory and each
     block flushes its non-zero cells to device memory once;
  3. otherwise device-memory atomics resolve in L2 (a 1920x1080 uint32 grid is 8 MB, resident in
     the 50 MB L2 of an H100), spread over 2M addresses. The 32 lanes of a warp read 32
     consecutive rows, so where rows arrive sorted in space (a Z-order index, a time series of
     tracks) the lanes hit one pixel together and the runs of layer 1 (rows ``TPB`` apart) do
     not merge them; ``warp`` count kernels (``GPUBackend.warp_aggregate``,
     ``GPU_RENDER_WARP_AGG=1``) elect one lane per pixel with ``match_any_sync`` and issue one
     atomic per pixel per warp. Chosen over binning by screen tile first, which needs a sort or
     a second pass over the rows and scratch memory per chunk; off by default until a GPU has
     timed both (``benchmarks/bench_gpu.py``).
  min/max/first/last read the current cell first and only issue the atomic when the row could
  improve it, so a hot pixel quickly stops receiving atomics at all.
- **std/var without locks.** Two passes per chunk: (sum, count) per cell, then the sum of
  squared deviations from that chunk's cell mean (the ``m2`` body); the chunk's (count, sum, m2)
  is merged into the running partial with Chan's formula (``planes.merge``). Exact, mergeable,
  no per-pixel lock.
- **first/last deterministic.** ``first_row``/``last_row`` take the atomic min / max of the row
  number per cell; ``row_value`` then writes the value of the row that won. Row order decides, not
  thread timing.

Binning is datashader's: ``int(x*sx + tx)`` in float64 with the upper edge clamped, the product
and sum rounded separately (``bin_index``: no fused multiply-add), exactly as the CPU kernels
(``cpu_fallback.kernels.bin_block``), so results match the CPU backend.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run on numba's simulator (one Python thread per
CUDA thread), with a small block so tests stay quick.
"""
import functools
import math

import numpy as np
from numba import config, cuda

from gpu_render import planes as P
from gpu_render.hexgrid import cell_arithmetic

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
    _ceil = np.ceil
else:          # explicitly rounded: libNVVM would contract ``a*b + c`` into one fma
    from numba.cuda.libdevice import ceil as _ceil, dadd_rn as _add, dmul_rn as _mul


@cuda.jit(device=True)
def bin_index(v, scale, translate, n):
    """datashader's ``int(v*scale + translate)``, upper edge clamped into pixel ``n - 1``; the
    product and the sum are rounded separately (unfused), exactly as on the CPU."""
    return min(np.int64(_add(_mul(v, scale), translate)), n - 1)


# -- hexagonal binning ------------------------------------------------------------------------
HEX_CELLS = ("hex_cells", False, False)   # its ``get`` key (no shared or warp variant)
_hex_cell = cuda.jit(device=True)(cell_arithmetic(_mul, _add, _ceil))


def _hex_kernel(options):
    @cuda.jit(**options)
    def hex_cells(xs, ys, vp, lat, xlog, ylog, out):
        """``hostkernels.hexbin.hex_cells`` on the device (the same ``hexgrid.cell_arithmetic``,
        products and sums rounded apart, so every tie goes the host's way): out[i] = the cell of
        point i + 0.5, NaN outside the ranges; one thread per point, the grid striding."""
        for i in range(cuda.grid(1), xs.shape[0], cuda.gridsize(1)):
            out[i] = _hex_cell(np.float64(xs[i]), np.float64(ys[i]), vp, lat, xlog, ylog)
    return hex_cells


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


# -- one tile loop, a body per pass ---------------------------------------------------------
# Bodies: what a kernel does with a row that lands in cell k. Each kernel is made by ``get`` for
# one (body, shared) pair; both are closure constants, so numba prunes the branches of the other
# bodies and each kernel compiles to its own body alone.
BODIES = ("count", "count_valid", "sum", "m2", "min", "max", "first_row", "last_row", "row_value")
SHARED_BODIES = ("count", "count_valid", "sum")   # with block-private shared histograms
WARP_BODIES = ("count", "count_valid")            # with warp aggregation (device atomics only)
FULL_WARP = np.int32(-1)                          # match_any_sync's mask: all 32 lanes

# The passes of each kernel kind, in order: (body, (plane of out0, plane of out1 or None)). A VAR group's
# passes write its chunk temporaries, the m2 pass reading the cell means ("mean") the backend
# derives from the sum pass; the backend then merges them into the partial with Chan's formula.
PASSES = {
    P.COUNT: (("count", ("cnt", None)),),
    P.COUNT_VALID: (("count_valid", ("cnt", None)),),
    P.SUM: (("sum", ("sum", "cnt")),),
    P.VAR: (("sum", ("sum", "cnt")), ("m2", ("mean", "m2"))),
    P.MIN: (("min", ("val", None)),),
    P.MAX: (("max", ("val", None)),),
    P.FIRST: (("first_row", ("row", None)), ("row_value", ("row", "val"))),
    P.LAST: (("last_row", ("row", None)), ("row_value", ("row", "val"))),
}
KERNELS = (tuple((b, sh, False) for b in BODIES for sh in ((False, True) if b in SHARED_BODIES else (False,)))
           + tuple((b, False, True) for b in WARP_BODIES))

# ptxas register caps (numba's ``max_registers``, given to the driver's link for the device's
# compute capability) where the folded kernel got more registers than its pre-folding kernel
# (benchmarks/results/gpu_kernels_before_folding.md): ptxas fills free registers up to 32, but
# these are held to their old counts, at which ptxas reports no spills (tests/test_ptx_kernels).
MAX_REGISTERS = {(9, 0): {("m2", False, False): 29, ("first_row", False, False): 27,
                          ("last_row", False, False): 27, ("sum", True, False): 30}}


HEX_MAX_REGISTERS = 48    # five 256-thread blocks per SM (62%): what it takes uncapped; spills at 32 and 40
WARP_MAX_REGISTERS = 32   # full occupancy at TPB=256; uncapped, count_valid (warp) takes 36 on sm_80


def register_cap(key, cc):
    """The register cap of kernel ``key`` compiled for compute capability ``cc``, or None."""
    key = tuple(key)
    if key == HEX_CELLS:
        return HEX_MAX_REGISTERS
    cap = MAX_REGISTERS.get(tuple(cc) if cc else None, {}).get(key)
    return WARP_MAX_REGISTERS if cap is None and key[2] else cap


if SIMULATED:   # the simulator has no warp intrinsics: the lanes compare keys in shared memory
    @cuda.jit(device=True)
    def _match_any(lanes, k):
        """``cuda.match_any_sync(FULL_WARP, k)``: the lanes of this thread's warp whose ``k``
        equals its own, as a bit mask. Every thread of the block calls it (two syncthreads)."""
        t = cuda.threadIdx.x
        lanes[t] = k
        cuda.syncthreads()
        base = t - t % 32
        peers = 0
        for lane in range(32):
            if base + lane < TPB and lanes[base + lane] == k:
                peers |= 1 << lane
        cuda.syncthreads()      # every lane has read the keys before the next call writes them
        return np.uint32(peers)
else:
    @cuda.jit(device=True, inline="always")
    def _match_any(lanes, k):
        return np.uint32(cuda.match_any_sync(FULL_WARP, k))


@functools.lru_cache(maxsize=None)
def get(key, cc=None):
    """The kernel for ``key`` = (body, shared, warp) on a device of compute capability ``cc``
    (None: no register cap, and the simulator): every pass's kernel comes from here.

    ``kernel[blocks, TPB](xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, row0, out0, out1)``:
    ``out0``/``out1`` are the planes the body reads and writes (``PASSES``; a one-element spare of
    out0's type when it uses one), ``row0`` the row number of ``xs[0]`` (first/last).

    ``warp``: the lanes of a warp that land in the same cell are found with ``match_any_sync``
    and the lowest of them counts them all, so rows that arrive sorted in space (32 consecutive
    rows, one per lane, in the same pixel) issue one device atomic per warp instead of 32."""
    cap = None if SIMULATED else register_cap(key, cc)
    options = {} if cap is None else {"max_registers": cap}
    if tuple(key) == HEX_CELLS:
        return _hex_kernel(options)
    body, shared, warp = key
    if (body not in BODIES or (shared and body not in SHARED_BODIES)
            or (warp and (shared or body not in WARP_BODIES))):
        raise KeyError(key)
    b = BODIES.index(body)
    COUNTS = b <= 1                     # count, count_valid: run length only
    HAS_VALS = b != 0
    SUMS, M2 = b == 2, b == 3
    RUNS = b <= 3                       # per-thread run aggregation, one atomic per run
    MIN, MAX, FIRST, LAST = b == 4, b == 5, b == 6, b == 7
    SHARED = bool(shared)
    WARP = bool(warp)
    SLOTS = SMEM_SLOTS if SHARED else 1
    SUM_SLOTS = SMEM_SLOTS if (SHARED and SUMS) else 1
    LANES = TPB if (WARP and SIMULATED) else 1     # the simulator's key exchange of _match_any

    @cuda.jit(device=True, inline="always")
    def flush(out0, out1, k, run, acc):
        """One run's atomics: its length (counts), sum and length (sum), squared deviations (m2)."""
        if COUNTS:
            cuda.atomic.add(out0, k, np.uint32(run))
        elif SUMS:
            cuda.atomic.add(out0, k, acc)
            cuda.atomic.add(out1, k, np.uint32(run))
        else:
            cuda.atomic.add(out1, k, acc)

    @cuda.jit(**options)
    def kernel(xs, ys, vals, cats, ncat, p, w, h, xlog, ylog, has_cats, row0, out0, out1):
        scnt = cuda.shared.array(SLOTS, np.uint32)
        ssum = cuda.shared.array(SUM_SLOTS, np.float64)
        lanes = cuda.shared.array(LANES, np.int64)
        n = xs.shape[0]
        t = cuda.threadIdx.x
        size = w * h * ncat
        if SHARED:
            for s in range(t, size, TPB):
                scnt[s] = 0
                if SUMS:
                    ssum[s] = 0.0
            cuda.syncthreads()
        prev = -1
        run = 0
        acc = 0.0
        for tile in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
            for j in range(ITEMS):
                i = tile + j * TPB + t
                if WARP or i < n:   # warp aggregation: every lane takes part, k = -1 past the end
                    k = -1
                    if i < n:
                        k = _key(xs, ys, vals, cats, i, ncat, p, w, h, xlog, ylog, HAS_VALS, has_cats)
                    c = 1           # rows this thread counts for cell k
                    if WARP:        # the lowest lane of each cell's lanes counts them all
                        peers = _match_any(lanes, k)
                        c = cuda.popc(peers)
                        if peers & ((np.uint32(1) << np.uint32(t % 32)) - np.uint32(1)):
                            k = -1
                    if k >= 0:
                        if SHARED:
                            cuda.atomic.add(scnt, k, np.uint32(1))
                            if SUMS:
                                cuda.atomic.add(ssum, k, np.float64(vals[i]))
                        elif RUNS:
                            v = 0.0
                            if SUMS:
                                v = np.float64(vals[i])
                            if M2:
                                x = np.float64(vals[i])
                                m = out0[k]
                                d = 0.0 if x == m else x - m   # a lone +-inf has variance 0, as on the CPU
                                v = d * d
                            if k == prev:
                                if not M2:    # m2 flushes its sum alone: no run length
                                    run += c
                                acc += v
                            else:
                                if prev >= 0:
                                    flush(out0, out1, prev, run, acc)
                                prev = k
                                run = c
                                acc = v
                        elif MIN or MAX:
                            v = np.float64(vals[i])
                            cur = out0[k]
                            if MAX:
                                if math.isnan(cur) or v > cur:
                                    cuda.atomic.nanmax(out0, k, v)
                            elif math.isnan(cur) or v < cur:
                                cuda.atomic.nanmin(out0, k, v)
                        elif FIRST or LAST:
                            r = row0 + i
                            if LAST:
                                if r > out0[k]:
                                    cuda.atomic.max(out0, k, r)
                            elif r < out0[k]:
                                cuda.atomic.min(out0, k, r)
                        elif out0[k] == row0 + i:   # row_value: the row that won writes its value
                            out1[k] = vals[i]
        if RUNS and not SHARED and prev >= 0:
            flush(out0, out1, prev, run, acc)
        if SHARED:
            cuda.syncthreads()
            for s in range(t, size, TPB):
                c = scnt[s]
                if c > 0:
                    if SUMS:
                        cuda.atomic.add(out0, s, ssum[s])
                        cuda.atomic.add(out1, s, c)
                    else:
                        cuda.atomic.add(out0, s, c)

    return kernel

