"""``SpatialFrame``: an in-memory table sorted once by grid cell, so that a view reads only the
rows of the cells it overlaps.

Built for many views of the same rows (HoloViews' ``rasterize`` re-aggregating on every zoom and
pan): the rows are counting-sorted into a ``cells`` x ``cells`` grid over their finite x/y range
(row-major), and ``chunks(where=box)`` yields, per row of cells the box touches, the contiguous
rows from its first to its last overlapped cell; nearby ranges are joined. Any other column is
sorted the same way the first time it is asked for, and kept. Rows with a NaN or infinite x or y,
which no view holds, are read only by a pass without a box.

Cost: one pass for the cell ids, one (parallel, stable) counting-sort pass, one parallel
scatter per column read; memory: each row's sorted position (4 B a row) plus a sorted copy of each column read. The order
within a cell is the source's, but not across cells: ``in_source_order()`` hands reductions that
pick rows by their order (first, last, where, the ``_n`` ones) the unsorted table.
"""
from __future__ import annotations

import threading

import numba
import numpy as np

from .hostkernels import cellsort as K
from .table import Table, _finite_bounds

CELLS = 256          # cells per side of the grid
JOIN_GAP = 1 << 14   # rows between two ranges below which they are read as one


class SpatialFrame(Table):
    """``base`` (an in-memory host table) with its rows sorted by the cell of (``x``, ``y``)."""

    sorted_in_space = True

    def __init__(self, base: Table, x: str, y: str, cells: int = CELLS):
        self.base, self.x, self.y, self.g = base, x, y, cells
        self.names, self.kind = base.names, base.kind
        xs, ys = base.numeric(x), base.numeric(y)
        self._lo, self._scale = [], []
        for col in (xs, ys):
            lo, hi = _finite_bounds(col)
            self._lo.append(float(lo) if hi >= lo else 0.0)
            self._scale.append(cells / (hi - lo) if hi > lo else 0.0)
        ids = np.empty(len(xs), np.int32)
        K.cell_ids(xs, ys, self._lo[0], self._scale[0], self._lo[1], self._scale[1], cells, ids)
        self.dest = np.empty(len(xs), np.int32 if len(xs) < 2**31 else np.int64)
        self.starts = K.destinations(ids, cells * cells + 1, max(1, numba.get_num_threads()), self.dest)
        self._sorted = {x: self._gather(xs), y: self._gather(ys)}
        self._codes = {}
        self._lock = threading.Lock()

    def __len__(self):
        return len(self.base)

    @property
    def nbytes(self) -> int:
        arrays = [self.dest, self.starts, *self._sorted.values(), *(c for c, _ in self._codes.values())]
        return sum(a.nbytes for a in arrays)

    def _gather(self, col):
        out = np.empty(len(col), col.dtype)
        K.scatter(np.ascontiguousarray(col), self.dest, out)
        return out

    def in_source_order(self) -> Table:
        return self.base

    def backend(self, name):
        return self.base.backend(name)

    def dtype(self, name):
        return self.base.dtype(name)

    def labels(self, name):
        return self.base.labels(name)

    def ranges(self, axes, backend=None):
        return self.base.ranges(axes, backend)

    def numeric(self, name):
        with self._lock:
            if name not in self._sorted:
                self._sorted[name] = self._gather(self.base.numeric(name))
            return self._sorted[name]

    def categorical_of(self, key):
        with self._lock:
            if key not in self._codes:
                codes, labels = self.base.categorical_of(key)
                self._codes[key] = (self._gather(np.asarray(codes)), labels)
            return self._codes[key]

    def categorical(self, name):
        return self.categorical_of(name)

    def _cells(self, axis, box):
        """First and last cell of ``box`` (lo, hi) on ``axis`` (0: x, 1: y); the whole axis
        when the box does not bound it."""
        if box is None:
            return 0, self.g - 1
        lo, scale = self._lo[axis], self._scale[axis]
        return K.box_cells(float(box[0]), float(box[1]), lo, scale, self.g)

    def row_ranges(self, where=None):
        """[(start, stop)] of the sorted rows a box ({column: (lo, hi)}) may hold: per row of
        cells, its first to its last overlapped cell; ranges closer than ``JOIN_GAP`` joined."""
        if not where or (self.x not in where and self.y not in where):
            return [(0, len(self))]
        c0, c1 = self._cells(0, where.get(self.x))
        r0, r1 = self._cells(1, where.get(self.y))
        rows = np.arange(r0, r1 + 1) * self.g
        lo, hi = self.starts[rows + c0], self.starts[rows + c1 + 1]
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        if not lo.size:
            return []
        breaks = np.flatnonzero(lo[1:] - hi[:-1] > JOIN_GAP) + 1
        return list(zip(lo[np.r_[0, breaks]].tolist(), hi[np.r_[breaks - 1, hi.size - 1]].tolist()))

    def rows_within(self, where=None):
        return sum(b - a for a, b in self.row_ranges(where))

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        """The rows of ``row_ranges(where)``, one chunk per range; row numbers are sorted
        positions (nothing order-dependent reads them: see ``in_source_order``)."""
        cols = {c: self.numeric(c) for c in numeric}
        cols.update({c: self.categorical_of(c)[0] for c in categorical})
        for a, b in self.row_ranges(where):
            yield a, {c: v[a:b] for c, v in cols.items()}
