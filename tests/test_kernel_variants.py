"""How many variants of the CPU aggregation kernel get compiled: each costs seconds on first use.

The CPU glue normalises the kernel's inputs (``cpu_fallback.backend.kernel_columns``) so that one
variant per coordinate dtype serves every reduction kind, and ``gpu-render warm`` (run at
install) compiles those variants into numba's cache. These tests fail when a change makes a kind,
a source type or a writable array compile a variant of its own. Correctness of the results stays
with the datashader oracle tests.
"""
import numba
import numpy as np
import pandas as pd

import gpu_render as ds
from cpu_fallback import kernels as K
from cpu_fallback.backend import kernel_columns
from cpu_fallback.precompile import DTYPES, precompile
from gpu_render import backend as B
from gpu_render.cli import main

REDUCTIONS = (ds.count(), ds.any(), ds.count("v"), ds.sum("v"), ds.mean("v"), ds.min("v"),
              ds.max("v"), ds.std("v"), ds.var("v"), ds.first("v"), ds.last("v"),
              ds.count_cat("c"), ds.by("c"), ds.by("c", ds.sum("v")))


def _variants(dtype):
    """Compiled ``aggregate`` variants whose x, y and value columns are ``dtype`` and whose
    category codes are int8 (the ones ``precompile`` makes)."""
    want = numba.from_dtype(np.dtype(dtype))

    def ours(sig):
        xs, ys, vals, cats = sig[2:6]
        return {a.dtype for a in (xs, ys, vals)} == {want} and cats.dtype == numba.int8
    return [s for s in K.aggregate.signatures if ours(s)]


def _sources(dtype, n=2_000):
    rng = np.random.default_rng(7)
    cols = {"x": rng.normal(0, 1, n).astype(dtype), "y": rng.normal(0, 1, n).astype(dtype),
            "v": rng.random(n).astype(dtype)}
    cols["v"][::17] = np.nan
    codes = rng.integers(-1, 4, n).astype(np.int8)
    frame = pd.DataFrame({**cols, "c": pd.Categorical.from_codes(codes, list("abcd"))})
    return {"pandas": frame, "dict": {**cols, "c": frame["c"].array}}


def test_precompile_compiles_one_variant_per_dtype_that_every_kind_uses():
    precompile()
    before = set(K.aggregate.signatures)
    for dt in DTYPES:
        assert len(_variants(dt)) == 1, (dt, _variants(dt))
        for kind, source in _sources(dt).items():
            cvs = ds.Canvas(plot_width=31, plot_height=17, x_range=(-2, 2), y_range=(-2, 2))
            for red in REDUCTIONS:
                agg = cvs.points(source, "x", "y", red, backend="cpu")
                assert agg.shape[:2] == (17, 31)
    new = set(K.aggregate.signatures) - before
    assert not new, f"rendering compiled {len(new)} more aggregate variant(s): {sorted(map(str, new))}"


def test_kernel_columns_normalise_to_one_signature():
    x4 = np.arange(5, dtype=np.float32)
    x8 = np.arange(5, dtype=np.float64)
    v4 = np.full(5, 2.0, np.float32)
    codes16 = np.array([0, 1, -1, 300, 2], np.int16)
    xs, ys, vals, cats = kernel_columns(x4, x8, v4, codes16)
    assert xs.dtype == ys.dtype == np.float64 and np.array_equal(xs, x8)
    assert cats.dtype == np.int32 and np.array_equal(cats, codes16)
    assert not any(a.flags.writeable for a in (xs, ys, vals, cats))
    assert x4.flags.writeable and v4.flags.writeable  # the caller's arrays are left alone
    # a writable column, a read-only one and no value column at all type the same
    ro = x4.copy()
    ro.flags.writeable = False
    types = {tuple(numba.typeof(a) for a in kernel_columns(x, x, v, None))
             for x in (x4, ro) for v in (None, v4, ro)}
    assert len(types) == 1, types


def test_warm_command(capsys):
    assert main(["warm"]) == 0
    out = capsys.readouterr().out
    for dt in DTYPES:
        assert f"aggregate, finite_bounds ({np.dtype(dt).name})" in out


def test_finite_bounds_shared_by_both_backends():
    from gpu_render.hostkernels.bounds import finite_bounds
    a = np.array([np.nan, 3.0, -np.inf, -2.5, np.inf, 7.0], np.float32)
    assert finite_bounds(a, 2) == (-2.5, 7.0)
    assert finite_bounds(a[:1], 3) == (np.inf, -np.inf)
    be, _ = B.probe("cpu", explicit=True)
    assert be.bounds(a) == (-2.5, 7.0)
