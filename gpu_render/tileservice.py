"""``TileService``: what the tile server answers (tiles, colour scales, values, metadata, one view
as PNG), over a ``TileIndex`` (points) and a ``HexIndex`` over it (``glyph=hex&size=N``: hexagons
N px wide, as ``tiles --glyph hex`` draws them), and two caches (PNG bytes, tile aggregates),
keyed by glyph and size too. No HTTP in here: the HTTP side (``httpserver``) parses requests and
calls it.

With ``follow=True`` and a directory as the source, new or changed Parquet files are noticed
(polled) and the index is rebuilt in the background; files that cannot be read yet are skipped
and retried, and ``meta()``'s ``follow_status`` names them.
"""
from __future__ import annotations

import collections
import glob
import os
import threading
import time
from io import BytesIO

import numpy as np

from . import png
from .errors import RenderError
from .hexgrid import DEFAULT_SIZE, MIN_SIZE, check_size
from .levelscale import HOWS
from .lrucache import LRUCache
from .tilemath import MAX_ZOOM, TILE, TILE_PNG_LEVEL, WORLD, check_tile

CMAPS = ("fire", "bmy", "bgy", "kbc", "kgy", "blues", "gray", "rainbow", "coolwarm", "bkr")
GLYPHS = ("points", "hex")
MAX_SIDE = 4096


