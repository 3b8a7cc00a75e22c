"""Copies to the GPU that overlap the kernels (pinned ring, copy stream, events) and cuDF's
chunked Parquet reading, on Numba's CUDA simulator where there is no GPU.

The simulator completes every copy at once, so ``DeferredDriver`` models a real GPU's
asynchrony: a copy only happens when an event recorded after it is waited on. A stager that
wrote into a pinned buffer before its previous copy completed, or kernels that read a chunk
without waiting for its copy, then give wrong data, and the tests see it.
"""
import os
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_render as ds
from gpu_render import backend as B
from gpu_render import pipeline
from gpu_render.errors import RenderError
from gpu_render.gpu import backend as G
from gpu_render.gpu import sources as S
from gpu_render.gpu import transfer as T

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
GPU, GPU_REASON = B.probe("gpu", explicit=True)
pytestmark = pytest.mark.skipif(GPU is None or not SIMULATED,
                                reason=f"needs the GPU backend on the CUDA simulator ({GPU_REASON})")
N = 2_000
RANGES = dict(x_range=(-3.0, 3.0), y_range=(-2.0, 2.5))
AGG = ds.summary(count=ds.count(), mean=ds.mean("v"), first=ds.first("v"), last=ds.last("v"))


# -- a simulator driver with real asynchrony ----------------------------------------------------
class _Stream:
    def __init__(self):
        self.ops = []      # queued copies, run in order
        self.ran = 0


class _Event:
    def __init__(self, log):
        self.stream, self.mark, self.log = None, 0, log

    def complete(self):
        s = self.stream
        if s is None:
            return
        while s.ran < self.mark:
            s.ops[s.ran]()
            s.ran += 1

    @property
    def is_done(self):
        return self.stream is None or self.stream.ran >= self.mark


class DeferredDriver(T.SimulatorDriver):
    """Numba simulator arrays, with copies that happen only once their event is waited on."""

    def __init__(self, cuda, fail_copy_at=None):
        super().__init__(cuda)
        self.log = []
        self.pinned_allocs = 0
        self.copies = 0
        self.fail_copy_at = fail_copy_at

    def stream(self):
        return _Stream()

    def event(self):
        return _Event(self.log)

    def record(self, event, stream):
        event.stream, event.mark = stream, len(stream.ops)

    def record_compute(self, event):
        event.stream = None   # the compute side is synchronous in the simulator

    def wait(self, event):
        self.log.append(("wait", id(event)))
        event.complete()

    def synchronize(self, event):
        self.log.append(("sync", id(event)))
        event.complete()

    def done(self, event):
        return event.is_done

    def pinned(self, nbytes):
        self.pinned_allocs += 1
        return super().pinned(nbytes)

    def empty(self, n, dtype):
        arr = super().empty(n, dtype)
        arr[:] = np.nan if np.dtype(dtype).kind == "f" else -7   # garbage until copied
        return arr

    def copy(self, dst, src, stream):
        self.copies += 1
        if self.fail_copy_at is not None and self.copies >= self.fail_copy_at:
            raise RuntimeError("cudaErrorLaunchFailure: unspecified launch failure")
        stream.ops.append(lambda: dst.copy_to_device(src, stream=stream))   # reads src when run


@pytest.fixture
def gpu():
    """The GPU backend renders use now (other test modules may have probed a fresh one)."""
    be = B.select("gpu")
    stager = be.stager
    yield be
    be.stager = stager


def frame(n=N, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = rng.normal(0, 1, n).astype(np.float32)
    x[::89] = np.nan
    v = rng.normal(5, 2, n)
    v[::13] = np.nan
    return pd.DataFrame({"x": x, "y": y, "v": v, "k": rng.integers(0, 4, n),
                         "c": np.array(["a", "b", "c"])[rng.integers(0, 3, n)]})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    df = frame()
    path = str(tmp_path_factory.mktemp("gpuio") / "d.parquet")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=300)
    return df, path


