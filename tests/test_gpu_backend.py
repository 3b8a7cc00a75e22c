"""The GPU backend against the CPU backend, reduction by reduction, plus selection and memory.

Without a GPU this runs on Numba's CUDA simulator (conftest sets NUMBA_ENABLE_CUDASIM=1), so
every kernel is exercised on every run; on a machine with a GPU the same tests run for real.
"""
import os

import numpy as np
import pandas as pd
import pytest

import gpu_render as ds
from gpu_render import backend as B
from gpu_render.errors import RenderError
from gpu_render.gpu import backend as G
from gpu_render.gpu import memory as M
from gpu_render.xp import to_host

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"   # set by conftest without a GPU

GPU, GPU_REASON = B.probe("gpu", explicit=True)
pytestmark = [pytest.mark.skipif(GPU is None, reason=f"GPU backend unavailable: {GPU_REASON}"),
              # inf - inf in the test data; the simulator runs kernels as numpy scalar code
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]
N = 3_000 if SIMULATED else 200_000

REDUCTIONS = dict(
    count=ds.count(), count_v=ds.count("v"), any=ds.any(), sum=ds.sum("v"), mean=ds.mean("v"),
    min=ds.min("v"), max=ds.max("v"), std=ds.std("v"), var=ds.var("v"), first=ds.first("v"),
    last=ds.last("v"), count_cat=ds.count_cat("c"), by_mean=ds.by("c", ds.mean("v")))


@pytest.fixture
def gpu():
    """The GPU backend, with its test knobs put back afterwards."""
    yield GPU
    GPU.budget_bytes = None
    GPU.shared_slots = None
    GPU.warp_aggregate = G.warp_aggregate_default()


def make_data(dtype, log=False, n=N, seed=7):
    """Points with NaN/inf coordinates and values, points on the range edges and outside."""
    rng = np.random.default_rng(seed)
    if log:
        x, y = 10 ** rng.uniform(-2.2, 1.1, n), 10 ** rng.uniform(-2.2, 1.1, n)
        x[::101] = -1.0
        edges = (0.01, 10.0)
    else:
        x, y = rng.normal(0, 1.2, n), rng.normal(0, 1.2, n)
        edges = (-2.0, 2.0)
    x[::37], y[::53] = np.nan, np.inf
    x[5::61], y[5::61] = edges[1], edges[1]      # upper edges: clamped into the last pixel
    x[7::67], y[7::67] = edges[0], edges[0]      # lower edges
    v = rng.normal(10, 3, n)
    v[::19], v[3::211], v[4::307] = np.nan, np.inf, -np.inf
    c = pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])
    df = pd.DataFrame({"x": x.astype(dtype), "y": y.astype(dtype), "v": v.astype(dtype), "c": c})
    return df, edges


def assert_same(gpu_out, cpu_out, nonfinite_equal=False):
    """Exact for integers and booleans, allclose for floats; same dims, coords and dtype.

    ``nonfinite_equal``: NaN and +-inf count as the same (std/var of a cell holding an infinite
    value and others is inf or NaN depending on summation order, on the CPU too)."""
    assert gpu_out.dims == cpu_out.dims
    assert gpu_out.dtype == cpu_out.dtype
    for d in cpu_out.dims:
        np.testing.assert_array_equal(np.asarray(gpu_out.coords[d]), np.asarray(cpu_out.coords[d]))
    g, c = to_host(gpu_out.data), np.asarray(cpu_out.data)
    if c.dtype.kind in "iub":
        np.testing.assert_array_equal(g, c)
    else:
        if nonfinite_equal:
            np.testing.assert_array_equal(np.isfinite(g), np.isfinite(c))
            g, c = np.where(np.isfinite(g), g, np.nan), np.where(np.isfinite(c), c, np.nan)
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-9, equal_nan=True)