class BadRequest(Exception):
    """A request the server answers with a 4xx status and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _png_bytes(img) -> bytes:
    buf = BytesIO()
    png.encode(img.data, buf, TILE_PNG_LEVEL)
    return buf.getvalue()


class TileService:
    """Everything the HTTP handler calls: tiles, scales, values, metadata. No HTTP in here."""

    def __init__(self, source, x, y, reductions, *, geo=False, backend="auto", follow=False,
                 poll_seconds=2.0, cache_bytes=128 * 2**20, max_points=1_000_000, log=print,
                 glyph="points", hex_size=None):
        self.source, self.x, self.y, self.geo, self.backend = source, x, y, geo, backend
        self.glyph, self.hex_size = _glyph(glyph, hex_size)   # what a request leaves out
        self.reductions = dict(reductions)
        self.max_points = max_points
        self.log = log
        self.version = 0
        self.index = None
        self.png_cache = LRUCache(cache_bytes, size=lambda v: len(v) if v else 64)
        self.agg_cache = LRUCache(256, size=lambda v: 1)
        self._files = None
        self.follow_status = {"skipped": [], "error": None}   # shown by the page (--follow)
        self._rebuild_lock = threading.Lock()
        self.requests = collections.deque(maxlen=10_000)   # recent request paths, for tests/logs
        self.follow = bool(follow)
        if self.follow and not (isinstance(source, (str, os.PathLike)) and os.path.isdir(source)):
            raise RenderError("follow needs a directory of Parquet files as the source.")
        self._build()
        self._stop = threading.Event()
        if self.follow:
            self.poll_seconds = poll_seconds
            threading.Thread(target=self._watch, daemon=True, name="gpu-render-follow").start()

    # ------------------------------------------------------------------ data
    def _snapshot(self):
        return sorted((p, os.path.getsize(p), os.path.getmtime(p))
                      for p in glob.glob(os.path.join(os.fspath(self.source), "*.parquet")))

    def _build(self):
        from .hexindex import HexIndex
        from .tileindex import TileIndex
        src = self.source
        if self.follow:
            files = self._snapshot()
            if not files:
                raise RenderError(f"no .parquet files in {self.source} yet.")
            src, skipped = _read_parquet_files([p for p, _, _ in files],
                                               [self.x, self.y, *_value_columns(self.reductions)])
            self._files = files
            self.follow_status = {"skipped": skipped, "error": None}
            for name, why in skipped:
                self.log(f"follow: skipped {name} for now ({why})")
            if src is None:
                raise RenderError(f"none of the {len(files)} .parquet file(s) in {self.source} can be "
                                  f"read yet ({skipped[0][0]}: {skipped[0][1]}).")
        t0 = time.perf_counter()
        index = TileIndex(src, self.x, self.y, self.reductions, geo=self.geo, backend=self.backend,
                          max_points=self.max_points)
        self.hexes = HexIndex(index)
        self.index = index
        self.version += 1
        self.png_cache.clear()
        self.agg_cache.clear()
        self.log(f"indexed {index.rows:,} rows in {time.perf_counter() - t0:.2f} s "
                 f"(version {self.version}, {index.nbytes / 2**20:.0f} MiB)")

    def _watch(self):
        """Poll the folder for ever: a file that cannot be read (half-written, corrupt) is skipped
        and retried at the next change, and no error ends the watch; the page is told through
        ``/api/meta``'s ``follow_status``."""
        while not self._stop.wait(self.poll_seconds):
            try:
                if self._snapshot() != self._files:
                    with self._rebuild_lock:
                        self._build()
            except Exception as exc:  # noqa: BLE001 - keep watching whatever one rebuild hit
                self._files = self._snapshot_or_none()
                message = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
                self.follow_status = dict(self.follow_status, error=message)
                self.log(f"follow: {message}")

    def _snapshot_or_none(self):
        try:
            return self._snapshot()
        except OSError:
            return None

    def stop(self):
        self._stop.set()

    # ------------------------------------------------------------------ parameters
    def params(self, query):
        agg = query.get("agg", [next(iter(self.reductions))])[0]
        cmap = query.get("cmap", ["fire"])[0]
        how = query.get("how", ["eq_hist"])[0]
        if agg not in self.reductions:
            raise BadRequest(400, f"unknown reduction {agg!r}; use one of {', '.join(self.reductions)}.")
        if cmap not in CMAPS:
            raise BadRequest(400, f"unknown colormap {cmap!r}; use one of {', '.join(CMAPS)}.")
        if how not in HOWS:
            raise BadRequest(400, f"unknown how {how!r}; use one of {', '.join(HOWS)}.")
        return agg, cmap, how

    def hex_size_of(self, query):
        """The hexagons' width a request asks for (``glyph=hex&size=N``), or None for points;
        what it leaves out is the server's ``glyph``/``hex_size``."""
        glyph = query.get("glyph", [self.glyph])[0]
        if glyph not in GLYPHS:
            raise BadRequest(400, f"unknown glyph {glyph[:50]!r}; use points or hex.")
        if glyph != "hex":
            if "size" in query:
                raise BadRequest(400, "size applies to glyph=hex; add glyph=hex or drop size.")
            return None
        text = query.get("size", [None])[0]
        if text is None:
            return self.hex_size
        try:
            size = float(text)
        except ValueError:
            raise BadRequest(400, f"size must be a number of pixels (a hexagon's width, {MIN_SIZE} "
                                  f"to {TILE}), got {text[:50]!r}.") from None
        try:
            return check_size(size, TILE, TILE)
        except RenderError as exc:
            raise BadRequest(400, str(exc)) from None

    @staticmethod
    def tile_address(z, x, y):
        try:
            return check_tile(int(z), int(x), int(y))
        except (RenderError, ValueError) as exc:
            raise BadRequest(400, str(exc)) from None

    # ------------------------------------------------------------------ answers
    def tile_png(self, z, x, y, agg, cmap, how, size=None):
        """PNG bytes of a tile (of hexagons ``size`` px wide unless None), or None when empty."""
        key = (self.version, z, x, y, agg, cmap, how, size)
        hit, png = self.png_cache.get(key)
        if hit:
            return png
        if size is None:
            img, tile_agg = self.index.tile_image(z, x, y, agg, cmap=cmap, how=how)
        else:
            img, tile_agg = self.hexes.tile_image(z, x, y, agg, cmap, how, size)
        self.agg_cache.put((self.version, z, x, y, agg, size), tile_agg)
        png = None if img is None else _png_bytes(img)
        self.png_cache.put(key, png)
        return png

    def value(self, z, mx, my, agg, size=None):
        """The aggregate value of the pixel at zoom ``z`` holding Web Mercator (mx, my): with
        ``size``, that of the hexagon drawn there."""
        if not (-WORLD <= mx <= WORLD and -WORLD <= my <= WORLD):
            return {"value": None, "inside": False}
        n = 1 << z
        span = 2 * WORLD / n
        tx = min(int((mx + WORLD) / span), n - 1)
        ty = min(int((WORLD - my) / span), n - 1)
        key = (self.version, z, tx, ty, agg, size)
        hit, tile = self.agg_cache.get(key)
        if not hit:
            tile = (self.index.tile_agg(z, tx, ty, agg) if size is None
                    else self.hexes.tile_agg(z, tx, ty, agg, size))
            self.agg_cache.put(key, tile)
        col = min(int((mx + WORLD) / span * TILE) - tx * TILE, TILE - 1)
        row = min(int((WORLD - my) / span * TILE) - ty * TILE, TILE - 1)
        v = tile.data[TILE - 1 - row, col]
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, float) and v != v:
            v = None
        if v is not None and not isinstance(v, bool) and float(v) == 0 and tile.dtype.kind == "u":
            v = 0
        return {"value": v, "inside": True, "tile": [z, tx, ty], "pixel": [col, row]}

    def scale(self, z, agg, cmap, how, size=None):
        import colorcet
        sc = self.index.scale(z, agg, how) if size is None else self.hexes.scale(z, agg, how, size)
        pal = colorcet.palette[cmap]
        colors = [pal[int(i)] for i in np.linspace(0, len(pal) - 1, 32)]
        return {"zoom": z, "agg": agg, "how": how, "cmap": cmap, "colors": colors,
                "glyph": "points" if size is None else "hex", "size": size,
                "ticks": sc.ticks(5), "span": None if sc.empty else [float(v) for v in sc.span]}

    def meta(self):
        from .mercator import meters_to_lnglat
        idx = self.index
        (x0, x1), (y0, y1) = idx.bounds
        lon, lat = meters_to_lnglat([x0, x1], [y0, y1])
        return {"version": self.version, "follow": self.follow, "reductions": list(self.reductions),
                "cmaps": list(CMAPS), "hows": list(HOWS), "max_zoom": MAX_ZOOM, "tile_size": TILE,
                "bounds_m": [x0, y0, x1, y1], "bounds_lnglat": [float(lon[0]), float(lat[0]),
                                                             float(lon[1]), float(lat[1])],
                "geo": self.geo, "index": idx.describe(), "glyphs": list(GLYPHS), "glyph": self.glyph,
                "hex_size": self.hex_size or DEFAULT_SIZE, "hex_size_range": [MIN_SIZE, TILE],
                "follow_status": {"skipped": [f"{n}: {why}" for n, why in self.follow_status["skipped"]],
                                  "error": self.follow_status["error"]}}

    def render_png(self, query, agg, cmap, how, size=None):
        """One view of ``width`` x ``height`` px over ``bbox=x0,y0,x1,y1`` (metres), shaded with
        its own scale; with ``size``, of hexagons anchored to the world's south-west corner as the
        tiles' (at the tiles' scale, the same hexagons, each whole)."""
        from .canvas import Canvas
        from .pipeline import finalize
        from .plan import make_plan
        from . import transfer_functions as tf
        try:
            w, h = int(query.get("width", ["800"])[0]), int(query.get("height", ["600"])[0])
            bbox = [float(v) for v in query["bbox"][0].split(",")]
        except (KeyError, ValueError):
            raise BadRequest(400, "render.png needs bbox=x0,y0,x1,y1 and whole-number width/height.") from None
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise BadRequest(400, f"width and height must be from 1 to {MAX_SIDE} pixels.")
        if len(bbox) != 4 or not all(np.isfinite(bbox)) or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            raise BadRequest(400, "bbox must be four finite numbers x0,y0,x1,y1 with x0<x1, y0<y1.")
        idx = self.index
        cvs = Canvas(w, h, (bbox[0], bbox[2]), (bbox[1], bbox[3]))
        from .axes import Viewport
        red, _ = idx.outputs[agg]
        if size is not None:   # with a margin, as tiles are: the hexagons at the view's edges whole
            from .hextiles import margin
            m = margin(size)
            sx, sy = (bbox[2] - bbox[0]) / w, (bbox[3] - bbox[1]) / h      # metres per pixel
            ox = (-WORLD - bbox[0]) / sx + m      # world pixel (0, 0) in the canvas
            oy = (-WORLD - bbox[1]) / sy + m
            big = Canvas(w + 2 * m, h + 2 * m, (bbox[0] - m * sx, bbox[2] + m * sx),
                         (bbox[1] - m * sy, bbox[3] + m * sy))
            cols = {"x": idx.xs, "y": idx.ys, **{c: idx.values[c] for c in red.columns()}}
            with idx._agg_lock:
                out = big.hexbin(cols, "x", "y", red, size=size, origin=(ox, oy), backend=idx.backend.name)
            buf = BytesIO()
            png.encode(tf.shade(out, cmap=cmap, how=how).data[m:m + h, m:m + w], buf, TILE_PNG_LEVEL)
            return buf.getvalue()
        plan = make_plan(Viewport(w, h, cvs.x_range, cvs.y_range), "x", "y", {None: red}, {})
        out = finalize(plan, idx.aggregate(plan), idx.backend)
        return _png_bytes(tf.shade(out, cmap=cmap, how=how))