def streamed(path, agg, chunk_rows=400):
    """A file render on the GPU backend with ``chunk_rows``-row chunks (several per file)."""
    cvs = ds.Canvas(24, 16, **RANGES)
    job = pipeline.prepare(cvs, path, "x", "y", agg, backend="gpu", memory_limit="16MiB", float32=False)
    job.chunk_rows = chunk_rows
    return pipeline.run(job)


def assert_same(got, ref):
    for name in ref.data_vars:
        np.testing.assert_allclose(got[name].values, ref[name].values, rtol=1e-12, equal_nan=True,
                                   err_msg=name)


# -- the ring, unit by unit ---------------------------------------------------------------------
def test_pinned_ring_is_reused_and_never_overwritten_before_its_copy(gpu):
    driver = DeferredDriver(gpu._cuda)
    stager = T.Stager(driver, ring=2)
    rng = np.random.default_rng(0)
    chunks = [{"x": rng.random(500), "k": rng.integers(0, 9, 500).astype(np.int32)} for _ in range(6)]
    staged = [stager.upload(c) for c in chunks]   # the reader runs ahead of the kernels
    assert driver.pinned_allocs == 2              # two buffers, reused round the ring
    # before chunk i >= 2 was written into its buffer, the copy of chunk i - 2 was waited for
    syncs = [e for kind, e in driver.log if kind == "sync"]
    assert syncs == [id(s["x"].event) for s in staged[:4]]
    for chunk, s in zip(chunks, staged):          # every chunk arrives intact, none overwritten
        cols, held = stager.receive(s)
        np.testing.assert_array_equal(cols["x"], chunk["x"])
        np.testing.assert_array_equal(cols["k"], chunk["k"])
        assert cols["k"].dtype == np.int32 and len(held) == 2
    assert stager.stats["chunks"] == 6 and stager.stats["bytes"] == 6 * 500 * 12


def test_receive_makes_the_kernels_wait_for_the_copy(gpu):
    driver = DeferredDriver(gpu._cuda)
    stager = T.Stager(driver)
    s = stager.upload({"x": np.arange(5.0)})
    assert np.isnan(s["x"].array.copy_to_host()).all()    # still queued on the copy stream
    cols, _ = stager.receive(s)
    assert driver.log[-1] == ("wait", id(s["x"].event))
    np.testing.assert_array_equal(cols["x"], np.arange(5.0))


def test_retired_chunks_are_bounded_and_released(gpu):
    driver = DeferredDriver(gpu._cuda)
    stager = T.Stager(driver, ring=2)
    pending = []

    def never_done(event):   # kernels still running: the consumed events stay pending
        stream = _Stream()
        stream.ops.append(lambda: None)
        event.stream, event.mark = stream, 1
        pending.append(event)
    driver.record_compute = never_done
    for _ in range(5):
        stager.retire([np.zeros(3)])
        assert stager.inflight <= 2
    assert sum(e.is_done for e in pending) == 3     # the oldest were waited for, not dropped
    stager.finish()
    assert stager.inflight == 0 and all(e.is_done for e in pending)


def test_device_columns_pass_through_upload(gpu):
    stager = T.Stager(DeferredDriver(gpu._cuda))
    dev = gpu._cuda.to_device(np.arange(3.0))
    cols = {"x": dev}
    assert stager.upload(cols) is cols and stager.stats["chunks"] == 0


# -- whole renders ------------------------------------------------------------------------------
def test_streamed_file_on_gpu_equals_cpu_across_chunks(gpu, data):
    df, path = data
    gpu.stager = T.Stager(DeferredDriver(gpu._cuda))
    got = streamed(path, AGG)
    ref = ds.Canvas(24, 16, **RANGES).points(df, "x", "y", AGG, backend="cpu")
    assert_same(got, ref)
    st = gpu.stager.stats
    assert st["chunks"] >= 5                        # several chunks, each copied through the ring
    assert gpu.stager.driver.pinned_allocs <= 2
    assert gpu.stager.inflight == 0                 # finalize waited and let the chunks go


