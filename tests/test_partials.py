"""Partial grids combine in any tree: chunks, threads, partitions and devices agree with one pass."""
import numpy as np
import pandas as pd
import pytest

import gpu_render as gr
from gpu_render import pipeline


def _frame(rng, n):
    x, y, v = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.standard_normal(n) * 5 + 100
    v[::11] = np.nan
    return pd.DataFrame({"x": x, "y": y, "v": v, "c": pd.Categorical.from_codes(rng.integers(0, 3, n), list("abc"))})


@pytest.mark.parametrize("agg", [gr.count(), gr.sum("v"), gr.mean("v"), gr.min("v"), gr.max("v"), gr.std("v"),
                                 gr.var("v"), gr.first("v"), gr.last("v"), gr.count_cat("c"),
                                 gr.by("c", gr.first("v"))], ids=repr)
def test_chunked_and_combined_equals_one_pass(backend, rng, n_points, agg):
    df = _frame(rng, n_points)
    cv = gr.Canvas(9, 7, x_range=(0, 1), y_range=(0, 1))
    whole = cv.points(df, "x", "y", agg, backend=backend)

    job = pipeline.prepare(cv, df, "x", "y", agg, backend=backend)
    be, table = job.backend, job.table
    cols = {c: table.numeric(c) for c in job.numeric}
    cols.update({c: table.categorical(c)[0] for c in job.categorical})
    cuts = [0, n_points // 5, n_points // 2, n_points]
    parts = []
    for lo, hi in zip(cuts, cuts[1:]):   # each chunk into its own partial, with its row offset
        parts.append(pipeline.accumulate(job, chunks=[(lo, {k: v[lo:hi] for k, v in cols.items()})]))
    combined = be.combine(job.plan, be.combine(job.plan, parts[0], parts[1]), parts[2])  # a tree, in order
    result = pipeline.finalize(job.plan, combined, be)
    np.testing.assert_allclose(np.asarray(result.values, float), np.asarray(whole.values, float),
                               rtol=1e-9, equal_nan=True)

    # the same chunks accumulated into one running partial (the streaming / out-of-core path)
    running = be.new_partial(job.plan)
    for lo, hi in zip(cuts, cuts[1:]):
        pipeline.accumulate(job, running, chunks=[(lo, {k: v[lo:hi] for k, v in cols.items()})])
    again = pipeline.finalize(job.plan, running, be)
    np.testing.assert_allclose(np.asarray(again.values, float), np.asarray(whole.values, float),
                               rtol=1e-9, equal_nan=True)


def test_variance_merge_is_numerically_stable(backend):
    # large offset, small spread: a naive sum of squares (~2e21, float64 step ~3e5) would lose every digit
    n = 2000
    v = 1e9 + np.tile([0.0, 1.0, 2.0, 3.0], n // 4)
    df = pd.DataFrame({"x": np.full(n, 0.5), "y": np.full(n, 0.5), "v": v})
    agg = gr.Canvas(1, 1, x_range=(0, 1), y_range=(0, 1)).points(df, "x", "y", gr.var("v"), backend=backend)
    assert float(np.asarray(agg.values)[0, 0]) == pytest.approx(1.25, rel=1e-7)
