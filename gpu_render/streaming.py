"""``StreamingAggregate``: a running aggregate over batches of rows, rendered on demand.

Each ``update(batch)`` aggregates the batch into fresh partial planes with the backend's kernels
and merges them into the running state with ``planes.merge`` (rows numbered across batches, so
``first``/``last`` keep stream order); without decay the result equals aggregating all rows at
once. Old data can fade: ``decay=f`` multiplies the running weights (count, sum, squared
deviations) by ``f`` before each batch is added (exponential forgetting; count-like reductions
then give float weights), or ``window=n`` keeps only the last ``n`` batches.
With ``hex_size``, the running aggregate is per hexagon (``Canvas.hexbin``'s lattice, cells
and result), merged the same way.
``watch_parquet(directory)`` yields the tables of Parquet files as they appear, to feed it.
"""
from __future__ import annotations

import collections
import glob
import os
import time

import numpy as np

from . import backend as B
from . import planes as P
from .axes import Viewport, validate_range
from .errors import RenderError
from .hexgrid import HexLattice
from .plan import make_plan
from .reductions import count

_DECAYABLE = (P.COUNT, P.COUNT_VALID, P.SUM, P.VAR)


class StreamingAggregate:
    """Keep the aggregate of a stream of batches on a fixed canvas; ``agg()`` / ``shade()``.
    ``hex_size``/``hex_origin``: per hexagon, as ``Canvas.hexbin(size=, origin=)``."""

    def __init__(self, x, y, agg=None, *, width=800, height=600, x_range, y_range, geo=False,
                 decay=None, window=None, backend="auto", hex_size=None, hex_origin=(0.0, 0.0)):
        from .pipeline import _named
        from .render import geo_ranges

        if geo:
            x_range, y_range = geo_ranges(x_range, y_range)
        for name, rng in (("x_range", x_range), ("y_range", y_range)):
            if rng is None:
                raise RenderError(f"a stream needs a fixed {name}: it cannot be computed from data "
                                  "that has not arrived yet.")
            validate_range(name, rng, "linear")
        if decay is not None and window is not None:
            raise RenderError("use either decay (exponential) or window (last n batches), not both.")
        if decay is not None and not (isinstance(decay, (int, float)) and 0 < decay <= 1):
            raise RenderError(f"decay must be a factor in (0, 1], got {decay!r}.")
        if window is not None and not (isinstance(window, int) and window >= 1):
            raise RenderError(f"window must be a whole number of batches >= 1, got {window!r}.")
        from .canvas import _check_size
        width, height = _check_size("width", width), _check_size("height", height)
        self.x, self.y, self.geo = x, y, geo
        self.named, self.is_summary = _named(count() if agg is None else agg)
        self.viewport = Viewport(width, height, tuple(x_range), tuple(y_range))
        self.lattice = None if hex_size is None else HexLattice(width, height, hex_size, hex_origin)
        self.backend = B.select(backend)
        self.decay, self.window = decay, window
        self.categories = None
        self.plan = None
        self.rows = 0
        self.batches = 0
        self._state = None
        self._recent = collections.deque(maxlen=window) if window else None

    def _make_plan(self, table):
        cat_cols = list(dict.fromkeys(r.cat_column for r in self.named.values() if r.cat_column))
        cats = {c: table.categorical(c)[1] for c in cat_cols}
        if self.lattice is None:
            plan = make_plan(self.viewport, self.x, self.y, self.named, cats)
        else:   # the cells of HexTable as both coordinates of a one-row canvas
            plan = make_plan(self.lattice.viewport, table.cell, table.cell, self.named, cats)
        if self.decay is not None:
            bad = [g for g in plan.groups if g.kind not in _DECAYABLE]
            if bad:
                raise RenderError("exponential decay works for count, sum, mean, var and std; "
                                  "min, max, first and last cannot fade (use window=n instead).")
        return plan

    def update(self, batch):
        """Aggregate ``batch`` (anything ``render`` accepts: DataFrame, Arrow table, dict of arrays,
        file path) into the running state."""
        from .sources import MercatorTable, open_table

        cols = [self.x, self.y] + [c for r in self.named.values() for c in r.columns()]
        table = open_table(batch, list(dict.fromkeys(cols)))
        if self.geo:
            table = MercatorTable(table, self.x, self.y)
        if self.lattice is not None:
            from .hextable import HexTable
            table = HexTable(table, self.x, self.y, self.viewport, self.lattice)
        if self.plan is None:
            self.plan = self._make_plan(table)
        cat_cols = list(self.plan.categories)
        for c in cat_cols:
            labels = table.categorical(c)[1]
            if list(labels) != list(self.plan.categories[c]):
                raise RenderError(f"category column {c!r} has categories {labels} in this batch but "
                                  f"{self.plan.categories[c]} before; give every batch the same categories.")
        from .pipeline import accumulate, job_for
        be = self.backend
        partial = accumulate(job_for(self.plan, table, be, row0=self.rows))
        xp = be.xp
        batch_state = [P.collapse(g.kind, planes, xp) for g, planes in zip(self.plan.groups, partial)]
        self.rows += len(table)
        self.batches += 1
        if self._recent is not None:
            self._recent.append(batch_state)
        elif self._state is None:
            self._state = [self._weights(s) for s in batch_state]
        else:
            if self.decay is not None and self.decay != 1:
                self._state = [_scale(g.kind, s, self.decay) for g, s in zip(self.plan.groups, self._state)]
            self._state = [P.merge(g.kind, a, self._weights(b), xp)
                           for g, a, b in zip(self.plan.groups, self._state, batch_state)]
        return self

    def _weights(self, state):
        """Counts as float64 when they will be decayed (fractional weights)."""
        if self.decay is None or "cnt" not in state:
            return state
        return {**state, "cnt": state["cnt"].astype(np.float64)}

    def merged(self):
        """The running planes (one dict per group)."""
        if self.plan is None:
            raise RenderError("the stream has no batches yet; call update(batch) first.")
        if self._recent is None:
            return self._state
        xp = self.backend.xp
        out = list(self._recent[0])
        for later in list(self._recent)[1:]:
            out = [P.merge(g.kind, a, b, xp) for g, a, b in zip(self.plan.groups, out, later)]
        return out

    def agg(self):
        """The current aggregate as datashader-shaped xarray (as ``Canvas.points`` returns)."""
        from .pipeline import finalize_arrays, to_xarray

        partial = [{k: v[None] for k, v in s.items()} for s in self.merged()]   # one part
        grids = finalize_arrays(self.plan, partial, self.backend,
                                float_counts=self.decay is not None)
        if self.lattice is not None:
            from .hexbin import hex_grids
            grids = hex_grids(grids, self.lattice, self.viewport, self.x, self.y)
        for g in grids.values():
            g.attrs.update(rows=self.rows, batches=self.batches)
        return to_xarray(grids, self.is_summary)

    def shade(self, cmap="fire", how="eq_hist", **kwargs):
        """The current aggregate shaded with ``tf.shade`` (a single reduction)."""
        from . import transfer_functions as tf
        if self.is_summary:
            raise RenderError("shade() needs a single reduction; shade one variable of agg() instead.")
        a = self.agg()
        return tf.shade(a, how=how, **kwargs) if a.ndim == 3 else tf.shade(a, cmap=cmap, how=how, **kwargs)


def _scale(kind, state, f):
    """Weights multiplied by ``f`` (an exponential forgetting step); means are unchanged."""
    out = dict(state)
    for k in ("cnt", "sum", "m2"):
        if k in out:
            out[k] = out[k] * f
    return out


def watch_parquet(directory, poll_seconds=1.0, timeout=None, columns=None):
    """Yield ``(path, pyarrow.Table)`` for each Parquet file that appears in ``directory``
    (existing ones first, in name order), polling; stops after ``timeout`` idle seconds.
    Writers should write to a temporary name and rename (files are read once, when seen)."""
    import pyarrow.parquet as pq
    if not os.path.isdir(directory):
        raise RenderError(f"{directory} is not a directory.")
    seen = set()
    idle_since = time.monotonic()
    while True:
        new = sorted(set(glob.glob(os.path.join(directory, "*.parquet"))) - seen)
        for path in new:
            seen.add(path)
            yield path, pq.read_table(path, columns=columns)
            idle_since = time.monotonic()
        if timeout is not None and time.monotonic() - idle_since > timeout:
            return
        if not new:
            time.sleep(poll_seconds)