CASES = [  # (width, height, dtype, log axes, shared-memory histograms allowed)
    (1, 1, np.float64, False, True),
    (1, 1, np.float32, False, False),     # every point in one pixel on the device-atomic path
    (7, 5, np.float32, False, True),
    (7, 5, np.float64, True, False),
    (80, 60, np.float64, False, True),     # 4800 cells: larger than a shared histogram
    (80, 60, np.float32, True, True),
]


@pytest.mark.parametrize("w,h,dtype,log,shared", CASES)
def test_every_reduction_matches_cpu(gpu, w, h, dtype, log, shared):
    df, edges = make_data(dtype, log)
    gpu.shared_slots = None if shared else 0
    axis = "log" if log else "linear"
    cvs = ds.Canvas(w, h, edges, edges, x_axis_type=axis, y_axis_type=axis)
    agg = ds.summary(**REDUCTIONS)
    out_gpu = cvs.points(df, "x", "y", agg, backend="gpu")
    assert ds.info()["last_used"] == "gpu"
    out_cpu = cvs.points(df, "x", "y", agg, backend="cpu")
    assert ds.info()["last_used"] == "cpu"
    assert int(to_host(out_gpu["count"].data).sum()) > 0
    for name in REDUCTIONS:
        assert_same(out_gpu[name], out_cpu[name], nonfinite_equal=name in ("std", "var"))


@pytest.fixture
def launched(monkeypatch):
    """The kernel keys the GPU backend launches, in order."""
    keys = []
    original = G.GPUBackend._launch
    monkeypatch.setattr(G.GPUBackend, "_launch",
                        lambda self, key, *a: (keys.append(key), original(self, key, *a))[1])
    return keys


COUNTS = dict(count=ds.count(), count_v=ds.count("v"), any=ds.any(), count_cat=ds.count_cat("c"),
              by_count=ds.by("c", ds.count("v")))


def _sorted_in_space(df, w, h, edges):
    """The rows ordered by their pixel (as a spatial index stores them), so the 32 lanes of a
    warp, which read 32 consecutive rows, mostly share a cell; NaN/off-grid rows come last."""
    span = edges[1] - edges[0]
    px = np.clip(((df.x - edges[0]) / span * w).fillna(-1), -1, w).astype(int)
    py = np.clip(((df.y - edges[0]) / span * h).fillna(-1), -1, h).astype(int)
    return df.iloc[np.argsort(py.to_numpy() * (w + 2) + px.to_numpy(), kind="stable")]


@pytest.mark.parametrize("w,h,n,order", [(1, 1, 3_000, "random"), (80, 60, 3_000, "random"),
                                         (80, 60, 2_999, "sorted"), (9, 7, 1_001, "sorted")])
def test_warp_aggregated_counts_match_cpu_and_the_default_kernel(gpu, launched, w, h, n, order):
    """``warp_aggregate``: the count kernels of grids past shared memory elect one lane per cell
    in each warp (``match_any_sync``; the simulator exchanges the lanes' keys in shared memory)
    and it adds the cell's lanes. Same counts as the CPU and the default kernel, with NaN,
    off-grid and edge rows, a partial last warp (n not a multiple of 32) and sorted rows."""
    df, edges = make_data(np.float32, n=n)
    if order == "sorted":
        df = _sorted_in_space(df, w, h, edges)
    cvs = ds.Canvas(w, h, edges, edges)
    agg = ds.summary(**COUNTS)
    gpu.shared_slots = 0
    gpu.warp_aggregate = False
    plain = cvs.points(df, "x", "y", agg, backend="gpu")
    assert launched and not any(k[2] for k in launched)
    launched.clear()
    gpu.warp_aggregate = True
    warp = cvs.points(df, "x", "y", agg, backend="gpu")
    assert set(launched) == {("count", False, True), ("count_valid", False, True)}
    cpu = cvs.points(df, "x", "y", agg, backend="cpu")
    assert int(cpu["count"].data.sum()) > 0
    for name in COUNTS:
        assert_same(warp[name], cpu[name])
        assert_same(warp[name], plain[name])


