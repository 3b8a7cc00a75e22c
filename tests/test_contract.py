"""The backend contract (``gpu_render.backend.Backend``): every hook of every real backend, and a
backend that implements only the abstract methods rendering through the whole pipeline."""
import inspect

import numpy as np
import pytest

import gpu_render as ds
from gpu_render import backend as B
from gpu_render import planes as P
from gpu_render.axes import Viewport
from gpu_render.plan import make_plan

HOOKS = ("new_partial", "aggregate", "free_bytes", "describe", "kernel_input", "stage", "to_host",
         "combine", "finalize", "warm_up", "synchronize", "share_cores", "reset_peak",
         "peak_bytes", "transfer_stats", "bounds")
FLAGS = ("name", "xp", "parts", "merge_rows", "narrow_float64")


def _plan(reductions, w=16, h=12):
    return make_plan(Viewport(w, h, (0.0, 1.0), (0.0, 1.0)), "x", "y", reductions, {})


def _columns(rng, n=500):
    return {"x": rng.random(n), "y": rng.random(n), "v": rng.normal(size=n)}


def test_the_contract_declares_every_hook_with_a_documented_default():
    for name in HOOKS:
        fn = getattr(B.Backend, name)
        assert callable(fn) and inspect.getdoc(fn), name
    assert set(B.Backend.__abstractmethods__) == {"new_partial", "aggregate", "free_bytes", "describe"}
    for flag in FLAGS:
        assert flag in vars(B.Backend) or flag in B.Backend.__annotations__, flag
    with pytest.raises(TypeError):
        B.Backend()     # abstract


