"""``tiles()``: the pyramid writer, a Web Mercator XYZ pyramid of PNG tiles (tile math:
``tilemath``).

``tiles()`` aggregates each zoom level in passes over the data, not once per tile: the level is
one canvas of ``256 * 2^z`` pixels per side, restricted to the tiles that the data's bounding
box touches; when that is more than a memory budget's worth of tiles, only the tiles that hold
rows are aggregated, in blocks of adjacent ones, each block from its own rows (so deep zooms over
sparse data cost what their occupied tiles cost), then cut into 256 px tiles. Empty tiles are
skipped.
Hexagon tiles (``hex_size``): see ``hextiles``.
All tiles of a level share one colour scaling (``levelscale.LevelScale``): tile aggregates are
kept (in memory up to the budget, beyond it in a temporary folder) until the level's range and
histogram are known, then shaded and written atomically.
"""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
import math
import os
import shutil

import numpy as np

from . import memory as M
from .axes import Viewport
from .errors import RenderError
from .files import atomic_path, make_folder, temp_folder, untrack
from .levelscale import LevelScale
from .tilemath import (MAX_ZOOM, TILE, TILE_PNG_LEVEL, WORLD, check_tile, check_zoom,  # noqa: F401
                       lnglat_to_tile, tile_bounds, tile_range)   # (also imported from here)
from .xp import to_host

# --------------------------------------------------------------------------- the pyramid writer

@dataclasses.dataclass
class LevelReport:
    zoom: int
    tiles_written: int
    passes: int          # passes over the data for this level (blocks of tiles)
    seconds: float


class _TileStore:
    """Tile aggregates of one level: in memory up to ``budget`` bytes, then spilled to disk."""

    def __init__(self, budget):
        self.budget, self.used = budget, 0
        self.mem, self.disk = {}, {}
        self.tmp = None

    def put(self, key, agg):
        nbytes = agg.data.nbytes
        if self.used + nbytes <= self.budget:
            self.mem[key] = agg
            self.used += nbytes
            return
        if self.tmp is None:
            self.tmp = temp_folder("gpu-render-tiles-")
        path = os.path.join(self.tmp, f"{key[0]}_{key[1]}.npy")
        np.save(path, np.asarray(agg.data))
        # plain arrays: ``agg.coords`` would keep the whole DataArray (its data too) alive
        coords = {k: (v.dims, np.asarray(v.values)) for k, v in agg.coords.items()}
        self.disk[key] = (path, coords, agg.dims, agg.name)

    def keys(self):
        return list(self.mem) + list(self.disk)

    def get(self, key):
        import xarray as xr
        if key in self.mem:
            return self.mem[key]
        path, coords, dims, name = self.disk[key]
        return xr.DataArray(np.load(path), coords=coords, dims=dims, name=name)

    def close(self):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            untrack(self.tmp)


def _runs(tx, ty, max_tiles):
    """Blocks ``(x0, x1, y0, y1)`` covering the occupied tiles (sorted by row, then column):
    runs of adjacent tiles of a row, at most ``max_tiles`` long; runs spanning the same columns
    in consecutive rows are joined while they fit (a dense level needs few passes)."""
    blocks = []
    start = 0
    for i in range(1, len(tx) + 1):
        if i == len(tx) or ty[i] != ty[start] or tx[i] != tx[i - 1] + 1 or i - start == max_tiles:
            blocks.append([int(tx[start]), int(tx[i - 1]), int(ty[start]), int(ty[start])])
            start = i
    joined = []
    for b in blocks:
        last = joined[-1] if joined else None
        if (last is not None and last[0] == b[0] and last[1] == b[1] and last[3] + 1 == b[2]
                and (b[1] - b[0] + 1) * (b[3] - last[2] + 1) <= max_tiles):
            last[3] = b[3]
        else:
            joined.append(b)
    return [tuple(b) for b in joined]


