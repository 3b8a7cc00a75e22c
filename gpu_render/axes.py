"""Mapping between data space and pixel space, one multiply-add per axis (as datashader does)."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .errors import RenderError

AXIS_TYPES = ("linear", "log")


class Axis:
    """A canvas axis as datashader's ``Canvas.x_axis``/``y_axis``: data -> pixel space is
    ``s * mapper(v) + t``; pixel centres map back through ``inverse_mapper``."""

    def mapper(self, val):
        raise NotImplementedError

    def inverse_mapper(self, val):
        raise NotImplementedError

    def compute_scale_and_translate(self, range, n):   # noqa: A002 - datashader's name
        """(s, t) mapping ``range`` (both ends inclusive, data space) onto ``n`` bins."""
        start, end = (self.mapper(v) for v in range)
        s = n / (end - start)
        return s, -start * s

    def compute_index(self, st, n):
        """The data coordinate of each of the ``n`` bin centres."""
        s, t = st
        return self.inverse_mapper((np.arange(n) + 0.5 - t) / s)

    def validate(self, range):   # noqa: A002
        """Raise RenderError (a ValueError) if ``range`` cannot be used on this axis."""
        validate_range("range", range, self.kind)


class LinearAxis(Axis):
    kind = "linear"

    def mapper(self, val):
        return val

    def inverse_mapper(self, val):
        return val


class LogAxis(Axis):
    kind = "log"

    def mapper(self, val):
        return math.log10(float(val))

    def inverse_mapper(self, val):
        return 10 ** val


AXES = {"linear": LinearAxis(), "log": LogAxis()}


def expand_bounds(lo, hi):
    """Datashader's rule for data-derived ranges: empty -> (-1, 1), degenerate -> +-1."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return -1.0, 1.0
    if lo == hi:
        return lo - 1, lo + 1
    return lo, hi


def validate_range(name, rng, axis_type):
    """Check a user range: two finite numbers, increasing, positive on a log axis."""
    if rng is None:
        return None
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise RenderError(f"{name} must be a pair of numbers (min, max), got {rng!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RenderError(f"{name} must be finite, got ({lo}, {hi}).")
    if hi <= lo:
        kind = "zero-width" if hi == lo else "inverted"
        raise RenderError(f"{name} ({lo}, {hi}) is {kind}: the maximum must be greater than the minimum.")
    if axis_type == "log" and lo <= 0:
        raise RenderError(f"{name} ({lo}, {hi}) must be positive on a log axis.")
    return tuple(rng)


def check_resolvable(name, rng, n, log=False):
    """Refuse a range whose ``n`` pixels float64 cannot compute: a width that overflows
    (-1.7e308..1.7e308), a scale that overflows (subnormal widths), or pixels narrower than the
    rounding of the offset (1e308..1e308 + a few ulps) would put every point in one pixel."""
    start, end = (math.log10(v) if log else float(v) for v in rng)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        width = end - start
        s = n / width if width > 0 else math.inf
        t = -start * s
    if not (math.isfinite(width) and math.isfinite(s) and s > 0 and math.isfinite(t)) or \
            abs(t) * np.finfo(np.float64).eps >= 0.5:
        raise RenderError(f"{name} ({rng[0]:g}, {rng[1]:g}) cannot be cut into {n} pixels in float64 "
                          "arithmetic (its width overflows, or its pixels are narrower than the rounding "
                          "of its values); use a narrower range, or rescale the data.")


def _pow10(c):
    """``10 ** c`` computed as datashader's ``LogAxis.inverse_mapper`` does (a numba-compiled
    integer 10 raised to the float array): numpy's own ``power`` loop may round the last place
    differently (SIMD implementations), and log-axis coordinates must be bit-equal."""
    return _pow10_kernel()(np.ascontiguousarray(c, dtype=np.float64))


@functools.lru_cache(maxsize=None)
def _pow10_kernel():
    import numba

    @numba.njit(cache=True, nogil=True)
    def pow10(val):
        y = 10
        return y ** val
    return pow10


@dataclass(frozen=True)
class Viewport:
    """Canvas size, data ranges and axis types; derives the scale/translate of each axis."""

    width: int
    height: int
    x_range: tuple
    y_range: tuple
    x_log: bool = False
    y_log: bool = False

    def __post_init__(self):
        for name, rng, n, log in (("x_range", self.x_range, self.width, self.x_log),
                                  ("y_range", self.y_range, self.height, self.y_log)):
            check_resolvable(name, rng, n, log)

    @staticmethod
    def _st(rng, n, log):
        return AXES["log" if log else "linear"].compute_scale_and_translate(rng, n)

    @property
    def params(self) -> np.ndarray:
        """float64 [sx, tx, sy, ty, xmin, xmax, ymin, ymax], what every kernel takes."""
        sx, tx = self._st(self.x_range, self.width, self.x_log)
        sy, ty = self._st(self.y_range, self.height, self.y_log)
        return np.array([sx, tx, sy, ty, *self.x_range, *self.y_range], dtype=np.float64)

    def _axis(self, axis):
        return (self.x_range, self.width, self.x_log) if axis == "x" else (self.y_range, self.height, self.y_log)

    def to_data(self, p, axis) -> np.ndarray:
        """Pixel-space coordinates ``p`` (host, any shape) on ``axis`` ('x' or 'y') in data units:
        the inverse of the kernels' map, through ``10 **`` on a log axis."""
        rng, n, log = self._axis(axis)
        s, t = self._st(rng, n, log)
        c = (np.asarray(p, dtype=np.float64) - t) / s
        return _pow10(c.ravel()).reshape(c.shape) if log else c

    def to_pixels(self, xp, xs, ys):
        """(px, py): data points in pixel space as the kernels compute them (float64,
        ``v * s + t`` after ``log10`` on a log axis), NaN where either is outside its range (both
        ends inclusive, as ``Canvas.points``); ``xp``: the arrays' namespace (numpy or CuPy)."""
        p = self.params
        out = []
        for v, (s, t, lo, hi), log in ((xs, p[[0, 1, 4, 5]], self.x_log), (ys, p[[2, 3, 6, 7]], self.y_log)):
            v = xp.asarray(v).astype(xp.float64, copy=False)
            with np.errstate(invalid="ignore", divide="ignore"):
                f = xp.log10(v) if log else v
                out.append(xp.where((v >= lo) & (v <= hi), f * s + t, xp.nan))
        bad = xp.isnan(out[0]) | xp.isnan(out[1])
        return xp.where(bad, xp.nan, out[0]), xp.where(bad, xp.nan, out[1])

    @property
    def x_coords(self) -> np.ndarray:
        return self.to_data(np.arange(self.width) + 0.5, "x")

    @property
    def y_coords(self) -> np.ndarray:
        return self.to_data(np.arange(self.height) + 0.5, "y")
