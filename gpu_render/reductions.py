"""Reductions with datashader's names and semantics: what each pixel keeps.

A reduction says which kernel kind it needs (see ``planes``) and how to turn the merged planes
into the output grid; it never touches data itself, so every backend serves every reduction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import planes as P
from .categorizers import Categorizer, category_name, from_datashader
from .categorizers import category_binning, category_modulo  # noqa: F401 - datashader's names here
from .errors import RenderError, RenderTypeError


class Reduction:
    """Base: a per-pixel reduction over one optional column."""

    kind: int = P.COUNT_VALID
    dtype = np.dtype(np.float64)
    ranking = ()        # (n, order, lookup column) for ranked reductions (see ``ranked``)
    extra_dims = {}     # dims after y, x (and the category): {"n": n} for the *_n reductions

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
    order = "min"

    def finalize(self, planes, xp=np):
        return planes["val"]


class max(_Valued):  # noqa: A001
    """Largest non-NaN value."""

    kind = P.MAX
    order = "max"

    def finalize(self, planes, xp=np):
        return planes["val"]


class first(_Valued):
    """The non-NaN value of the earliest row (by row order) in the pixel."""

    kind = P.FIRST
    order = "first"

    def finalize(self, planes, xp=np):
        return planes["val"]


class last(_Valued):
    """The non-NaN value of the latest row (by row order) in the pixel."""

    kind = P.LAST
    order = "last"

    def finalize(self, planes, xp=np):
        return planes["val"]


class _Ranked(_Valued):
    """The ``n`` best non-NaN values of a pixel by ``order``, best first, NaN-padded; equal
    values rank by row order (earlier first), as in datashader."""

    kind = P.RANKED
    order = None

    def __init__(self, column: str, n: int = 1):
        super().__init__(column)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise RenderTypeError(f"{type(self).__name__}() takes an integer n, got {n!r}.")
        self.n = int(n) if n >= 1 else 1   # datashader's rule: n < 1 means 1

    @property
    def ranking(self):
        return (self.n, self.order, None)

    @property
    def extra_dims(self):
        return {"n": self.n}

    def finalize(self, planes, xp=np):
        return planes["out"]

    def __repr__(self):
        return f"{type(self).__name__}(column={self.column!r}, n={self.n!r})"

    def __hash__(self):
        return hash((type(self).__name__, self.column, self.n))


class max_n(_Ranked):
    """The ``n`` largest values, largest first."""
    order = "max"


class min_n(_Ranked):
    """The ``n`` smallest values, smallest first."""
    order = "min"


class first_n(_Ranked):
    """The values of the first ``n`` rows (by row order), earliest first."""
    order = "first"


class last_n(_Ranked):
    """The values of the last ``n`` rows (by row order), latest first."""
    order = "last"


class where(Reduction):
    """``lookup_column`` at the row(s) that ``selector`` (first, last, max, min or their ``_n``
    forms) picks in each pixel, or with no lookup column the row index (int64, -1 where empty)."""

    kind = P.RANKED

    def __init__(self, selector: Reduction, lookup_column: str | None = None):
        if not isinstance(selector, (first, last, max, min, _Ranked)):
            raise RenderTypeError("where()'s selector can only be a first, first_n, last, last_n, "
                                  f"max, max_n, min or min_n reduction, got {selector!r}.")
        if lookup_column is not None and not isinstance(lookup_column, str):
            raise RenderError(f"where() takes a lookup column name, got {lookup_column!r}.")
        if lookup_column is not None and lookup_column == selector.column:
            raise RenderError(f"where() and its selector cannot use the same column "
                              f"{lookup_column!r}.")
        self.selector = selector
        self.column = lookup_column
        self.dtype = np.dtype(np.int64 if lookup_column is None else np.float64)

    @property
    def value_column(self):
        return self.selector.column

    @property
    def ranking(self):
        n = self.selector.n if isinstance(self.selector, _Ranked) else 1
        return (n, self.selector.order, self.column)

    @property
    def extra_dims(self):
        return self.selector.extra_dims

    def columns(self):
        return [c for c in (self.selector.column, self.column) if c is not None]

    def finalize(self, planes, xp=np):
        if self.column is None:
            out = xp.where(planes["row"] == P.ROW_NONE_FIRST, np.int64(-1), planes["row"])
        else:
            out = planes["out"]
        return out if self.extra_dims else out[..., 0]

    def __repr__(self):
        return f"where(selector={self.selector!r}, lookup_column={self.column!r})"

    def __hash__(self):
        return hash(("where", hash(self.selector), self.column))


class by(Reduction):
    """Apply ``reduction`` separately for each category of ``cat_column`` (a third dimension):
    a column's distinct values, or a categorizer's categories (``category_modulo``, ...)."""

    def __init__(self, cat_column, reduction: Reduction | None = None):
        if not isinstance(cat_column, (str, Categorizer)):
            raise RenderError(f"by() takes a category column name or a categorizer such as "
                              f"category_modulo(...), got {cat_column!r}.")
        reduction = count() if reduction is None else reduction
        if not isinstance(reduction, Reduction) or isinstance(reduction, by):
            raise RenderError(f"by() takes a single reduction such as count() or mean('v'), got {reduction!r}.")
        self._cat = cat_column
        self.reduction = reduction
        self.column = category_name(cat_column)   # datashader's by(c).column is c
        self.kind = reduction.kind
        self.dtype = reduction.dtype
        self.ranking = reduction.ranking
        self.extra_dims = reduction.extra_dims

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
        return [category_name(self._cat), *self.reduction.columns()]

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
        return by(from_datashader(agg.categorizer), coerce(agg.reduction))
    if name in NAMES:
        return NAMES[name](agg.column)
    if name in RANKED:
        return RANKED[name](agg.column, agg.n)
    if name == "where":
        return where(coerce(agg.selector), agg.column if isinstance(agg.column, str) else None)
    raise RenderError(f"datashader's {name} reduction is not supported by gpu-render; "
                      f"use one of {', '.join(NAMES)}, by, count_cat or summary.")


NAMES = {
    "count": count, "any": any, "sum": sum, "mean": mean, "min": min, "max": max,
    "std": std, "var": var, "first": first, "last": last,
}


RANKED = {"max_n": max_n, "min_n": min_n, "first_n": first_n, "last_n": last_n}


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
