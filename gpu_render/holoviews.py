"""HoloViews' ``aggregate``, ``rasterize`` and ``datashade`` with point aggregation on gpu-render.

The operations are subclasses of HoloViews' own and take the same parameters (``aggregator`` as
a datashader reduction or a string, ``width``, ``height``, ``x_range``, ``y_range``, ``dynamic``,
``streams``, ``pixel_ratio``, ...), plus ``backend`` ('auto', 'cpu' or 'gpu'). HoloViews builds
a datashader ``Canvas`` and calls ``aggregate._apply_datashader`` with its ``points`` method;
ours replaces that one call with gpu-render's ``Canvas.points`` over the same frame, ranges and
reduction. Anything else (lines, areas, images, meshes, reductions or selectors gpu-render does
not implement) takes HoloViews' own path, with one log note per reason.

``activate()`` makes HoloViews' own ``rasterize``/``datashade`` (and so hvPlot's
``rasterize=True``/``datashade=True``) aggregate points here until ``deactivate()``.
"""
from __future__ import annotations

import logging
import weakref

import numpy as np
import pandas as pd
import param
from holoviews.core.util import _is_deep_indexable
from holoviews.operation import datashader as _hvds

from .canvas import Canvas
from .errors import RenderError
from .frames import PandasTable
from .lrucache import LRUCache
from .reductions import coerce
from .spatialframe import SpatialFrame

log = logging.getLogger(__name__)
_noted: set[str] = set()

# datashader's axis classes by name, as gpu-render's axis types
_AXIS_TYPES = {"LinearAxis": "linear", "LogAxis": "log"}
_BACKEND = dict(default="auto", objects=["auto", "cpu", "gpu"],
                doc="Where gpu-render aggregates points: 'auto' (the GPU when usable), 'cpu', 'gpu'.")


def _note_fallback(reason: str) -> None:
    """Log, once per reason, that HoloViews' own aggregation is used."""
    if reason not in _noted:
        _noted.add(reason)
        log.info("gpu_render.holoviews: %s; using HoloViews' own datashader aggregation.", reason)


def _our_canvas(cvs_fn, agg_fn):
    """(gpu-render ``Canvas``, reduction) equal to datashader's ``cvs_fn`` and ``agg_fn``, or
    (None, why not) when gpu-render does not aggregate this."""
    glyph = getattr(cvs_fn, "__name__", None)
    if glyph != "points":
        return None, f"the {glyph} glyph is not aggregated by gpu-render"
    cvs = cvs_fn.__self__
    axes = [_AXIS_TYPES.get(type(a).__name__) for a in (cvs.x_axis, cvs.y_axis)]
    if None in axes:
        return None, f"axis {type(cvs.x_axis).__name__}/{type(cvs.y_axis).__name__} is not supported"
    try:
        reduction = coerce(agg_fn)
        canvas = Canvas(cvs.plot_width, cvs.plot_height, cvs.x_range, cvs.y_range, *axes)
    except RenderError as exc:
        return None, str(exc).rstrip(".")
    return canvas, reduction


SPATIAL_MIN_ROWS = 1 << 20   # frames smaller than this are aggregated as they are
KEEP_FRAMES = 2              # sorted frames kept (each: 8 B a row + a copy of each column read)


