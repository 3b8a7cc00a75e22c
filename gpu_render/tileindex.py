"""``TileIndex``: tiles of any zoom over data held in memory, in milliseconds, at full detail.

Scanning every point for every tile cannot be fast over 100M points, so the index is built once:

1. Points (projected to Web Mercator metres) are sorted by their Morton key at zoom-18 pixel
   resolution (``morton.KEY_LEVEL``). Every tile at zoom <= 18 is then one contiguous range of
   rows, found by binary search; a deeper tile takes its zoom-18 ancestor's range.
2. For the low zooms, where a tile would hold more than ``max_points`` rows, a *sparse level* is
   pre-aggregated per reduction: the partial planes (``planes``: count, sum, m2, min/max value)
   of every non-empty pixel at that zoom's pixel resolution, sorted by key. A zoom-z tile is then
   the <= 65,536 entries of its key range copied into a 256x256 canvas. Levels are built from the
   finest one down by merging 2x2 pixels with the rules of ``planes.merge``, so they are exact.
3. Deeper tiles are aggregated from their rows with the backend's kernels, exactly as
   ``Canvas(256, 256, tile bounds).points(...)``.

Cost (N points, measured figures are in benchmarks/results/): memory 8 B (key) + the x/y/value
columns as held (8 B each for float64) per point, plus per stored level and reduction about
12 B (count) to 28 B (var) per non-empty pixel; build time is one sort of N keys plus one linear
pass per stored level. Colour scaling is one per zoom level (``levelscale``), computed from the
stored level, or by one linear pass over the points for a deeper zoom (once, then cached).
``first``/``last`` are not indexed: sorting loses the row order they depend on.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from . import morton as M
from . import planes as P
from .axes import Viewport
from .errors import RenderError
from .levelscale import LevelScale
from .plan import AggPlan, make_plan
from .tilemath import TILE, WORLD, check_tile, tile_bounds

KEY_ZOOM = M.KEY_LEVEL - 8    # deepest zoom whose tiles are contiguous key ranges (18)
_INDEXED_KINDS = (P.COUNT, P.COUNT_VALID, P.SUM, P.VAR, P.MIN, P.MAX)


class SparseLevel:
    """A sparse pre-aggregated level: sorted pixel keys and their planes."""

    def __init__(self, keys, planes):
        self.keys, self.planes = keys, planes

    @property
    def nbytes(self):
        return self.keys.nbytes + sum(v.nbytes for v in self.planes.values())


def entry_planes(kind, n):
    """Empty planes of ``n`` sparse entries (one part) for a group of ``kind``."""
    return {k: v[0] for k, v in P.new_planes(kind, 1, n).items()}


_ONE = {name: np.zeros(1, dt) for name, dt in P.PLANE_DTYPES.items()}


def plane_args(kind, planes):
    """The (cnt, sum, m2, val) planes ``morton``'s level kernels take (a dummy for those missing)."""
    return [planes.get(n, _ONE[n]) for n in ("cnt", "sum", "m2", "val")]