def test_upload_runs_in_the_reader_thread_and_categories_follow(gpu, data, monkeypatch):
    df, path = data
    seen = []
    original = gpu.stager.upload

    def spy(cols):
        seen.append(threading.current_thread().name)
        return original(cols)
    monkeypatch.setattr(gpu.stager, "upload", spy)
    agg = ds.summary(cat=ds.count_cat("c"), vmax=ds.max("k"))
    got = streamed(path, agg)
    ref = ds.Canvas(24, 16, **RANGES).points(df, "x", "y", agg, backend="cpu")
    assert_same(got, ref)
    assert len(seen) >= 5 and set(seen) == {"gpu-render-prefetch"}


def test_profile_records_the_uploads(gpu, data):
    from gpu_render.profiling import Profile
    _, path = data
    prof = Profile().start("gpu")
    cvs = ds.Canvas(24, 16, **RANGES)
    job = pipeline.prepare(cvs, path, "x", "y", ds.count(), backend="gpu", memory_limit="16MiB",
                           profile=prof)
    job.chunk_rows = 400
    pipeline.run(job)
    prof.stop()
    assert prof.upload["chunks"] == prof.chunks >= 5
    assert prof.upload["bytes"] == len(data[0]) * (4 + 4)   # float64 x narrowed (the default), float32 y
    assert "pinned buffers" in prof.report()


def test_copy_failure_in_the_reader_thread_is_one_clear_error(gpu, data):
    _, path = data
    gpu.stager = T.Stager(DeferredDriver(gpu._cuda, fail_copy_at=5))
    with pytest.raises(RenderError, match="copying a chunk of .* rows to the GPU failed") as info:
        streamed(path, ds.count())
    assert "unspecified launch failure" in str(info.value)
    assert not [t for t in threading.enumerate() if t.name == "gpu-render-prefetch" and t.is_alive()]


def test_out_of_memory_while_uploading_falls_back_to_piecewise_copies(gpu, data, monkeypatch):
    df, path = data
    calls = {"n": 0}
    original = gpu.stager.upload

    def oom_every_other(cols):
        calls["n"] += 1
        if calls["n"] % 2:
            raise MemoryError("out of memory")
        return original(cols)
    monkeypatch.setattr(gpu.stager, "upload", oom_every_other)
    got = streamed(path, AGG)
    assert_same(got, ds.Canvas(24, 16, **RANGES).points(df, "x", "y", AGG, backend="cpu"))
    assert calls["n"] >= 5


# -- cuDF's chunked Parquet reader, through a fake ------------------------------------------------
class FakeSeries:
    """FAKE of the part of ``cudf.Series`` the table uses (to_cupy, dtype, null_count, astype),
    backed by numpy; cuDF itself cannot be installed here."""

    def __init__(self, arr, mask):
        self.arr, self.mask = arr, mask

    dtype = property(lambda self: self.arr.dtype)
    null_count = property(lambda self: int(self.mask.sum()))

    def astype(self, dtype):
        return FakeSeries(self.arr.astype(dtype), self.mask)

    def to_cupy(self, na_value=None):
        out = self.arr.copy()
        if na_value is not None:
            out[self.mask] = na_value
        return out


