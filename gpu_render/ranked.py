"""Ranked reductions (``max_n``, ``min_n``, ``first_n``, ``last_n`` and ``where``): per pixel,
the ``n`` best rows by an order, kept as planes of shape (parts, slots, n).

No kernels of their own: array-namespace code (numpy or CuPy) over each row's flat pixel index,
binned with exactly the arithmetic of the aggregation kernels (datashader's). Each pixel keeps
(key, row, out) triples sorted by (key, row): ``key`` is -value (max), value (min), row (first)
or -row (last), so ties go to the earlier row, as datashader's sequential loop decides them.
Partials merge by sorting the union of two pixels' lists and keeping the first ``n``.
"""
from __future__ import annotations

import numpy as np

ORDERS = ("max", "min", "first", "last")
EMPTY_ROW = np.iinfo(np.int64).max


def bin_rows(xp, plan, g, columns):
    """Flat slot of each row of a chunk (pixel * ncat + category), ``plan.group_size``-style
    trash slot for rows outside the ranges, with a NaN value or an unknown category."""
    vp = plan.viewport
    sx, tx, sy, ty, x0, x1, y0, y1 = (float(v) for v in vp.params)
    x = columns[plan.x].astype(np.float64)
    y = columns[plan.y].astype(np.float64)
    ok = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fx = xp.log10(x) if vp.x_log else x
        fy = xp.log10(y) if vp.y_log else y
        fx = xp.where(ok, fx * sx + tx, 0.0)
        fy = xp.where(ok, fy * sy + ty, 0.0)
    k = (xp.minimum(fy.astype(np.int64), vp.height - 1) * vp.width
         + xp.minimum(fx.astype(np.int64), vp.width - 1))
    if g.cat is not None:
        c = columns[g.cat].astype(np.int64)
        ok &= (c >= 0) & (c < g.ncat)
        k = k * g.ncat + c
    if g.column is not None:
        ok &= ~xp.isnan(columns[g.column])
    return xp.where(ok, k, plan.pixels * g.ncat)


def _keys(order, vals, rows):
    if order == "max":
        return -vals
    if order == "min":
        return vals
    return (rows if order == "first" else -rows).astype(np.float64)


def append(plan, g, planes, columns, row0, xp):
    """Fold one chunk into part 0 of a ranked group's planes."""
    slot = bin_rows(xp, plan, g, columns)
    rows = xp.arange(slot.shape[0], dtype=np.int64) + np.int64(row0)
    vals = columns[g.column].astype(np.float64) if g.column is not None else None
    # what the pixel reports: the lookup column of where(), else the value (a where() of the
    # row index reads the ``row`` plane)
    out = columns[g.lookup].astype(np.float64) if g.lookup is not None else vals
    key = _keys(g.order, vals, rows)
    # sort rows by (slot, key, row), rank each within its slot, keep ranks < n
    o = xp.argsort(key, kind="stable")
    o = o[xp.argsort(slot[o], kind="stable")]
    s = slot[o]
    start = xp.searchsorted(s, s, side="left")
    rank = xp.arange(s.shape[0]) - start
    keep = rank < g.n
    fresh = {name: xp.full(planes[name].shape[1:], fill, dtype=planes[name].dtype)
             for name, fill in (("key", np.inf), ("row", EMPTY_ROW), ("out", np.nan))}
    at = (s[keep], rank[keep])
    fresh["key"][at] = key[o][keep]
    fresh["row"][at] = rows[o][keep]
    fresh["out"][at] = out[o][keep]
    merged = merge({k: v[0] for k, v in planes.items()}, fresh, xp)
    for k, v in merged.items():
        planes[k][0] = v


def merge(a, b, xp):
    """The best ``n`` of two (slots, n) partials, per slot, in (key, row) order."""
    n = a["key"].shape[-1]
    both = {k: xp.concatenate([a[k], b[k]], axis=-1) for k in a}
    o = xp.argsort(both["row"], axis=-1, kind="stable")
    o = xp.take_along_axis(o, xp.argsort(xp.take_along_axis(both["key"], o, axis=-1),
                                         axis=-1, kind="stable"), axis=-1)[..., :n]
    return {k: xp.take_along_axis(v, o, axis=-1) for k, v in both.items()}
