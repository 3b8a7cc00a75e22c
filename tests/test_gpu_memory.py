"""Device memory: RMM set up only when nothing else did, free memory read from RMM's resource,
a failing RMM falls back to CuPy's pool, OOM retries that never double count, and host data
copied without CuPy's pinned staging pool. RMM and CuPy are fakes (no GPU here)."""
import sys
import types

import numpy as np
import pandas as pd
import pytest

import gpu_render as ds
from gpu_render import backend as B
from gpu_render.gpu import backend as G
from gpu_render.gpu import memory as M
from gpu_render.xp import to_host


class Resource:
    def __init__(self, upstream=None):
        if upstream is not None:
            self.upstream_mr = upstream


class CudaMemoryResource(Resource):
    pass


class PoolMemoryResource(Resource):
    def __init__(self, upstream=None, size=0):
        super().__init__(upstream)
        self.size = size

    def pool_size(self):
        return self.size


class StatisticsResourceAdaptor(Resource):
    current = 0

    @property
    def allocation_counts(self):
        return {"current_bytes": self.current, "current_count": 1}


def fake_rmm(current=None, initialized=False, fail=None):
    rmm = types.ModuleType("rmm")
    rmm.__version__ = "25.10.00"
    rmm.calls = []
    state = {"mr": current or CudaMemoryResource(), "init": initialized}

    def reinitialize(pool_allocator=False, **kw):
        rmm.calls.append(("reinitialize", pool_allocator))
        if fail:
            raise fail
        state["mr"], state["init"] = PoolMemoryResource(CudaMemoryResource(), 1 << 30), True
    rmm.reinitialize = reinitialize
    rmm.is_initialized = lambda: state["init"]
    rmm.mr = types.SimpleNamespace(
        get_current_device_resource=lambda: state["mr"],
        set_current_device_resource=lambda mr: state.update(mr=mr),
        StatisticsResourceAdaptor=StatisticsResourceAdaptor, PoolMemoryResource=PoolMemoryResource)
    allocators = types.ModuleType("rmm.allocators")
    alloc_cupy = types.ModuleType("rmm.allocators.cupy")
    alloc_cupy.rmm_cupy_allocator = "rmm_cupy_allocator"
    alloc_numba = types.ModuleType("rmm.allocators.numba")
    alloc_numba.RMMNumbaManager = object
    return rmm, {"rmm": rmm, "rmm.allocators": allocators, "rmm.allocators.cupy": alloc_cupy,
                 "rmm.allocators.numba": alloc_numba}


@pytest.fixture
def install(monkeypatch):
    monkeypatch.setattr(M, "_STATE", {"rmm": None, "reason": "not set up"})
    cupy = types.ModuleType("cupy")
    cupy.allocator = None
    cupy.cuda = types.SimpleNamespace(set_allocator=lambda a: setattr(cupy, "allocator", a))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(sys.modules["numba"].cuda, "set_memory_manager", lambda m: None, raising=False)

    def put(**kw):
        rmm, mods = fake_rmm(**kw)
        for name, mod in mods.items():
            monkeypatch.setitem(sys.modules, name, mod)
        return rmm, cupy
    return put


def test_rmm_pool_created_when_nothing_configured_it(install):
    rmm, cupy = install()
    reason = M.setup(rmm=True)
    assert rmm.calls == [("reinitialize", True)] and cupy.allocator == "rmm_cupy_allocator"
    mr = rmm.mr.get_current_device_resource()
    assert isinstance(mr, StatisticsResourceAdaptor) and isinstance(mr.upstream_mr, PoolMemoryResource)
    assert "an RMM pool" in reason


@pytest.mark.parametrize("current,initialized", [
    (PoolMemoryResource(CudaMemoryResource(), 24 << 30), True),     # dask-cuda's rmm_pool_size
    (PoolMemoryResource(CudaMemoryResource(), 2 << 30), False),     # the user's own resource
])
def test_existing_rmm_configuration_is_respected(install, current, initialized):
    rmm, cupy = install(current=current, initialized=initialized)
    reason = M.setup(rmm=True)
    assert rmm.calls == [] and rmm.mr.get_current_device_resource() is current
    assert cupy.allocator == "rmm_cupy_allocator" and "set up before" in reason


def test_rmm_failure_falls_back_to_cupys_pool(install):
    rmm, cupy = install(fail=RuntimeError("out of memory creating the pool"))
    reason = M.setup(rmm=True)
    assert cupy.allocator is None and M._STATE["rmm"] is False
    assert reason.startswith("CuPy memory pool (RMM could not start") and "out of memory" in reason


def test_free_memory_counts_rmms_unused_pool(install):
    rmm, _ = install()
    M.setup(rmm=True)
    stats = rmm.mr.get_current_device_resource()
    stats.current = 300 << 20                       # 300 MiB of the 1 GiB pool in use
    xp = types.SimpleNamespace(__name__="cupy", cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(memGetInfo=lambda: (16 << 20, 80 << 30))))
    assert M.free_device_bytes(xp) == (16 << 20) + (1 << 30) - (300 << 20)


def test_host_to_device_copies_without_the_pinned_pool():
    class Dev:
        def __init__(self, shape, dtype):
            self.data = np.empty(shape, dtype)

        def set(self, host):
            assert not isinstance(host, Dev)
            self.data[...] = host
    xp = types.SimpleNamespace(empty=Dev, asarray=lambda a: pytest.fail("cupy.asarray stages through pinned memory"))
    out = M.host_to_device(xp, np.arange(5.0)[::-1])
    np.testing.assert_array_equal(out.data, [4, 3, 2, 1, 0])


GPU, GPU_REASON = B.probe("gpu", explicit=True)


@pytest.mark.skipif(GPU is None, reason=f"GPU backend unavailable: {GPU_REASON}")
def test_out_of_memory_in_the_var_temporaries_never_double_counts(monkeypatch):
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"x": rng.uniform(0, 1, n), "y": rng.uniform(0, 1, n), "v": rng.normal(0, 1, n)})
    agg = ds.summary(n=ds.count(), lo=ds.min("v"), sd=ds.std("v"))
    kw = dict(plot_width=6, plot_height=4, x_range=(0, 1), y_range=(0, 1))
    ref = ds.Canvas(**kw).points(df, "x", "y", agg, backend="cpu")
    real_merge, failed = G.P.merge, []

    def merge_once_out_of_memory(kind, a, b, xp):
        if not failed:
            failed.append(kind)
            raise MemoryError("out of memory in the merge temporaries")
        return real_merge(kind, a, b, xp)
    monkeypatch.setattr(G.P, "merge", merge_once_out_of_memory)
    got = ds.Canvas(**kw).points(df, "x", "y", agg, backend="gpu")
    assert failed
    for name in ("n", "lo", "sd"):
        np.testing.assert_allclose(to_host(got[name].data), ref[name].data, rtol=1e-9, equal_nan=True)
