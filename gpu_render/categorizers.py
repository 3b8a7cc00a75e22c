"""Datashader's categorizers for ``by(...)``: categories computed from a numeric column
(``category_modulo``, ``category_binning``) instead of its distinct values. Tables turn one into
(codes, labels) where they turn a category column into them (``table.Table.categorical_of``),
so the kernels see ordinary category codes; the labels are fixed, known before any data is read.
"""
from __future__ import annotations

import numpy as np

from .errors import RenderError


class Categorizer:
    """Categories of ``column`` computed from its values; hashable, usable as a category key."""

    column: str

    def categories(self) -> list:
        raise NotImplementedError

    def codes(self, values: np.ndarray) -> np.ndarray:
        """int32 category codes of a numeric column's ``values``."""
        raise NotImplementedError

    def _params(self):
        return tuple(vars(self).values())

    def __eq__(self, other):
        return type(other) is type(self) and other._params() == self._params()

    def __hash__(self):
        return hash((type(self).__name__, self._params()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class category_modulo(Categorizer):
    """Category ``(value - offset) % modulo`` of an integer column (datashader's)."""

    def __init__(self, column: str, modulo: int, offset: int = 0):
        if not isinstance(column, str):
            raise RenderError(f"category_modulo() takes a column name, got {column!r}.")
        if not isinstance(modulo, (int, np.integer)) or isinstance(modulo, bool) or modulo < 1:
            raise RenderError(f"category_modulo() needs a positive integer modulo, got {modulo!r}.")
        self.column, self.modulo, self.offset = column, int(modulo), offset

    def categories(self):
        return list(range(self.modulo))

    def codes(self, values):
        values = np.asarray(values)
        if values.dtype.kind not in "biu":
            raise RenderError(f"category_modulo() needs an integer column; {self.column!r} holds "
                              f"{values.dtype} values.")
        return ((values - self.offset) % self.modulo).astype(np.int32)


class category_binning(Categorizer):
    """``nbins`` equal bins of ``[lower, upper)`` plus one last category (``nbins``) for NaN and,
    where ``include_under``/``include_over`` is False, values below/above the bins; with them True
    those fall in the first/last bin (datashader's, truncating toward zero as it does)."""

    def __init__(self, column: str, lower, upper, nbins: int, include_under=True, include_over=True):
        if not isinstance(column, str):
            raise RenderError(f"category_binning() takes a column name, got {column!r}.")
        if not isinstance(nbins, (int, np.integer)) or isinstance(nbins, bool) or nbins < 1:
            raise RenderError(f"category_binning() needs a positive integer nbins, got {nbins!r}.")
        if not upper > lower:
            raise RenderError(f"category_binning() needs lower < upper, got {lower!r} and {upper!r}.")
        self.column, self.nbins = column, int(nbins)
        self.bin0, self.binsize = lower, (upper - lower) / float(nbins)
        self.bin_under = 0 if include_under else self.nbins
        self.bin_over = self.nbins - 1 if include_over else self.nbins

    def categories(self):
        return list(range(self.nbins + 1))

    def codes(self, values):
        values = np.asarray(values, dtype=np.float64)
        nan = np.isnan(values)
        with np.errstate(invalid="ignore"):
            index = np.where(nan, 0, (values - self.bin0) / self.binsize).astype(int)
        index[index < 0] = self.bin_under
        index[index >= self.nbins] = self.bin_over
        index[nan] = self.nbins
        return index.astype(np.int32)


def category_name(cat):
    """The dimension (and coordinate) name of category key ``cat``: its column's."""
    return cat.column if isinstance(cat, Categorizer) else cat


def from_datashader(cat):
    """Ours for datashader's categorizer ``cat``: a column name for ``category_codes``."""
    name = type(cat).__name__
    if name == "category_codes":
        return cat.column
    if name == "category_binning":
        ours = category_binning(cat.column, cat.bin0, cat.bin0 + cat.binsize * cat.nbins, cat.nbins,
                                include_under=cat.bin_under == 0,
                                include_over=cat.bin_over == cat.nbins - 1)
        ours.binsize = cat.binsize   # datashader's own, not one recomputed from it
        return ours
    if name == "category_modulo":
        return category_modulo(cat.column, cat.modulo, cat.offset)
    raise RenderError(f"datashader's {name} categorizer is not supported by gpu-render.")
