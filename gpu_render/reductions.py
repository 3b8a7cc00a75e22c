"""Reductions with datashader's names and semantics: what each pixel keeps.

A reduction says which kernel kind it needs (see ``planes``) and how to turn the merged planes
into the output grid; it never touches data itself, so every backend serves every reduction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import planes as P
from .errors import RenderError


class Reduction:
    """Base: a per-pixel reduction over one optional column."""

    kind: int = P.COUNT_VALID
    dtype = np.dtype(np.float64)

    def __init__(self, column: str | None = None):
        if column is not None and not isinstance(column, str):
            raise RenderError(f"{type(self).__name__}() takes a column name, got {column!r}.")
        self.column = column

    @property
    def cat_column(self) -> str | None:
        return None

    @property
    def value_column(self) -> str | None:
        """The column whose values the kernels read (``column``, except for ``by``)."""
        return self.column

    @property
    def inner(self) -> "Reduction":
        return self

    def columns(self) -> list[str]:
        return [c for c in (self.column,) if c is not None]

    def finalize(self, planes: dict, xp=np):
        raise NotImplementedError

    def __repr__(self):
        arg = "" if self.column is None else repr(self.column)
        return f"{type(self).__name__}({arg})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, self.column))


class _OptionalColumn(Reduction):
    """count/any: over every in-range row, or over the rows where ``column`` is not NaN."""

    @property
    def kind(self):
        return P.COUNT if self.column is None else P.COUNT_VALID


class count(_OptionalColumn):
    """Number of points per pixel (uint32; 0 where empty)."""

    dtype = np.dtype(np.uint32)

    def finalize(self, planes, xp=np):
        return planes["cnt"]


class any(_OptionalColumn):  # noqa: A001 - datashader's name
    """Whether any point falls in the pixel (bool)."""

    dtype = np.dtype(bool)

    def finalize(self, planes, xp=np):
        return planes["cnt"] > 0


class _Valued(Reduction):
    """A reduction that needs a value column."""

    def __init__(self, column: str):
        if column is None:
            raise RenderError(f"{type(self).__name__}() needs a column name.")
        super().__init__(column)


class sum(_Valued):  # noqa: A001
    """Sum of the non-NaN values (NaN where a pixel has none)."""

    kind = P.SUM

    def finalize(self, planes, xp=np):
        return xp.where(planes["cnt"] > 0, planes["sum"], np.nan)


class mean(_Valued):
    """Mean of the non-NaN values."""

    kind = P.SUM

    def finalize(self, planes, xp=np):
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.where(planes["cnt"] > 0, planes["sum"] / planes["cnt"], np.nan)


class var(_Valued):
    """Population variance of the non-NaN values."""

    kind = P.VAR

    def finalize(self, planes, xp=np):
        cnt = planes["cnt"]
        with np.errstate(divide="ignore", invalid="ignore"):
            v = planes["m2"] / cnt
        # A pixel holding +-inf has no defined variance (datashader's answer depends on row order).
        undefined = (cnt > 1) & ~xp.isfinite(planes["sum"])
        return xp.where((cnt > 0) & ~undefined, v, np.nan)


class std(var):
    """Population standard deviation of the non-NaN values."""

    def finalize(self, planes, xp=np):
        return xp.sqrt(super().finalize(planes, xp))


class min(_Valued):  # noqa: A001
    """Smallest non-NaN value."""

    kind = P.MIN

    def finalize(self, planes, xp=np):
        return planes["val"]


class max(_Valued):  # noqa: A001
    """Largest non-NaN value."""

    kind = P.MAX

    def finalize(self, planes, xp=np):
        return planes["val"]


class first(_Valued):
    """The non-NaN value of the earliest row (by row order) in the pixel."""

    kind = P.FIRST

    def finalize(self, planes, xp=np):
        return planes["val"]


class last(_Valued):
    """The non-NaN value of the latest row (by row order) in the pixel."""

    kind = P.LAST

    def finalize(self, planes, xp=np):
        return planes["val"]


class by(Reduction):
    """Apply ``reduction`` separately for each category of ``cat_column`` (a third dimension)."""

    def __init__(self, cat_column: str, reduction: Reduction | None = None):
        if not isinstance(cat_column, str):
            raise RenderError(f"by() takes a category column name, got {cat_column!r}.")
        reduction = count() if reduction is None else reduction
        if not isinstance(reduction, Reduction) or isinstance(reduction, by):
            raise RenderError(f"by() takes a single reduction such as count() or mean('v'), got {reduction!r}.")
        self._cat = cat_column
        self.reduction = reduction
        self.column = cat_column   # datashader's by(c).column is c
        self.kind = reduction.kind
        self.dtype = reduction.dtype

    @property
    def cat_column(self):
        return self._cat

    @property
    def value_column(self):
        return self.reduction.value_column

    @property
    def inner(self):
        return self.reduction

    def columns(self):
        return [self._cat, *self.reduction.columns()]

    def finalize(self, planes, xp=np):
        return self.reduction.finalize(planes, xp)

    def __repr__(self):
        return f"by(column={self._cat!r}, reduction={self.reduction!r})"

    def __hash__(self):
        return hash(("by", self._cat, hash(self.reduction)))


def count_cat(column: str) -> by:
    """Count points per pixel for each category of ``column`` (datashader's ``count_cat``)."""
    return by(column, count())


@dataclass
class summary:
    """Several named reductions computed together, returned as an ``xarray.Dataset``."""

    reductions: dict = field(default_factory=dict)

    def __init__(self, **reductions):
        if not reductions:
            raise RenderError("summary() needs at least one named reduction, e.g. summary(n=count()).")
        for name, red in reductions.items():
            if not isinstance(red, Reduction):
                raise RenderError(f"summary() value {name!r} is not a reduction: {red!r}.")
        self.reductions = reductions


def coerce(agg):
    """``agg`` as one of gpu-render's reductions (or ``summary``): ours pass through, datashader's
    own (``datashader.reductions.count()``, ``by``, ``count_cat``, ``summary``, ...) are converted
    to the equal reduction here, recognised by their module without importing datashader.
    Anything else raises ``RenderError``."""
    if agg is None or isinstance(agg, (Reduction, summary)):
        return agg
    kind = type(agg)
    if not kind.__module__.startswith("datashader."):
        raise RenderError(f"agg must be a reduction such as count() or mean('value'), got {agg!r}.")
    return _from_datashader(agg, kind.__name__)


def _from_datashader(agg, name):
    if name == "summary":
        return summary(**{k: coerce(v) for k, v in zip(agg.keys, agg.values)})
    if name in ("by", "count_cat"):
        return by(_categorizer(agg.categorizer), coerce(agg.reduction))
    if name in NAMES:
        return NAMES[name](agg.column)
    raise RenderError(f"datashader's {name} reduction is not supported by gpu-render; "
                      f"use one of {', '.join(NAMES)}, by, count_cat or summary.")


def _categorizer(cat):
    """A datashader categorizer (``category_codes`` of a column) as a category column name."""
    if type(cat).__name__ == "category_codes":
        return cat.column
    raise RenderError(f"datashader's {type(cat).__name__} categorizer is not supported by gpu-render.")


NAMES = {
    "count": count, "any": any, "sum": sum, "mean": mean, "min": min, "max": max,
    "std": std, "var": var, "first": first, "last": last,
}


def parse(spec: str) -> Reduction:
    """Parse a CLI spec: ``count``, ``any``, ``mean:COL``, ``by:COL`` (counts per category)..."""
    name, _, col = spec.partition(":")
    name = name.strip().lower()
    col = col.strip() or None
    if name in ("by", "count_cat"):
        if col is None:
            raise RenderError(f"reduction {spec!r} needs a category column, e.g. by:COLUMN.")
        return count_cat(col)
    if name not in NAMES:
        raise RenderError(
            f"unknown reduction {spec!r}; use one of count, any, sum:COL, mean:COL, min:COL, "
            "max:COL, std:COL, var:COL, first:COL, last:COL, by:COL.")
    cls = NAMES[name]
    if col is None and not issubclass(cls, _OptionalColumn):
        raise RenderError(f"reduction {name!r} needs a column, e.g. {name}:COLUMN.")
    return cls(col)
