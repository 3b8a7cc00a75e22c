"""One colour scaling for a whole zoom level, so that tiles shaded one by one join seamlessly.

``tf.shade`` scales each image by its own values; a tile pyramid needs the scaling of the whole
level instead. ``LevelScale`` gathers the level's value range (pass 1) and, for ``eq_hist``, its
histogram (pass 2) from the level's tile aggregates one at a time, then shades any tile with
``tf.shade(tile, how=..., span=level range)``. The result equals shading the whole level's
aggregate at once (checked in tests), but never needs it in memory. The scale is set by the
level's finite values; +-inf pixels get its end colours.
"""
from __future__ import annotations

import numpy as np

from .errors import RenderError
from .xp import to_host

HOWS = ("eq_hist", "log", "cbrt", "linear")


def _valid(data):
    """(values of the non-empty pixels, as the dtype shade works in) of a 2D aggregate; only
    finite ones: +-inf pixels do not set the level's scale, and take its end colours (shade
    clips them to the span)."""
    data = to_host(data)
    if data.dtype.kind == "b":
        return data[data].astype(np.int8)
    if data.dtype.kind == "u":
        return data[data != 0]
    if data.dtype.kind == "f":
        return data[np.isfinite(data)]
    return data.ravel()


class _EqHistHow:
    """``how`` callable for ``tf.shade``: the level's histogram equalisation of ``data - vmin``."""

    def __init__(self, centres, cdf, exact):
        self.centres, self.cdf, self.exact = centres, cdf, exact

    def __call__(self, data, mask):
        data = np.asarray(data)
        if self.exact:
            idx = np.clip(data.astype(np.int64), 0, self.cdf.size - 1)
            out = self.cdf[idx]
        else:
            out = np.interp(data, self.centres, self.cdf)
        return np.where(mask, np.nan, out)


class LevelScale:
    """The colour scaling of one zoom level; feed every tile to ``add_range`` then ``add_hist``."""

    BINS = 256 * 256  # tf's eq_hist bins

    def __init__(self, how="eq_hist"):
        if how not in HOWS:
            raise RenderError(f"unknown how={how!r}; use one of {', '.join(HOWS)}.")
        self.how = how
        self.lo, self.hi = np.inf, -np.inf
        self.dtype = None
        self._hist = None
        self._how_fn = None

    @property
    def empty(self) -> bool:
        return not self.lo <= self.hi

    @property
    def needs_hist(self) -> bool:
        return self.how == "eq_hist"

    def add_range(self, data):
        v = _valid(data)
        self.dtype = v.dtype if self.dtype is None else self.dtype
        if v.size:
            self.lo = min(self.lo, v.min().item())
            self.hi = max(self.hi, v.max().item())

    @property
    def _exact(self):
        return self.dtype.kind in "iub" and self.hi - self.lo < self.BINS

    def add_hist(self, data):
        """Pass 2 (eq_hist only): accumulate the histogram of ``value - level minimum``."""
        if self.empty:
            return
        v = _valid(data)
        if self._exact:
            off = (v.astype(np.int64) - int(self.lo))
            h = np.bincount(off, minlength=int(self.hi - self.lo) + 1)
        else:
            lo = np.asarray(self.lo).astype(v.dtype)
            width = (np.asarray(self.hi).astype(v.dtype) - lo).item()
            h, self._edges = np.histogram(v - lo, bins=self.BINS, range=(0, width))
        self._hist = h if self._hist is None else self._hist + h

    def add_values(self, values):
        """Both passes at once, for values already in memory (e.g. a pre-aggregated level)."""
        self.add_range(values)
        if self.needs_hist:
            self.add_hist(values)

    def _eq_hist_fn(self):
        if self._how_fn is None:
            hist = self._hist if self._hist is not None else np.ones(1, np.int64)
            cdf = np.cumsum(hist) / float(hist.sum())
            if self._exact:
                self._how_fn = _EqHistHow(None, cdf, True)
            else:
                centres = (self._edges[:-1] + self._edges[1:]) / 2
                keep = hist > 0
                cdf = np.cumsum(hist[keep]) / float(hist[keep].sum())
                self._how_fn = _EqHistHow(centres[keep], cdf, False)
        return self._how_fn

    @property
    def span(self):
        return (self.lo, self.hi)

    def shade(self, agg, cmap="fire"):
        """Shade one tile aggregate (2D xarray) with the level's scaling; returns a tf Image."""
        from . import transfer_functions as tf
        if self.empty:
            return tf.shade(agg, cmap=cmap, how=self.how if self.how != "eq_hist" else "linear")
        how = self._eq_hist_fn() if self.how == "eq_hist" else self.how
        return tf.shade(agg, cmap=cmap, how=how, span=self.span)

    def ticks(self, n=5) -> list:
        """Data values at ``n`` evenly spaced positions of the colour bar (for the legend)."""
        if self.empty:
            return []
        pos = np.linspace(0.0, 1.0, n)
        lo, hi = float(self.lo), float(self.hi)
        if self.how == "eq_hist":
            fn = self._eq_hist_fn()
            xs = np.arange(fn.cdf.size) if fn.exact else fn.centres
            c0 = fn.cdf[0]
            frac = (fn.cdf - c0) / (1 - c0) if c0 < 1 else np.ones_like(fn.cdf)
            vals = np.interp(pos, frac, xs) + lo
            vals[0], vals[-1] = lo, hi     # the ends are the level's exact range
        elif self.how == "log":
            vals = np.expm1(pos * np.log1p(hi - lo)) + lo
        elif self.how == "cbrt":
            vals = (pos * (hi - lo) ** (1 / 3)) ** 3 + lo
        else:
            vals = lo + pos * (hi - lo)
        return [float(v) for v in vals]