def test_every_hook_of_a_real_backend(backend, rng):
    be = B.select(backend)
    assert isinstance(be, B.Backend) and be.name == backend
    assert isinstance(be.parts, int) and be.parts >= 1
    assert be.merge_rows is None or (isinstance(be.merge_rows, int) and be.merge_rows > 0)
    assert be.narrow_float64 is (backend == "gpu")     # the GPU narrows float64 by default
    assert isinstance(be.free_bytes(), int) and be.free_bytes() > 0
    info = be.describe()
    assert info["usable"] is True

    be.warm_up()
    cols = _columns(rng)
    plan = _plan({"count": ds.count(), "mean": ds.mean("v"), "max": ds.max("v"), "last": ds.last("v")})
    be.reset_peak()
    partial = be.new_partial(plan)
    assert len(partial) == len(plan.groups)
    half = len(cols["x"]) // 2
    be.aggregate(plan, partial, {k: be.kernel_input(v[:half]) for k, v in cols.items()}, 0)
    # the second half staged (the GPU: copied ahead through pinned buffers), as files are
    staged = be.stage({k: np.ascontiguousarray(v[half:]) for k, v in cols.items()})
    assert set(staged) == set(cols) and all(len(v) == len(cols["x"]) - half for v in staged.values())
    other = be.new_partial(plan)
    be.aggregate(plan, other, {k: be.kernel_input(v) for k, v in staged.items()}, half)
    be.synchronize()
    merged = be.combine(plan, partial, other)
    flat = {k: be.to_host(v) for k, v in be.finalize(plan, merged).items()}
    assert all(isinstance(v, np.ndarray) for v in flat.values())

    whole = be.new_partial(plan)
    be.aggregate(plan, whole, {k: be.kernel_input(v) for k, v in cols.items()}, 0)
    for name, v in be.finalize(plan, whole).items():
        np.testing.assert_allclose(be.to_host(v), flat[name], equal_nan=True)

    # the oracle: datashader on the same rows
    import datashader
    import pandas as pd
    cvs = datashader.Canvas(16, 12, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    df = pd.DataFrame(cols)
    np.testing.assert_array_equal(flat["count"].reshape(12, 16), cvs.points(df, "x", "y").values)
    np.testing.assert_allclose(flat["mean"].reshape(12, 16),
                               cvs.points(df, "x", "y", datashader.mean("v")).values, equal_nan=True)

    peak = be.peak_bytes()
    if backend == "gpu":    # tracked: at least the planes the kernels wrote
        plane_bytes = sum(v.nbytes for g in whole for v in g.values())
        assert isinstance(peak, int) and peak >= plane_bytes
        be.reset_peak()
        assert be.peak_bytes() == 0
    else:                   # the CPU's planes are host memory: profiles report peak RSS instead
        assert peak is None

    stats = be.transfer_stats()
    assert stats is None or {"chunks", "bytes", "pinned_bytes", "stage_s", "slot_wait_s"} <= set(stats)

    be.share_cores(True, True)      # advice only: results do not change
    again = be.new_partial(plan)
    be.aggregate(plan, again, {k: be.kernel_input(v) for k, v in cols.items()}, 0)
    be.share_cores(False)
    for name, v in be.finalize(plan, again).items():
        np.testing.assert_allclose(be.to_host(v), flat[name], equal_nan=True)

    arr = np.array([np.nan, -np.inf, 3.0, -2.0, np.inf, 7.5])
    assert be.bounds(arr) == (-2.0, 7.5)
    lo, hi = be.bounds(np.array([np.nan, np.inf]))
    assert lo == np.inf and hi == -np.inf


class _NumpyCountBackend(B.Backend):
    """Only the abstract methods, with numpy: count and sum kinds."""

    name = "numpy-count"

    def new_partial(self, plan):
        return [P.new_planes(g.kind, 1, plan.slots(g)) for g in plan.groups]

    def aggregate(self, plan, partial, columns, row0=0):
        vp = plan.viewport
        xs, ys = columns[plan.x], columns[plan.y]
        (x0, x1), (y0, y1) = vp.x_range, vp.y_range
        ix = np.floor((xs - x0) / (x1 - x0) * vp.width)
        iy = np.floor((ys - y0) / (y1 - y0) * vp.height)
        ix = np.where(xs == x1, vp.width - 1, ix)
        iy = np.where(ys == y1, vp.height - 1, iy)
        ok = (ix >= 0) & (ix < vp.width) & (iy >= 0) & (iy < vp.height)
        cell = np.where(ok, iy * vp.width + ix, plan.pixels).astype(np.int64)
        for g, planes in zip(plan.groups, partial):
            assert g.kind in (P.COUNT, P.SUM)
            if g.kind == P.SUM:
                vals = columns[g.column]
                keep = ~np.isnan(vals)
                np.add.at(planes["sum"][0], cell[keep], vals[keep])
                np.add.at(planes["cnt"][0], cell[keep], 1)
            else:
                np.add.at(planes["cnt"][0], cell, 1)

    def free_bytes(self):
        return 1 << 30

    def describe(self):
        return {"usable": True}


def test_a_backend_with_only_the_abstract_methods_renders_files_and_frames(monkeypatch, tmp_path, rng):
    """The pipeline needs nothing a backend does not declare: the defaults carry a file render."""
    import pandas as pd
    minimal = _NumpyCountBackend()
    monkeypatch.setattr(B, "select", lambda name="auto": minimal)
    df = pd.DataFrame(_columns(rng, 2000))
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    cvs = ds.Canvas(16, 12, x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    for source in (df, str(path)):
        got = cvs.points(source, "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")))
        assert ds.info()["last_used"] == "numpy-count"
        monkeypatch.undo()
        ref = cvs.points(df, "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")), backend="cpu")
        monkeypatch.setattr(B, "select", lambda name="auto": minimal)
        np.testing.assert_array_equal(got["n"].values, ref["n"].values)
        np.testing.assert_allclose(got["m"].values, ref["m"].values, equal_nan=True)
        assert "backend" not in got.attrs


def test_no_module_probes_backend_hooks_with_getattr():
    """Hooks are declared on ``Backend``: nothing looks them up by name."""
    import pathlib
    import re
    root = pathlib.Path(ds.__file__).parent
    hooks = "|".join(HOOKS + FLAGS[2:] + ("read_file", "upload", "to_device"))
    pattern = re.compile(rf"(getattr|hasattr)\([^,]*,\s*[\"']({hooks})[\"']")
    files = list(root.rglob("*.py")) + list((root.parent / "cpu_fallback").rglob("*.py"))
    found = [f"{f.name}: {m.group(0)}" for f in files for m in pattern.finditer(f.read_text())]
    assert found == []
