"""Partial grids ("planes") of each kernel kind: how they start, merge and collapse.

A reduction is computed from one *group* of planes, filled by one kernel pass over the data.
Every plane has a leading axis of independent parts (one per CPU thread, one on the GPU), so a
chunk, a thread, a Dask partition or a GPU all produce the same kind of partial, and partials
merge pairwise in any tree. Everything here is written against ``xp`` (numpy or CuPy).
"""
from __future__ import annotations

import numpy as np

# Kernel kinds. COUNT_VALID < SUM < VAR: each computes a superset of the planes before it, so
# reductions of one column share one pass (count('v'), sum('v'), mean('v'), std('v') -> VAR).
COUNT, COUNT_VALID, SUM, VAR, MIN, MAX, FIRST, LAST = range(8)
KIND_NAMES = ("count", "count_valid", "sum", "var", "min", "max", "first", "last")
# Ranked reductions (max_n, min_n, first_n, last_n, where): no kernels, planes of shape
# (parts, size, n) handled by ``ranked`` in array-namespace code.
RANKED = 8

ROW_NONE_FIRST = np.iinfo(np.int64).max  # "no row yet" for first: any real row is smaller
ROW_NONE_LAST = -1                        # "no row yet" for last: any real row is larger

_PLANES = {
    COUNT: (("cnt", np.uint32, 0),),
    COUNT_VALID: (("cnt", np.uint32, 0),),
    SUM: (("sum", np.float64, 0.0), ("cnt", np.uint32, 0)),
    VAR: (("sum", np.float64, 0.0), ("cnt", np.uint32, 0), ("m2", np.float64, 0.0)),
    MIN: (("val", np.float64, np.nan),),
    MAX: (("val", np.float64, np.nan),),
    FIRST: (("row", np.int64, ROW_NONE_FIRST), ("val", np.float64, np.nan)),
    LAST: (("row", np.int64, ROW_NONE_LAST), ("val", np.float64, np.nan)),
    RANKED: (("key", np.float64, np.inf), ("row", np.int64, ROW_NONE_FIRST), ("out", np.float64, np.nan)),
}


PLANE_ORDER = ("cnt", "sum", "m2", "row", "val")  # the order kernels take planes in
PLANE_DTYPES = {"cnt": np.uint32, "sum": np.float64, "m2": np.float64, "row": np.int64, "val": np.float64}


def plane_bytes(kind: int) -> int:
    """Bytes per pixel per part for a kernel kind."""
    return sum(np.dtype(dt).itemsize for _, dt, _ in _PLANES[kind])


def new_planes(kind: int, parts: int, size: int, xp=np, n: int = 1) -> dict:
    """Fresh planes of shape (parts, size) (RANKED: (parts, size, n)), filled with each plane's
    identity."""
    shape = (parts, size, n) if kind == RANKED else (parts, size)
    return {name: xp.full(shape, fill, dtype=dt) for name, dt, fill in _PLANES[kind]}


def merge(kind: int, a: dict, b: dict, xp=np) -> dict:
    """Merge two partials of the same shape; ``a`` holds earlier rows than ``b``."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN, as it should be
        return _merge(kind, a, b, xp)


def _merge(kind, a, b, xp):
    if kind == RANKED:
        from . import ranked
        return ranked.merge(a, b, xp)
    if kind in (COUNT, COUNT_VALID):
        return {"cnt": a["cnt"] + b["cnt"]}
    if kind == SUM:
        return {"sum": a["sum"] + b["sum"], "cnt": a["cnt"] + b["cnt"]}
    if kind == VAR:
        return _merge_var(a, b, xp)
    if kind in (MIN, MAX):
        op = xp.fmin if kind == MIN else xp.fmax
        return {"val": op(a["val"], b["val"])}
    take_b = b["row"] < a["row"] if kind == FIRST else b["row"] > a["row"]
    return {"row": xp.where(take_b, b["row"], a["row"]), "val": xp.where(take_b, b["val"], a["val"])}


def _merge_var(a, b, xp):
    """Chan et al.'s pairwise update of (sum, count, sum of squared deviations)."""
    na = a["cnt"].astype(np.float64)
    nb = b["cnt"].astype(np.float64)
    n = na + nb
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = b["sum"] / nb - a["sum"] / na
        extra = delta * delta * na * nb / n
    both = (na > 0) & (nb > 0)
    m2 = a["m2"] + b["m2"] + xp.where(both, extra, 0.0)
    return {"sum": a["sum"] + b["sum"], "cnt": a["cnt"] + b["cnt"], "m2": m2}


def collapse(kind: int, planes: dict, xp=np) -> dict:
    """Merge the parts axis of ``planes`` in order; returns planes of shape (size,)."""
    parts = next(iter(planes.values())).shape[0]
    out = {k: v[0] for k, v in planes.items()}
    for p in range(1, parts):
        out = merge(kind, out, {k: v[p] for k, v in planes.items()}, xp)
    return out


def concat(kind: int, a: dict, b: dict, xp=np) -> dict:
    """Combine two partials (each with a parts axis) into one with a single part."""
    ca, cb = collapse(kind, a, xp), collapse(kind, b, xp)
    return {k: v[None] for k, v in merge(kind, ca, cb, xp).items()}
