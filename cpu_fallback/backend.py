"""CPU backend: numpy planes with one private part per thread, Numba kernels from ``kernels``."""
from __future__ import annotations

import os

import numpy as np

from gpu_render import planes as P
from gpu_render.backend import Backend
from gpu_render.xp import to_host

_EMPTY_CODES = np.zeros(0, dtype=np.int8)
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)
_UNUSED_16 = np.zeros((1, 1), np.uint16)
_UNUSED = {name: np.zeros((1, 1), dt) for name, dt in P.PLANE_DTYPES.items()}  # planes a kind lacks


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
        xs, ys = columns[plan.x], columns[plan.y]
        for g, planes in zip(plan.groups, partial):
            if g.kind == P.RANKED:   # array code over the rows' pixels, no kernel
                from gpu_render import ranked
                ranked.append(plan, g, planes, columns, row0, np)
                continue
            cats = columns[g.cat] if g.cat is not None else _EMPTY_CODES
            vals = columns[g.column] if g.kind != P.COUNT else _EMPTY_VALUES
            size = plan.slots(g)
            idx = np.empty((self.parts, K.BLOCK), np.int32 if size < 2**31 else np.int64)
            # 16-bit counters pay for their final pass over the grid only with enough rows
            # per cell (the break-even is about 3); file chunks of 1M rows often have fewer
            many = len(xs) >= 4 * size * self.parts
            counts16 = (np.zeros((self.parts, size), np.uint16)
                        if many and g.kind in (P.COUNT, P.COUNT_VALID) else _UNUSED_16)
            K.aggregate(g.kind, self.parts, xs, ys, vals, cats, g.ncat, vp.params, vp.width,
                        vp.height, vp.x_log, vp.y_log, row0, idx, counts16,
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
        from . import kernels as K
        return K.finite_bounds(np.ascontiguousarray(to_host(array)), self.parts)

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