def _tile_ids(cols, job, z, rng):
    """(row-major id of the tile each finite row falls in, relative to ``rng``; the finite mask)."""
    x0, x1, y0, y1 = rng
    size = 2 * WORLD / (1 << z)
    xs, ys = cols[job.plan.x], cols[job.plan.y]
    keep = np.isfinite(xs) & np.isfinite(ys)
    if not keep.all():
        xs, ys = xs[keep], ys[keep]
    tx = np.clip((xs + WORLD) // size, x0, x1).astype(np.int64)
    ty = np.clip((WORLD - ys) // size, y0, y1).astype(np.int64)
    return (ty - y0) * (x1 - x0 + 1) + (tx - x0), keep


def _grow(tiles, rng, k):
    """Row-major tile ids (relative to ``rng``) and those of the tiles up to ``k`` away, in ``rng``."""
    x0, x1, y0, y1 = rng
    width = x1 - x0 + 1
    d = np.arange(-k, k + 1)
    gx = np.clip(tiles[:, None] % width + d, 0, x1 - x0)           # (tiles, 2k + 1)
    gy = np.clip(tiles[:, None] // width + d, 0, y1 - y0)
    return np.unique(gy[:, :, None] * width + gx[:, None, :])


def _level_blocks(job, z, rng, max_tiles, rows=True, ring=0):
    """The blocks of tiles of level ``z`` to aggregate, and ``rows_of(block index)`` giving each
    block its own rows (None: each block is a pass over all of the table's chunks; always so
    with ``rows=False``, for blocks that read every row anyway). ``ring`` (with ``rows=False``):
    the tiles up to that many away from an occupied one are aggregated too (hexagons reach
    beyond their points' tiles).

    A level whose tile rectangle fits one block is one pass. Otherwise only tiles that hold rows
    are aggregated, in blocks of adjacent ones, so the cost follows the occupied tiles, not the
    4^z of the level. An in-memory table (one chunk) has its rows sorted by block once (stable,
    so first/last keep row order); a streaming table is read once to find the occupied tiles,
    then once per block."""
    x0, x1, y0, y1 = rng
    if (x1 - x0 + 1) * (y1 - y0 + 1) <= max_tiles:
        return [rng], None
    width = x1 - x0 + 1
    if job.table.streaming or not rows:
        tiles = np.zeros(0, np.int64)
        for _, chunk in job.table.chunks(job.numeric, job.categorical, job.chunk_rows):
            tiles = np.union1d(tiles, np.unique(_tile_ids(chunk, job, z, rng)[0]))
        if ring:
            tiles = _grow(tiles, rng, ring)
        return _runs(tiles % width + x0, tiles // width + y0, max_tiles), None
    (_, cols), = job.table.chunks(job.numeric, job.categorical)
    ids, keep = _tile_ids(cols, job, z, rng)
    if not keep.all():
        cols = {k: v[keep] for k, v in cols.items()}
    tiles, tile_of_row = np.unique(ids, return_inverse=True)
    del ids
    blocks = _runs(tiles % width + x0, tiles // width + y0, max_tiles)
    # the block of each occupied tile (tiles and blocks are both in row-major order)
    starts = np.array([(b[2] - y0) * width + (b[0] - x0) for b in blocks], np.int64)
    block_of_tile = np.searchsorted(starts, tiles, side="right") - 1
    bid = block_of_tile[tile_of_row.ravel()]
    del tile_of_row
    order = np.argsort(bid, kind="stable")
    ends = np.cumsum(np.bincount(bid, minlength=len(blocks)))
    del bid

    def rows_of(i):
        sel = order[(ends[i - 1] if i else 0):ends[i]]
        return {k: v[sel] for k, v in cols.items()}
    return blocks, rows_of


def _spatial_job(job):
    """``job`` over its in-memory rows sorted into grid cells (``spatialframe.SpatialFrame``,
    once), so that each block of hexagon tiles, which needs the rows within a margin of it,
    reads only the cells under it instead of every row; first/last still read the rows in
    their order (``Table.in_source_order``)."""
    if job.table.remote:
        return job
    from .spatialframe import SpatialFrame
    return dataclasses.replace(job, table=SpatialFrame(job.table, job.plan.x, job.plan.y))


def _is_empty(data):
    if data.dtype.kind == "f":
        return bool(np.isnan(data).all())
    return not bool(data.any())


def _default_budget():
    import psutil
    return int(min(1 << 30, psutil.virtual_memory().available // 4))


def tiles(source, x, y, agg=None, *, out_dir, min_zoom=0, max_zoom=8, geo=False, cmap="fire",
          how="eq_hist", backend="auto", memory_limit=None, progress=True, memory_budget=None,
          hex_size=None):
    """Write a Web Mercator XYZ pyramid of 256 px PNG tiles to ``out_dir/{z}/{x}/{y}.png``.

    ``x``/``y`` are Web Mercator metres, or longitude/latitude degrees with ``geo=True``.
    ``agg`` is a single reduction (default ``count()``). Each level is aggregated in passes over
    blocks of tiles that fit ``memory_limit`` (bytes or a size such as '256MB'; default: the
    smaller of 1 GiB and a quarter of the available memory; ``memory_budget`` is its deprecated
    old name); a file is streamed in chunks within it too. All tiles of a level share one colour scaling. Empty tiles are not
    written. Also writes ``out_dir/metadata.json`` (levels, tiles, colour-bar values per level).
    ``hex_size``: hexagons that many pixels wide (``Canvas.hexbin``) on one lattice anchored to
    the world at each zoom, so they join across tiles (``hextiles``); each block then reads all
    of the rows, the tiles around the data's are written too (hexagons reach into them), and a
    level's colour scaling is that of its occupied hexagons' values, each counted once (as
    ``tf.shade`` of a hexagonal aggregate), not of its pixels (those values are held in memory
    until the level is written: at most 8 B per occupied hexagon).
    Returns a list of ``LevelReport``.
    """
    import time

    from . import pipeline, transfer_functions as tf
    from .canvas import Canvas
    from .colormaps import resolve_cmap
    from .plan import make_plan, required_bytes
    from .reductions import Reduction, coerce, count
    from .sources import MercatorTable

    min_zoom, max_zoom = check_zoom(min_zoom), check_zoom(max_zoom)
    if min_zoom > max_zoom:
        raise RenderError(f"min_zoom ({min_zoom}) must not exceed max_zoom ({max_zoom}).")
    agg = count() if agg is None else coerce(agg)
    if not isinstance(agg, Reduction) or agg.cat_column is not None:
        raise RenderError(f"tiles need one reduction such as count() or mean('v'), got {agg!r}.")
    if how not in ("eq_hist", "log", "cbrt", "linear"):
        raise RenderError(f"unknown how={how!r}; use eq_hist, log, cbrt or linear.")
    resolve_cmap(cmap)
    out_dir = os.fspath(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        raise RenderError(f"the folder {parent} for the tiles does not exist.")
    memory_limit = M.deprecated_alias(memory_limit, memory_budget, "memory_budget", "memory_limit")
    budget = _default_budget() if memory_limit is None else M.parse_size(memory_limit, minimum=1)
    make_folder(out_dir, "tile folder", create=False)

    wrap = (lambda t: MercatorTable(t, x, y)) if geo else None
    world = (-WORLD, WORLD)
    # float32=False: narrowing is judged at one canvas's pixel size, and a pyramid's deep zooms
    # have pixels far smaller than float32's rounding of metres
    job = pipeline.prepare(Canvas(TILE, TILE, world, world), source, x, y, agg, backend=backend,
                           wrap_table=wrap, float32=False, memory_limit=None if memory_limit is None
                           else max(budget, M.MIN_BUDGET))
    be = job.backend
    if hex_size is not None:
        from .hexgrid import check_size
        check_size(hex_size, TILE, TILE)
    found, _ = job.table.ranges({x: False, y: False}, be)   # statistics or one pass for files
    bounds = [found[x], found[y]]
    if not all(math.isfinite(v) for b in bounds for v in b):
        raise RenderError(f"columns {x!r}/{y!r} have no finite values; nothing to draw.")
    per_pixel = required_bytes(job.plan, be.parts) / (TILE * TILE) + 8 * 2  # partials + finalized
    max_tiles = max(1, int(budget // (per_pixel * TILE * TILE)))

    make_folder(out_dir, "tile folder")
    levels = {z: tile_range(z, *bounds) for z in range(min_zoom, max_zoom + 1)}
    k = 0
    if hex_size is not None:   # hexagons at the data's edge reach into the tiles around it
        from .hextiles import hex_block, ring
        k = ring(hex_size)
        levels = {z: None if r is None else (max(r[0] - k, 0), min(r[1] + k, (1 << z) - 1),
                                             max(r[2] - k, 0), min(r[3] + k, (1 << z) - 1))
                  for z, r in levels.items()}
    from tqdm.auto import tqdm
    bar = tqdm(total=0, unit="tile", desc="tiles", disable=not progress)
    reports, meta = [], {"min_zoom": min_zoom, "max_zoom": max_zoom, "how": how, "cmap": cmap
                         if isinstance(cmap, str) else None, "reduction": repr(agg), "levels": {},
                         "glyph": "points" if hex_size is None else "hex", "hex_size": hex_size}
    hex_job = job
    try:
        for z, rng in levels.items():
            t0 = time.perf_counter()
            if rng is None:
                continue
            store = _TileStore(budget)
            scale = LevelScale(how)
            passes = 0
            blocks, parts = _level_blocks(job, z, rng, max_tiles, rows=hex_size is None, ring=k)
            if hex_size is not None and len(blocks) > 1 and hex_job is job and not job.table.streaming:
                hex_job = _spatial_job(job)
            hexagons = []     # the values of the level's occupied hexagons, block by block
            bar.total += sum((b[1] - b[0] + 1) * (b[3] - b[2] + 1) for b in blocks)
            bar.refresh()
            for bi, (bx0, bx1, by0, by1) in enumerate(blocks):
                xa, _, _, ya1 = tile_bounds(z, bx0, by0)
                _, ya, xa1, _ = tile_bounds(z, bx1, by1)
                w, h = (bx1 - bx0 + 1) * TILE, (by1 - by0 + 1) * TILE
                if hex_size is not None:
                    block, owned = hex_block(hex_job.table, job.plan.x, job.plan.y, agg, z,
                                             (bx0, bx1, by0, by1), hex_size, job.requested)
                    hexagons.append(owned)
                    scale.add_range(owned)
                else:
                    vp = Viewport(w, h, (xa, xa1), (ya, ya1))
                    plan = make_plan(vp, job.plan.x, job.plan.y, {None: agg}, job.plan.categories)
                    bjob = dataclasses.replace(job, plan=plan)
                    chunks = None if parts is None else [(0, parts(bi))]
                    block = pipeline.finalize(plan, pipeline.accumulate(bjob, chunks=chunks), be)
                passes += 1
                for ty in range(by0, by1 + 1):
                    r0 = (by1 - ty) * TILE   # row 0 of the block is its south edge
                    for tx in range(bx0, bx1 + 1):
                        c0 = (tx - bx0) * TILE
                        t = block[r0:r0 + TILE, c0:c0 + TILE]
                        t = t.copy(data=np.array(to_host(t.data)))
                        if not _is_empty(t.data):
                            store.put((tx, ty), t)
                            if hex_size is None:
                                scale.add_range(t.data)
                bar.update((bx1 - bx0 + 1) * (by1 - by0 + 1))
                del block
            if scale.needs_hist:
                stored = (store.get(key).data for key in store.keys())
                for values in hexagons if hex_size is not None else stored:
                    scale.add_hist(values)
            del hexagons
            def write(key, z=z, store=store, scale=scale):
                tx, ty = key
                folder = os.path.join(out_dir, str(z), str(tx))
                os.makedirs(folder, exist_ok=True)
                tf.save_png(scale.shade(store.get(key), cmap), os.path.join(folder, f"{ty}.png"),
                            compress_level=TILE_PNG_LEVEL)

            # shading and zlib release the GIL for most of their time: encode tiles on all cores
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                written = sum(1 for _ in pool.map(write, list(store.keys())))
            store.close()
            meta["levels"][str(z)] = {"tiles": written, "tile_range": list(rng), "span": list(scale.span)
                                      if not scale.empty else None, "ticks": scale.ticks()}
            reports.append(LevelReport(z, written, passes, time.perf_counter() - t0))
            bar.set_postfix(zoom=z, written=written)
    finally:
        bar.close()
    _write_json(os.path.join(out_dir, "metadata.json"), meta)
    return reports


def _write_json(path, data):
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
