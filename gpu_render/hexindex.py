"""``HexIndex``: hexagon tiles of any zoom over a ``TileIndex`` (the tile server's ``glyph=hex``),
equal to those ``tiles(..., hex_size=)`` writes: the same world-anchored lattice and margin
(``hextiles``), and the same colour scaling (the zoom level's occupied hexagons, each once).

A tile is ``hextiles.hex_block`` of that one tile over the rows of the tiles around it (the
tile and its ``hextiles.ring`` of neighbours: a few contiguous ranges of the Morton-sorted rows),
except at the zooms the index answers from stored levels (some tile holds more than
``max_points`` rows). There, and for every zoom's colour scale, a *hexagon level* per (zoom,
size, reduction group) is built on first use: the world-lattice hexagon of every row
(``hextiles.world_cells``), one argsort of those numbers, and the runs reduced into planes by
``morton.reduce_points``; a tile then looks its pixels' hexagons (``hextiles.tile_cells``) up in
the level's sorted keys.

Cost (N rows): building a level is one parallel pass over the rows plus an argsort of N
uint64 keys, with up to 40 B per row of temporaries; the first request of a zoom and size waits for
it (measured on a 2-core VM: 5M rows 0.2-0.4 s a level, the 40,000 rows of the tests a few ms;
a fresh process's first hexagon tile 1.5 s, mostly loading compiled kernels). A level holds 8 B
(key) + 4 B (count) to 20 B (var) per occupied hexagon; levels are kept in an LRU cache bounded
by ``cache_bytes`` (a level larger than it is rebuilt when needed again). Colour scales are
cached apart (one per zoom, reduction, how and size). A direct tile aggregates the rows of at
most (2 ring + 1)^2 tiles, copied out of the index. Zooms past 18 are scaled with zoom 18's
hexagons, as points are.
"""
from __future__ import annotations

import threading

import numpy as np

from . import morton as M
from .hextiles import hex_block, ring, tile_cells, world_cells
from .levelscale import LevelScale
from .lrucache import LRUCache
from .tileindex import KEY_ZOOM, SparseLevel, entry_planes, plane_args
from .tilemath import TILE, check_tile, tile_bounds


class HexIndex:
    """Hexagon tiles, colour scales and levels over ``index`` (a ``TileIndex``)."""

    def __init__(self, index, cache_bytes=256 * 2**20):
        self.index = index
        self.levels = LRUCache(cache_bytes, size=lambda lv: lv.nbytes)
        self.scales = LRUCache(1024, size=lambda _: 1)
        self._build_lock = threading.Lock()

    # ------------------------------------------------------------------ hexagon levels
    def level(self, z, size, gi):
        """The sparse hexagon level of group ``gi`` at zoom ``z`` (<= 18): sorted world-lattice
        cell numbers and their planes."""
        key = (z, float(size), gi)
        hit, lv = self.levels.get(key)
        if hit:
            return lv
        with self._build_lock:      # one build at a time; a second request for it waits for it
            hit, lv = self.levels.get(key)
            if not hit:
                lv = self._build(z, size, gi)
                self.levels.put(key, lv)
        return lv

    def _build(self, z, size, gi):
        idx = self.index
        g = idx.groups[gi]
        with idx._agg_lock:        # parallel kernels are not re-entrant under every threading layer
            cells = world_cells(idx.xs, idx.ys, z, size)
        keys = cells.astype(np.uint64)     # the cell numbers (+ 0.5, floored); every row is inside
        del cells
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        vals = idx.values[g.column][order] if g.column is not None else np.zeros(0)
        del order
        n = M.count_runs(keys, np.uint64(0))
        out = np.empty(n, np.uint64)
        planes = entry_planes(g.kind, n)
        M.reduce_points(g.kind, keys, np.uint64(0), vals, out, *plane_args(g.kind, planes))
        return SparseLevel(out, planes)

    # ------------------------------------------------------------------ tiles
    def _neighbourhood(self, z, x, y, size, columns):
        """Columns x, y and ``columns`` of the rows of tile (z, x, y) and of the tiles up to
        ``ring(size)`` away."""
        idx, k, n = self.index, ring(size), 1 << z
        spans = sorted({idx._rows(z, tx, ty) for tx in range(max(x - k, 0), min(x + k, n - 1) + 1)
                        for ty in range(max(y - k, 0), min(y + k, n - 1) + 1)})
        merged = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            elif hi > lo:
                merged.append([lo, hi])
        cols = {"x": idx.xs, "y": idx.ys, **{c: idx.values[c] for c in columns}}
        return {c: np.concatenate([v[lo:hi] for lo, hi in merged]) if merged else v[:0]
                for c, v in cols.items()}

    def tile_agg(self, z, x, y, name, size):
        """The hexagon tile (z, x, y) of reduction ``name``: each pixel holds its hexagon's value,
        a 256x256 xarray (rows south-up, like ``TileIndex.tile_agg``)."""
        import xarray as xr

        from .axes import Viewport
        idx = self.index
        z, x, y = check_tile(z, x, y)
        red, gi = idx._output(name)
        if z not in idx.stored_zooms:
            rows = self._neighbourhood(z, x, y, size, red.columns())
            with idx._agg_lock:
                return hex_block(rows, "x", "y", red, z, (x, x, y, y), size, idx.backend.name)[0]
        lv = self.level(z, size, gi)
        cells = tile_cells(z, x, y, size).astype(np.uint64).ravel()
        pos = np.minimum(np.searchsorted(lv.keys, cells), max(len(lv.keys) - 1, 0))
        hit = lv.keys[pos] == cells if len(lv.keys) else np.zeros(cells.shape, bool)
        empty = np.asarray(red.finalize(entry_planes(idx.groups[gi].kind, 1), np))
        data = np.repeat(empty.astype(red.dtype, copy=False), cells.size)
        data[hit] = np.asarray(red.finalize({k: v[pos[hit]] for k, v in lv.planes.items()}, np))
        x0, y0, x1, y1 = tile_bounds(z, x, y)
        vp = Viewport(TILE, TILE, (x0, x1), (y0, y1))
        return xr.DataArray(data.reshape(TILE, TILE), dims=("y", "x"),
                            coords={"y": vp.y_coords, "x": vp.x_coords})

    # ------------------------------------------------------------------ colour scaling
    def scale(self, z, name, how, size) -> LevelScale:
        """The colour scaling of zoom ``z``'s hexagons (zooms past 18 use zoom 18's), cached."""
        q = min(z, KEY_ZOOM)
        key = (q, name, how, float(size))
        hit, sc = self.scales.get(key)
        if not hit:
            red, gi = self.index._output(name)
            lv = self.level(q, size, gi)
            sc = LevelScale(how)
            sc.add_values(np.asarray(red.finalize(lv.planes, np)).astype(red.dtype, copy=False))
            self.scales.put(key, sc)
        return sc

    def tile_image(self, z, x, y, name, cmap, how, size):
        """(the tile shaded with its level's scaling, or None when it is empty; its aggregate)."""
        agg = self.tile_agg(z, x, y, name, size)
        data = agg.data
        if (np.isnan(data).all() if data.dtype.kind == "f" else not data.any()):
            return None, agg
        return self.scale(z, name, how, size).shade(agg, cmap), agg