def _glyph(glyph, hex_size):
    """(glyph, hexagons' width or None) of the server's defaults, checked as the CLI's."""
    if glyph not in GLYPHS:
        raise RenderError(f"unknown glyph {glyph!r}; use points or hex.")
    if glyph != "hex":
        if hex_size is not None:
            raise RenderError("hex_size applies to glyph='hex'; add glyph='hex' or drop hex_size.")
        return glyph, None
    return glyph, check_size(DEFAULT_SIZE if hex_size is None else hex_size, TILE, TILE)


def _value_columns(reductions):
    return list(dict.fromkeys(c for r in reductions.values() for c in r.columns()))


def _read_parquet_files(paths, columns):
    """(one Arrow table of the files that read, or None; [(name, why)] of those that do not:
    half-written, corrupt, or without the columns), so one bad file never hides the others."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    tables, skipped = [], []
    for p in paths:
        try:
            tables.append(pq.read_table(p, columns=columns))
        except (OSError, pa.ArrowException, ValueError) as exc:
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            skipped.append((os.path.basename(p), why))
    if not tables:
        return None, skipped
    if len(tables) == 1:
        return tables[0], skipped
    try:
        return pa.concat_tables(tables, promote_options="default"), skipped
    except pa.ArrowException as exc:
        raise RenderError(f"the .parquet files do not share one schema: {exc}") from None