def _fingerprint(df):
    """What changes when a frame's columns are replaced or edited in place: its length, each
    column's buffer and a strided sample of about 1,024 of its values."""
    out = [len(df)]
    for name in df.columns:
        s = df[name].array
        a = s if isinstance(s, np.ndarray) else getattr(s, "_ndarray", None)   # numpy, categories' codes
        if a is None:   # an other extension array: its identity only
            out.append((name, id(s)))
            continue
        out.append((name, a.__array_interface__["data"][0], hash(a[:: max(1, len(a) // 1024)].tobytes())))
    return tuple(out)


class _ViewFrames:
    """Frames HoloViews aggregates again and again (one per zoom or pan) as ``SpatialFrame``s,
    which read only the rows of the cells a view overlaps. A frame is sorted the second time it
    is seen (a frame HoloViews copies for every view is never sorted for nothing); an entry is
    used only while the frame is the same object with the same fingerprint."""

    def __init__(self, keep=KEEP_FRAMES):
        self.seen = LRUCache(4 * keep, size=lambda v: 1)
        self.sorted = LRUCache(keep, size=lambda v: 1)

    def table(self, df, x, y):
        if type(df) is not pd.DataFrame or len(df) < SPATIAL_MIN_ROWS:
            return df
        key, stamp = (id(df), x, y), _fingerprint(df)
        for cache in (self.sorted, self.seen):
            hit, entry = cache.get(key)
            if hit and not (entry[0]() is df and entry[1] == stamp):
                cache.pop(key)
                hit = False
            if hit and cache is self.sorted:
                return entry[2]
            if hit:
                frame = SpatialFrame(PandasTable(df), x, y)
                self.sorted.put(key, (weakref.ref(df), stamp, frame))
                return frame
        self.seen.put(key, (weakref.ref(df), stamp))
        return df

    def clear(self):
        self.seen.clear()
        self.sorted.clear()


_frames = _ViewFrames()


def clear_cache() -> None:
    """Forget the sorted frames (they are rebuilt from the data the next views see)."""
    _frames.clear()


class aggregate(_hvds.aggregate):
    """HoloViews' ``aggregate``; points are aggregated by gpu-render (``backend``)."""

    backend = param.Selector(**_BACKEND)

    def _apply_datashader(self, dfdata, cvs_fn, agg_fn, x, y, agg_state):
        canvas, reduction = _our_canvas(cvs_fn, agg_fn)
        if canvas is None:
            _note_fallback(reduction)
            return super()._apply_datashader(dfdata, cvs_fn, agg_fn, x, y, agg_state)
        source = _frames.table(dfdata, x.name, y.name)
        agg = canvas.points(source, x.name, y.name, reduction, backend=self.p.backend)
        return self._apply_where_summary(dfdata, x.name, y.name, agg_fn, agg, agg_state)


_OURS = {_hvds.aggregate: aggregate}


class rasterize(_hvds.rasterize):
    """HoloViews' ``rasterize``; elements it aggregates as points go through gpu-render."""

    backend = param.Selector(**_BACKEND)
    _transforms = [(predicate, _OURS.get(op, op)) for predicate, op in _hvds.rasterize._transforms]

    def _process(self, element, key=None):
        """HoloViews' own for containers. For a single element HoloViews builds all ~18 transform
        operations per view and maps each over the element, which leaves it alone unless the
        predicate matches; here only the matching ones are built and applied, in the same order
        with the same parameters, and the same warning names parameters no transform takes."""
        if _is_deep_indexable(element):
            return super()._process(element, key)
        # what HoloViews' ``rasterize.instance`` recorded (name-mangled in its class)
        kwargs = dict(self._rasterize__instance_kwargs,
                      **{k: getattr(self, k) for k in self._rasterize__instance_params})
        kwargs.update(self.p)
        for k in ("aggregator", "interpolation"):
            if kwargs.get(k) == "default":
                kwargs.pop(k)
        if "aggregator" in kwargs and kwargs["aggregator"] is None:
            kwargs.pop("aggregator")
        kwargs.update(dynamic=False, **self.p.extra_keywords())
        allowed = set()
        for predicate, transform in self._transforms:
            allowed |= set(transform.param)
            if element.matches(predicate):
                op = transform.instance(**{k: v for k, v in kwargs.items() if k in transform.param})
                op._precomputed = self._precomputed
                element = element.map(op, predicate)
                self._precomputed = op._precomputed
        if set(kwargs) - allowed:
            self.param.warning("Parameter(s) [{}] not consumed by any element rasterizer.".format(
                ", ".join(set(kwargs) - allowed)))
        return element


class datashade(rasterize, _hvds.datashade):
    """HoloViews' ``datashade`` (rasterize, then shade) on gpu-render's ``rasterize``."""

    def _process(self, element, key=None):
        return _hvds.shade._process(self, rasterize._process(self, element, key), key)


_saved: dict | None = None


def activate() -> None:
    """Make HoloViews' own ``aggregate``/``rasterize``/``datashade`` (the module names hvPlot
    imports, and the point transforms of the classes already imported) use gpu-render."""
    global _saved
    if _saved is not None:
        return
    _saved = {"transforms": _hvds.rasterize._transforms,
              "names": {n: getattr(_hvds, n) for n in ("aggregate", "rasterize", "datashade")}}
    _hvds.rasterize._transforms = rasterize._transforms
    _hvds.aggregate, _hvds.rasterize, _hvds.datashade = aggregate, rasterize, datashade


def deactivate() -> None:
    """Undo ``activate()``: HoloViews' operations aggregate with datashader again."""
    global _saved
    if _saved is None:
        return
    for name, op in _saved["names"].items():
        setattr(_hvds, name, op)
    _hvds.rasterize._transforms = _saved["transforms"]
    _saved = None


def active() -> bool:
    """Whether ``activate()`` is in force."""
    return _saved is not None