class TileIndex:
    """Sorted points + pre-aggregated sparse levels; ``tile_agg(z, x, y, reduction)``.

    ``reductions``: a dict {name: Reduction} (e.g. {"count": count(), "mean:v": mean("v")});
    ``max_points``: the most rows a tile may aggregate directly; tiles of zooms where some tile
    holds more are answered from stored levels.
    """

    def __init__(self, source, x, y, reductions, *, geo=False, backend="auto", max_points=1_000_000,
                 progress=False):
        from . import backend as B
        from .sources import MercatorTable, open_table

        t0 = time.perf_counter()
        self.x, self.y, self.geo = x, y, geo
        self.reductions = dict(reductions)
        for name, red in self.reductions.items():
            if red.kind not in _INDEXED_KINDS or red.cat_column is not None:
                raise RenderError(f"reduction {name!r} ({red!r}) cannot be served from the tile index "
                                  "(it sorts the rows, and by() needs categories); use count, any, "
                                  "sum, mean, min, max, std or var.")
        self.backend = B.select(backend)
        plan = make_plan(Viewport(TILE, TILE, (-WORLD, WORLD), (-WORLD, WORLD)), "x", "y",
                         self.reductions, {})
        self.groups = plan.groups
        self.outputs = {name: (red, gi) for name, red, gi in plan.outputs}
        value_cols = plan.value_columns()
        table = open_table(source, list(dict.fromkeys([x, y, *value_cols])))
        if geo:
            table = MercatorTable(table, x, y)
        if len(table) == 0:
            raise RenderError(f"the {table.kind} has no rows.")
        xs, ys = table.numeric(x), table.numeric(y)
        keys = np.empty(len(xs), np.uint64)
        M.keys(xs, ys, WORLD, keys)
        order = np.argsort(keys)
        valid = int(np.searchsorted(keys[order], M.INVALID))
        order = order[:valid]
        self.keys = keys[order]
        del keys
        self.xs, self.ys = xs[order], ys[order]
        self.values = {c: table.numeric(c)[order] for c in value_cols}
        del order
        self.rows, self.dropped = valid, len(xs) - valid
        if valid == 0:
            raise RenderError(f"none of the {len(xs):,} rows lies inside the Web Mercator square"
                              + (" (check that x is longitude and y latitude)." if geo else "."))
        self.sort_seconds = time.perf_counter() - t0

        # Which zooms need stored levels: those where some tile holds more than max_points rows.
        distinct, longest = M.level_stats(self.keys, M.KEY_LEVEL + 1)
        self.distinct = distinct
        self.max_points = int(max_points)
        self.stored_zooms = [z for z in range(0, KEY_ZOOM + 1) if longest[z] > self.max_points]
        self.bounds = ((float(self.xs.min()), float(self.xs.max())),
                       (float(self.ys.min()), float(self.ys.max())))
        self.levels = {}     # (group index, zoom) -> SparseLevel
        for gi, g in enumerate(self.groups):
            self._build_levels(gi, g)
        self._scales = {}
        self._scale_lock = threading.Lock()
        self._agg_lock = threading.Lock()
        self.build_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ building
    def _build_levels(self, gi, g):
        if not self.stored_zooms:
            return
        top = max(self.stored_zooms)
        level = self._reduce_points(g, top + 8)
        self.levels[(gi, top)] = level
        for z in range(top - 1, min(self.stored_zooms) - 1, -1):
            level = self._coarsen(g.kind, level)
            self.levels[(gi, z)] = level

    def _reduce_points(self, g, q):
        """The sparse level at pixel level ``q`` straight from the points."""
        n = int(self.distinct[q])
        shift = np.uint64(2 * (M.KEY_LEVEL - q))
        keys = np.empty(n, np.uint64)
        planes = entry_planes(g.kind, n)
        vals = self.values[g.column] if g.column is not None else np.zeros(0)
        M.reduce_points(g.kind, self.keys, shift, vals, keys, *plane_args(g.kind, planes))
        return SparseLevel(keys, planes)

    @staticmethod
    def _coarsen(kind, level):
        n = M.count_runs(level.keys, np.uint64(2))
        keys = np.empty(n, np.uint64)
        planes = entry_planes(kind, n)
        M.reduce_entries(kind, level.keys, np.uint64(2), *plane_args(kind, level.planes), keys,
                         *plane_args(kind, planes))
        return SparseLevel(keys, planes)

    @property
    def nbytes(self) -> int:
        cols = self.keys.nbytes + self.xs.nbytes + self.ys.nbytes + sum(v.nbytes for v in self.values.values())
        return cols + sum(lv.nbytes for lv in self.levels.values())

    def describe(self) -> dict:
        return {"rows": self.rows, "dropped_rows": self.dropped, "bytes": self.nbytes,
                "stored_zooms": self.stored_zooms, "build_seconds": round(self.build_seconds, 3),
                "sort_seconds": round(self.sort_seconds, 3), "max_points_per_tile": self.max_points,
                "reductions": list(self.reductions), "backend": self.backend.name}

    # ------------------------------------------------------------------ tiles
    def _output(self, name):
        if name not in self.outputs:
            raise RenderError(f"unknown reduction {name!r}; this index has {', '.join(self.outputs)}.")
        return self.outputs[name]

    def _rows(self, z, x, y):
        """Row range of the points that may fall in tile (z, x, y)."""
        if z > KEY_ZOOM:
            d = z - KEY_ZOOM
            z, x, y = KEY_ZOOM, x >> d, y >> d
        shift = 2 * (M.KEY_LEVEL - z)
        m = int(M.interleave(x, y))
        lo = np.searchsorted(self.keys, np.uint64(m << shift))
        hi = np.searchsorted(self.keys, np.uint64(((m + 1) << shift) - 1), side="right")
        return int(lo), int(hi)

    def tile_planes(self, z, x, y, gi):
        """Collapsed planes (size 256*256 + 1) of group ``gi`` for tile (z, x, y), and the plan."""
        z, x, y = check_tile(z, x, y)
        g = self.groups[gi]
        x0, y0, x1, y1 = tile_bounds(z, x, y)
        plan = AggPlan(Viewport(TILE, TILE, (x0, x1), (y0, y1)), "x", "y", [g], [], {})
        level = self.levels.get((gi, z))
        if level is not None:
            m = int(M.interleave(x, y))
            lo = np.searchsorted(level.keys, np.uint64(m << 16))
            hi = np.searchsorted(level.keys, np.uint64(((m + 1) << 16) - 1), side="right")
            planes = entry_planes(g.kind, TILE * TILE + 1)
            M.scatter_tile(level.keys, lo, hi, *plane_args(g.kind, level.planes), *plane_args(g.kind, planes))
            return plan, [{k: v[None] for k, v in planes.items()}]
        lo, hi = self._rows(z, x, y)
        return plan, self.aggregate(plan, lo, hi)

    def aggregate(self, plan, lo=0, hi=None):
        """The partial of ``plan`` over the sorted rows ``lo:hi`` (default: all), through the
        pipeline's loop."""
        from .frames import DictTable
        from .pipeline import accumulate, job_for
        cols = {"x": self.xs[lo:hi], "y": self.ys[lo:hi]}
        for c in plan.value_columns():
            cols[c] = self.values[c][lo:hi]
        with self._agg_lock:   # parallel kernels are not re-entrant under every threading layer
            return accumulate(job_for(plan, DictTable(cols), self.backend))

    def tile_agg(self, z, x, y, name=None):
        """The aggregate of tile (z, x, y) for reduction ``name`` (default: the first), as a
        256x256 xarray (rows south-up, like ``Canvas.points`` over the tile's bounds)."""
        from .pipeline import finalize
        name = next(iter(self.outputs)) if name is None else name
        red, gi = self._output(name)
        plan, partial = self.tile_planes(z, x, y, gi)
        plan.outputs.append((None, red, 0))
        out = finalize(plan, partial, self.backend)
        if self.backend.name != "cpu":
            from .xp import to_host
            out = out.copy(data=to_host(out.data))
        return out

    # ------------------------------------------------------------------ colour scaling
    def level_values(self, z, name):
        """Values of every non-empty pixel of zoom ``z`` (for the level's colour scaling)."""
        red, gi = self._output(name)
        g = self.groups[gi]
        q = min(z, KEY_ZOOM)
        level = self.levels.get((gi, q))
        if level is None:
            level = self._reduce_points(g, q + 8)
        vals = red.finalize(level.planes, np)
        return np.asarray(vals).astype(red.dtype, copy=False)

    def scale(self, z, name, how) -> LevelScale:
        """The colour scaling of zoom ``z`` (zooms past 18 use zoom 18's), cached."""
        key = (min(z, KEY_ZOOM), name, how)
        with self._scale_lock:
            sc = self._scales.get(key)
            if sc is None:
                sc = LevelScale(how)
                sc.add_values(self.level_values(key[0], name))
                self._scales[key] = sc
        return sc

    def tile_image(self, z, x, y, name=None, cmap="fire", how="eq_hist"):
        """The tile shaded with its level's scaling (a tf Image), or None when it is empty."""
        name = next(iter(self.outputs)) if name is None else name
        agg = self.tile_agg(z, x, y, name)
        data = agg.data
        if (np.isnan(data).all() if data.dtype.kind == "f" else not data.any()):
            return None, agg
        return self.scale(z, name, how).shade(agg, cmap), agg