def test_warp_kernels_only_where_shared_memory_does_not_fit(gpu, launched):
    gpu.warp_aggregate = True
    df, edges = make_data(np.float64, n=500)
    out = ds.Canvas(7, 5, edges, edges).points(df, "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")),
                                               backend="gpu")
    assert set(launched) == {("count", True, False), ("sum", True, False)}   # shared, no warp
    ref = ds.Canvas(7, 5, edges, edges).points(df, "x", "y", ds.count(), backend="cpu")
    np.testing.assert_array_equal(to_host(out["n"].data), ref.data)


@pytest.mark.parametrize("value,on", [(None, False), ("0", False), ("1", True), ("yes", True),
                                      ("off", False)])
def test_warp_switch_from_the_environment(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("GPU_RENDER_WARP_AGG", raising=False)
    else:
        monkeypatch.setenv("GPU_RENDER_WARP_AGG", value)
    assert G.warp_aggregate_default() is on


def test_single_reduction_result_lives_on_the_device(gpu):
    df, edges = make_data(np.float64)
    out = ds.Canvas(9, 6, edges, edges).points(df, "x", "y", ds.mean("v"), backend="gpu")
    assert ds.info()["last_used"] == "gpu"
    module = type(out.data).__module__.split(".")[0]
    assert module == ("numpy" if SIMULATED else "cupy")


def test_ranges_computed_on_the_gpu_backend_match(gpu):
    df, _ = make_data(np.float64)
    a = ds.Canvas(11, 7).points(df, "x", "y", ds.count(), backend="gpu")
    b = ds.Canvas(11, 7).points(df, "x", "y", ds.count(), backend="cpu")
    assert a.attrs["x_range"] == b.attrs["x_range"] and a.attrs["y_range"] == b.attrs["y_range"]
    assert_same(a, b)


def _counting(monkeypatch, name, fail_first=0):
    calls = {"n": 0}
    original = getattr(G.GPUBackend, name)

    def wrapper(self, *args):
        calls["n"] += 1
        if calls["n"] <= fail_first:
            raise MemoryError("out of memory (injected)")
        return original(self, *args)
    monkeypatch.setattr(G.GPUBackend, name, wrapper)
    return calls


CHUNK_AGG = ds.summary(count=ds.count(), var=ds.var("v"), first=ds.first("v"), last=ds.last("v"),
                       max=ds.max("v"), cat=ds.count_cat("c"))


def test_tiny_memory_budget_processes_in_chunks(gpu, monkeypatch):
    df, edges = make_data(np.float32)
    cvs = ds.Canvas(7, 5, edges, edges)
    expected = cvs.points(df, "x", "y", CHUNK_AGG, backend="cpu")
    gpu.budget_bytes = 20_000
    calls = _counting(monkeypatch, "_piece")
    out = cvs.points(df, "x", "y", CHUNK_AGG, backend="gpu")
    assert calls["n"] == -(-N // M.MIN_CHUNK_ROWS)     # the budget only allows the smallest chunks
    for name in CHUNK_AGG.reductions:
        assert_same(out[name], expected[name], nonfinite_equal=name == "var")


def test_out_of_memory_retries_with_smaller_chunks(gpu, monkeypatch):
    df, edges = make_data(np.float64)
    cvs = ds.Canvas(7, 5, edges, edges)
    expected = cvs.points(df, "x", "y", CHUNK_AGG, backend="cpu")
    calls = _counting(monkeypatch, "_alloc_piece", fail_first=1)
    out = cvs.points(df, "x", "y", CHUNK_AGG, backend="gpu")
    assert calls["n"] == 3            # the failed attempt, then two halves
    for name in CHUNK_AGG.reductions:
        assert_same(out[name], expected[name], nonfinite_equal=name == "var")


def test_out_of_memory_at_the_smallest_chunk_is_a_clear_error(gpu, monkeypatch):
    df, edges = make_data(np.float64, n=2_000)
    _counting(monkeypatch, "_alloc_piece", fail_first=10**9)
    with pytest.raises(RenderError, match="ran out of memory"):
        ds.Canvas(3, 3, edges, edges).points(df, "x", "y", ds.count(), backend="gpu")


def test_oom_recognition():
    assert M.is_oom(MemoryError())
    assert not M.is_oom(ValueError("bad value"))
    OutOfMemoryError = type("OutOfMemoryError", (Exception,), {})
    assert M.is_oom(OutOfMemoryError("cupy"))
    CudaAPIError = type("CudaAPIError", (Exception,), {})
    e = CudaAPIError("CUDA_ERROR_OUT_OF_MEMORY")
    e.code = 2
    assert M.is_oom(e)


def test_chunk_rows_fits_the_budget():
    rows = M.chunk_rows(8, 1000, 1_000_000)
    assert rows * 8 + 1000 <= 1_000_000 * M.HEADROOM
    assert M.chunk_rows(8, 10**9, 10) == M.MIN_CHUNK_ROWS


def test_shading_on_the_gpu_aggregate_matches_cpu(gpu):
    df, edges = make_data(np.float64)
    cvs = ds.Canvas(20, 15, edges, edges)
    for agg, kw in ((ds.count(), {}), (ds.mean("v"), {"how": "linear"}), (ds.count_cat("c"), {})):
        a = ds.tf.shade(cvs.points(df, "x", "y", agg, backend="gpu"), **kw)
        b = ds.tf.shade(cvs.points(df, "x", "y", agg, backend="cpu"), **kw)
        np.testing.assert_array_equal(to_host(a.data), to_host(b.data))


# ---- selection --------------------------------------------------------------------------------

@pytest.fixture
def fresh_probe(monkeypatch):
    B.probe.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    B.probe.cache_clear()


def test_auto_never_picks_the_simulator(fresh_probe):
    fresh_probe.setattr(G, "_simulated", lambda: True)
    be, reason = G.probe(explicit=False)
    assert be is None and "simulator" in reason
    assert B.select("auto").name == "cpu"
    info = ds.info()
    assert info["auto"] == "cpu" and "simulator" in info["reason"]
    assert info["gpu"]["usable"] is False


def test_explicit_gpu_runs_on_the_simulator(fresh_probe):
    fresh_probe.setattr(G, "_simulated", lambda: True)
    be, reason = G.probe(explicit=True)
    assert be is not None and be.name == "gpu" and be.simulated and "simulator" in reason


def test_missing_driver_is_named_before_importing_numba_cuda(fresh_probe):
    if G._driver_missing() is None:
        pytest.skip("an NVIDIA driver is installed here")
    fresh_probe.setattr(G, "_simulated", lambda: False)
    fresh_probe.setattr(G, "_numba_cuda", lambda: pytest.fail("numba.cuda imported without a driver"))
    be, reason = G.probe(explicit=True)
    assert be is None and reason.startswith("no NVIDIA driver (libcuda.so.1 cannot be loaded)")


class _FakeCuda:
    def __init__(self, available):
        self.available = available

    def is_available(self):
        return self.available


@pytest.mark.parametrize("cuda,cupy,message", [
    (None, object(), "numba-cuda is not installed"),
    (_FakeCuda(False), object(), r"no CUDA device \(numba.cuda.is_available\(\) is False\)"),
    (_FakeCuda(True), None, "CuPy is not installed"),
])
def test_missing_pieces_name_what_is_missing(fresh_probe, cuda, cupy, message):
    fresh_probe.setattr(G, "_simulated", lambda: False)
    fresh_probe.setattr(G, "_driver_missing", lambda: None)
    fresh_probe.setattr(G, "_numba_cuda", lambda: cuda)
    fresh_probe.setattr(G, "_cupy", lambda: cupy)
    be, reason = G.probe(explicit=True)
    assert be is None
    with pytest.raises(RenderError, match=f"backend='gpu' is not usable: {message}"):
        B.select("gpu")
    assert B.select("auto").name == "cpu"
    assert ds.info()["gpu"]["reason"] == reason


def test_info_describes_the_gpu_backend(gpu):
    d = gpu.describe()
    assert d["usable"] and d["device"] and d["numba"]
    assert "allocator" in d


# ---- device-resident sources ----------------------------------------------------------------

def test_device_table_reads_like_the_host_table():
    from gpu_render.gpu.sources import DeviceTable
    rng = np.random.default_rng(3)
    data = {"x": rng.normal(size=50).astype(np.float32), "i": rng.integers(0, 5, 50),
            "f": np.where(rng.random(50) < 0.2, np.nan, rng.integers(0, 4, 50).astype(float))}
    t = DeviceTable(data, "dict of arrays")
    assert len(t) == 50 and t.names == ["x", "i", "f"]
    assert t.numeric("x") is not None and t.numeric("x").dtype == np.float32
    assert t.numeric("i").dtype == np.float64
    codes, labels = t.categorical("f")
    assert labels == sorted(set(data["f"][~np.isnan(data["f"])].tolist()))
    np.testing.assert_array_equal(codes[np.isnan(data["f"])], -1)
    np.testing.assert_array_equal(np.asarray(labels)[codes[codes >= 0]], data["f"][codes >= 0])
    with pytest.raises(RenderError, match="must be numeric"):
        from gpu_render.gpu.sources import device_numeric
        device_numeric("s", np.array(["a", "b"]))


@pytest.mark.skipif(SIMULATED, reason="needs CuPy on a real GPU")
def test_cupy_and_cudf_sources_are_used_in_place(gpu):
    import cupy
    df, edges = make_data(np.float32)
    cvs = ds.Canvas(30, 20, edges, edges)
    dev = {k: cupy.asarray(df[k].to_numpy()) for k in ("x", "y", "v")}
    out = cvs.points(dev, "x", "y", ds.mean("v"), backend="gpu")
    assert_same(out, cvs.points(df, "x", "y", ds.mean("v"), backend="cpu"))
    assert_same(cvs.points(dev, "x", "y", ds.count(), backend="cpu"),
                cvs.points(df, "x", "y", ds.count(), backend="cpu"))
    try:
        import cudf
    except ImportError:
        return
    gdf = cudf.from_pandas(df)
    assert_same(cvs.points(gdf, "x", "y", ds.count_cat("c"), backend="gpu"),
                cvs.points(df, "x", "y", ds.count_cat("c"), backend="cpu"))


@pytest.mark.skipif(SIMULATED, reason="needs CuPy on a real GPU")
def test_cupy_sources_are_hexbinned_on_the_device(gpu, monkeypatch):
    """Device arrays get their hexagons from the CUDA kernel (GPUBackend.hex_cells), on either
    backend, equal to the CPU's hexbin of the same points."""
    import cupy
    from agg_compare import assert_same as same_values   # hexagonal dims have no 1-D coords
    df, edges = make_data(np.float32)
    cvs = ds.Canvas(30, 20, edges, edges)
    dev = {k: cupy.asarray(df[k].to_numpy()) for k in ("x", "y", "v")}
    calls, original = [], G.GPUBackend.hex_cells
    monkeypatch.setattr(G.GPUBackend, "hex_cells", lambda self, *a: calls.append(a) or original(self, *a))
    want = cvs.hexbin(df, "x", "y", ds.mean("v"), size=4, backend="cpu")
    for backend in ("gpu", "cpu"):
        got = cvs.hexbin(dev, "x", "y", ds.mean("v"), size=4, backend=backend)
        assert got.dims == want.dims and got.dtype == want.dtype
        same_values(got, want)
    assert len(calls) >= 2