class FakeChunkedReader:
    """FAKE of ``cudf_parquet_chunks`` (pylibcudf's ChunkedParquetReader): reads the files with
    pyarrow and cuts chunks of at most ``chunk_read_limit`` bytes of output columns."""

    def __init__(self):
        self.calls = []
        self.chunk_rows = []

    def __call__(self, paths, columns, chunk_read_limit, pass_read_limit):
        self.calls.append((list(paths), list(columns), chunk_read_limit, pass_read_limit))
        table = pa.concat_tables(pq.read_table(p, columns=columns) for p in paths)
        row_bytes = sum(table.schema.field(c).type.bit_width // 8 for c in columns)
        step = max(1, chunk_read_limit // row_bytes)
        for r0 in range(0, table.num_rows, step):
            part = table.slice(r0, step)
            self.chunk_rows.append(part.num_rows)
            yield {c: FakeSeries(part.column(c).to_numpy(zero_copy_only=False),
                                 part.column(c).is_null().to_numpy(zero_copy_only=False))
                   for c in columns}


class _FakeFrames(dict):
    def __len__(self):
        return len(next(iter(self.values())).arr) if dict.__len__(self) else 0


@pytest.fixture
def fake_cudf(gpu, monkeypatch):
    """The GPU backend reading Parquet through CudfParquetTable with the fake chunked reader."""
    fake = FakeChunkedReader()
    monkeypatch.setattr(S, "cudf_available", lambda: True)

    def frames(*args):
        return (_FakeFrames(f) for f in fake(*args))
    monkeypatch.setattr(S.CudfParquetTable, "chunk_reader", staticmethod(frames))
    monkeypatch.setattr(S, "CHUNK_SHARE", 4096 / (16 * 2**20))   # 4 KiB chunks of 16 MiB
    return fake


def test_cudf_chunked_parquet_equals_cpu_in_row_order(fake_cudf, data, tmp_path):
    df, path = data
    half = len(df) // 2   # a two-file dataset: rows follow the sorted file names
    os.mkdir(tmp_path / "ds")
    t = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(t.slice(0, half), tmp_path / "ds" / "part-0.parquet")
    pq.write_table(t.slice(half), tmp_path / "ds" / "part-1.parquet")
    ref = ds.Canvas(24, 16, **RANGES).points(df, "x", "y", AGG, backend="cpu")
    for source in (path, str(tmp_path / "ds")):
        fake_cudf.calls.clear()
        fake_cudf.chunk_rows.clear()
        got = ds.Canvas(24, 16, **RANGES).points(source, "x", "y", AGG, backend="gpu",
                                                 memory_limit="16MiB", float32=False)
        assert_same(got, ref)
        (paths, cols, chunk_limit, pass_limit), = fake_cudf.calls
        assert cols == ["x", "y", "v"] and len(paths) == (1 if source == path else 2)
        assert 4000 < chunk_limit <= 4096 and pass_limit <= 8 * 2**20   # shares of the budget
        assert len(fake_cudf.chunk_rows) >= 8 and max(fake_cudf.chunk_rows) == 4096 // 20


def test_cudf_table_reads_categories_on_the_host(fake_cudf, data):
    df, path = data
    agg = ds.count_cat("c")
    got = ds.Canvas(24, 16, **RANGES).points(path, "x", "y", agg, backend="gpu", memory_limit="16MiB")
    ref = ds.Canvas(24, 16, **RANGES).points(df, "x", "y", agg, backend="cpu")
    np.testing.assert_array_equal(got.values, ref.values)
    assert fake_cudf.calls == []     # codes must index the whole file's labels: pyarrow's pass


def test_device_limits_fit_the_budget():
    for budget in (16 * 2**20, 3 * 2**30):
        chunk, pas = S.device_limits(budget)
        assert 3 * chunk + pas <= budget and chunk > 0


def test_read_file_leaves_csv_ipc_and_missing_cudf_to_the_host_reader(monkeypatch, data):
    _, path = data
    monkeypatch.setattr(S, "cudf_available", lambda: True)
    assert S.read_file("d.csv", "CSV", ["x"]) is None
    assert S.read_file("d.arrow", "Arrow IPC", ["x"]) is None
    assert isinstance(S.read_file(path, "Parquet", ["x", "y"]), S.CudfParquetTable)
    monkeypatch.setattr(S, "cudf_available", lambda: False)
    assert S.read_file(path, "Parquet", ["x", "y"]) is None


def test_cudf_read_error_names_the_file(fake_cudf, data, monkeypatch):
    _, path = data

    def broken(*args):
        raise RuntimeError("CUDF failure at: parquet reader: Invalid page header")
        yield
    monkeypatch.setattr(S.CudfParquetTable, "chunk_reader", staticmethod(broken))
    with pytest.raises(RenderError, match=r"could not read .*d\.parquet as Parquet with cuDF: CUDF"):
        ds.Canvas(24, 16, **RANGES).points(path, "x", "y", ds.count(), backend="gpu")
