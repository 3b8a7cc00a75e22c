"""CPU backend: numpy planes with one private part per thread, Numba kernels from ``kernels``."""
from __future__ import annotations

import os

import numpy as np

from gpu_render import planes as P
from gpu_render.backend import Backend
from gpu_render.xp import to_host

_UNUSED_16 = np.zeros((1, 1), np.uint16)
_UNUSED = {name: np.zeros((1, 1), dt) for name, dt in P.PLANE_DTYPES.items()}  # planes a kind lacks


def _readonly(a):
    """A read-only view: numba types read-only and writable arrays apart, so every input column
    goes in read-only (pandas' and Arrow's are; fresh numpy arrays are not) and one compiled
    variant serves both."""
    v = np.ascontiguousarray(a).view()
    v.flags.writeable = False
    return v


def kernel_columns(xs, ys, vals, cats):
    """The input columns as ``kernels.aggregate`` takes them, normalised so that one compiled
    variant per coordinate dtype serves every kind: x and y share one dtype (float64 when they
    differ), a missing value column is an empty one of that dtype, category codes are int8 (as
    pandas' for up to 127 categories) or int32 (anything else, copied), a missing one empty int8."""
    if xs.dtype != ys.dtype:
        xs, ys = xs.astype(np.float64), ys.astype(np.float64)
    vals = xs[:0] if vals is None else vals
    if cats is None:
        cats = _NO_CODES
    elif cats.dtype not in (np.int8, np.int32):
        cats = cats.astype(np.int32)
    return tuple(_readonly(a) for a in (xs, ys, vals, cats))


_NO_CODES = np.zeros(0, np.int8)


def _available_memory() -> int:
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class CPUBackend(Backend):
    """Runs every kernel kind on all cores; threads never share a partial grid."""

    name = "cpu"
    xp = np
    # row groups of 128K rows or more are aggregated as they come (joining them is a copy);
    # smaller ones are joined, as a call per tiny chunk costs more than the copy
    merge_rows = 1 << 18

    def __init__(self):
        import numba
        self._numba = numba
        self.parts = numba.get_num_threads()

    def new_partial(self, plan):
        return [P.new_planes(g.kind, self.parts, plan.slots(g), np, g.n) for g in plan.groups]

    def aggregate(self, plan, partial, columns, row0=0):
        from . import kernels as K

        vp = plan.viewport
        for g, planes in zip(plan.groups, partial):
            if g.kind == P.RANKED:   # array code over the rows' pixels, no kernel
                from gpu_render import ranked
                ranked.append(plan, g, planes, columns, row0, np)
                continue
            xs, ys, vals, cats = kernel_columns(
                columns[plan.x], columns[plan.y], columns[g.column] if g.kind != P.COUNT else None,
                columns[g.cat] if g.cat is not None else None)
            size = plan.slots(g)
            idx = np.empty((self.parts, K.BLOCK), np.int32 if size < 2**31 else np.int64)
            # 16-bit counters pay for their final pass over the grid only with enough rows
            # per cell (the break-even is about 3); file chunks of 1M rows often have fewer
            many = len(xs) >= 4 * size * self.parts
            counts16 = (np.zeros((self.parts, size), np.uint16)
                        if many and g.kind in (P.COUNT, P.COUNT_VALID) else _UNUSED_16)
            K.aggregate(g.kind, self.parts, xs, ys, vals, cats, int(g.ncat), vp.params,
                        int(vp.width), int(vp.height), bool(vp.x_log), bool(vp.y_log), int(row0),
                        idx, counts16,
                        *(planes.get(name, _UNUSED[name]) for name in P.PLANE_ORDER))

    def warm_up(self):
        """Initialise numba's CPU target (its typing and lowering registries), about 0.3 s of
        Python that the first kernel call of a process otherwise pays, whether the kernel comes
        from the on-disk cache or not."""
        try:
            from numba.core.registry import cpu_target
            cpu_target.target_context.refresh()
        except (ImportError, AttributeError):  # pragma: no cover - other numba internals
            pass

    def share_cores(self, reader_bound: bool, parallel_reader: bool = False):
        """Threads for the kernels while a reader thread streams a file (affects the calling
        thread): one while the reader is the bottleneck; half the cores while it decodes on a
        pool of threads (Parquet, CSV), which needs more CPU than aggregating; all otherwise.
        Measured on 2 cores, 100M float32 Parquet rows to PNG: 0.94 -> 0.81 CPU-s, with
        1M-row row groups not joined (``merge_rows``) 0.73 CPU-s."""
        if reader_bound:
            n = 1
        else:
            n = max(1, self.parts // 2) if parallel_reader else self.parts
        self._numba.set_num_threads(n)

    def bounds(self, array):
        from gpu_render.hostkernels.bounds import finite_bounds
        return finite_bounds(np.ascontiguousarray(to_host(array)), self.parts)

    def free_bytes(self):
        return _available_memory()

    # peak_bytes: None (the default): the CPU's planes live in host memory, whose peak profiles
    # report as the process's peak RSS

    def describe(self):
        return {"usable": True, "threads": self.parts, "numba": self._numba.__version__,
                "threading_layer": self._numba.config.THREADING_LAYER,
                "available_memory_bytes": _available_memory()}


def probe(explicit=False):
    """The CPU backend is always usable where numba imports."""
    try:
        return CPUBackend(), "numba CPU kernels"
    except ImportError as exc:  # pragma: no cover - numba is a hard dependency
        return None, f"numba is not importable ({exc})"
