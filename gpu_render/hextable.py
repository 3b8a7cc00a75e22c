"""Hexagonal binning as a coordinate transform: ``HexTable`` gives, for each row of its base
table, the cell of ``hexgrid.HexLattice`` it falls in, as two more columns, so that the ordinary
pipeline aggregates them onto the lattice's rectangular viewport (``Canvas.hexbin``)."""
from __future__ import annotations

import numpy as np

from .axes import Viewport
from .hexgrid import HexLattice
from .table import Table, TableWrapper
from .xp import get_xp


class HexBinning:
    """Adds the cell coordinates (column + 0.5, row + 0.5; float32, NaN outside the canvas'
    ranges) of the points ``x``/``y`` of a chunk as columns ``cx``/``cy``, dropping ``x``/``y``
    unless in ``keep``; picklable, so Dask workers apply it to their pieces."""

    def __init__(self, x, y, cx, cy, viewport: Viewport, lattice: HexLattice, keep=()):
        self.x, self.y, self.cx, self.cy = x, y, cx, cy
        self.viewport, self.lattice, self.keep = viewport, lattice, frozenset(keep)

    def keeping(self, keep) -> HexBinning:
        return HexBinning(self.x, self.y, self.cx, self.cy, self.viewport, self.lattice, keep)

    def project(self, cols: dict) -> tuple:
        xs, ys = cols[self.x], cols[self.y]
        xp = get_xp(xs)
        if xp is np:
            from .hostkernels.hexbin import hex_cells
            vp = self.viewport
            col = np.empty(len(xs), np.float32)
            row = np.empty(len(xs), np.float32)
            hex_cells(np.ascontiguousarray(xs), np.ascontiguousarray(ys), vp.params,
                      self.lattice.params, vp.x_log, vp.y_log, col, row)
        else:
            col, row = (a.astype(xp.float32) for a in cells_xp(xp, xs, ys, self.viewport, self.lattice))
        for c in {self.x, self.y} - self.keep:
            cols.pop(c, None)
        cols[self.cx], cols[self.cy] = col, row
        return cols, 0


def cells_xp(xp, xs, ys, viewport: Viewport, lattice: HexLattice):
    """(column + 0.5, row + 0.5) float64 of each point, array code (device arrays)."""
    return lattice.cells(xp, *viewport.to_pixels(xp, xs, ys))


def _fresh(names, stem):
    name = stem
    while name in names:
        name += "_"
    return name


class HexTable(TableWrapper):
    """``base`` with the lattice cells of its ``x``/``y`` columns at ``viewport`` (data units)
    as columns ``cx``/``cy`` (names no column of ``base`` has); ``where`` boxes in cell
    coordinates are mapped back to the base's data units."""

    def __init__(self, base: Table, x: str, y: str, viewport: Viewport, lattice: HexLattice):
        self.x, self.y, self.viewport, self.lattice = x, y, viewport, lattice
        self.cx = _fresh(base.names, "_hex_col")
        self.cy = _fresh(base.names, "_hex_row")
        super().__init__(base, HexBinning(x, y, self.cx, self.cy, viewport, lattice))
        self.names = [*base.names, self.cx, self.cy]

    def dtype(self, name):
        return np.dtype(np.float32) if name in (self.cx, self.cy) else self.base.dtype(name)

    def _base_columns(self, numeric):
        """The base's columns for ``numeric``: ``x`` and ``y`` for the cells."""
        return list(dict.fromkeys([self.x, self.y, *(c for c in numeric if c not in (self.cx, self.cy))]))

    def numeric(self, name):
        if name not in (self.cx, self.cy):
            return self.base.numeric(name)
        cols = {c: self.base.numeric(c) for c in (self.x, self.y)}
        return self.transform.project(cols)[0][name]

    def chunks(self, numeric, categorical, chunk_rows=None, merge_rows=None, where=None):
        binning = self.transform.keeping(numeric)
        for row0, cols in self.base.chunks(self._base_columns(numeric), categorical, chunk_rows,
                                           merge_rows, self._base_box(where)):
            yield row0, binning.project(dict(cols))[0]

    def run_remote(self, job, aggregate_piece, transform=None):
        from dataclasses import replace
        from .table import Chain
        piece = replace(job, numeric=self._base_columns(job.numeric))
        return self.base.run_remote(piece, aggregate_piece,
                                    transform=Chain(self.transform.keeping(job.numeric), transform))

    def _base_box(self, where):
        """A box of cell coordinates as the data box of the pixels its hexagons may cover
        (within the canvas' ranges): rows outside it fall in no cell of the box."""
        if not where or (self.cx not in where and self.cy not in where):
            return where
        lat, vp = self.lattice, self.viewport
        out = {k: v for k, v in where.items() if k not in (self.cx, self.cy)}
        for axis, col, key, rng, pitch, first, off in (
                ("x", self.x, self.cx, vp.x_range, lat.size, lat.col0, lat.origin[0]),
                ("y", self.y, self.cy, vp.y_range, lat.v, lat.row0, lat.origin[1])):
            lo, hi = where.get(key, (-np.inf, np.inf))
            px = (np.clip(np.array([lo, hi], np.float64), -1, None) + first) * pitch + off
            px += (-lat.size, lat.size)    # a hexagon reaches beyond its centre's spacing
            n = vp.width if axis == "x" else vp.height
            dlo, dhi = vp.to_data(np.clip(px, 0, n), axis)
            out[col] = (rng[0] if px[0] <= 0 else max(float(dlo), rng[0]),
                        rng[1] if px[1] >= n else min(float(dhi), rng[1]))
        return out
