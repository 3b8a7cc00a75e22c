"""Dask: dask DataFrames and file datasets aggregated on a 2-worker LocalCluster.

Results must equal the single-process render and datashader's dask path; the aggregation must
run on the workers; a worker killed mid-render must not change the result; bad data must name
its partition or file.
"""
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import gpu_render as gr  # noqa: E402
from gpu_render import cli  # noqa: E402
from gpu_render import distributed as gdist  # noqa: E402
from gpu_render.errors import RenderError  # noqa: E402
from gpu_render.render import aggregate  # noqa: E402

W, H = 40, 30
X_RANGE, Y_RANGE = (-2.0, 2.5), (-1.5, 2.0)   # some points fall outside


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _frame(n=20_000, seed=7):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n), "y": rng.normal(size=n), "v": rng.normal(10, 3, size=n),
        "c": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
    })
    df.loc[::37, "x"] = np.nan
    df.loc[5::41, "v"] = np.nan
    df.loc[3::53, "y"] = 50.0      # far outside the y range
    return df


@pytest.fixture(scope="module")
def frame():
    return _frame()


def _equal(a, b, exact=True):
    assert a.dims == b.dims and a.shape == b.shape
    for d in a.dims:
        np.testing.assert_array_equal(a.coords[d].values, b.coords[d].values)
    if exact:
        np.testing.assert_array_equal(a.values, b.values)
    else:
        np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-9, equal_nan=True)


REDUCTIONS = {
    "count": (lambda m: m.count(), True),
    "mean": (lambda m: m.mean("v"), False),
    "std": (lambda m: m.std("v"), False),
    "first": (lambda m: m.first("v"), True),
    "last": (lambda m: m.last("v"), True),
    "count_cat": (lambda m: m.count_cat("c"), True),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_equals_single_process_and_datashader(client, frame, name):
    import datashader
    make, exact = REDUCTIONS[name]
    ddf = dd.from_pandas(frame, npartitions=6)
    cvs = gr.Canvas(W, H, x_range=X_RANGE, y_range=Y_RANGE)
    ours = cvs.points(ddf, "x", "y", make(gr), backend="cpu")          # the active client
    single = cvs.points(frame, "x", "y", make(gr), backend="cpu")
    with dask.config.set(scheduler="sync"):   # datashader's dask path, JIT-compiled once, in-process
        theirs = datashader.Canvas(W, H, x_range=X_RANGE, y_range=Y_RANGE).points(ddf, "x", "y", make(datashader))
    _equal(ours, single, exact)
    _equal(ours, theirs, exact)
    assert gr.info()["last_used"] == "cpu"


def test_ranges_and_labels_computed_on_workers(client, frame):
    df = frame.assign(c=frame["c"].astype(str).where(frame.index % 11 != 0, None))  # object, not category
    ddf = dd.from_pandas(df, npartitions=5)
    agg = gr.summary(n=gr.count_cat("c"), m=gr.max("v"))
    ours = gr.Canvas(W, H).points(ddf, "x", "y", agg, scheduler=client)
    single = gr.Canvas(W, H).points(df, "x", "y", agg)
    assert ours.attrs["x_range"] == single.attrs["x_range"]
    assert ours.attrs["y_range"] == single.attrs["y_range"]
    for k in ("n", "m"):
        _equal(ours[k], single[k])


def test_work_runs_on_the_workers(client, frame):
    ddf = dd.from_pandas(frame, npartitions=8)
    cvs = gr.Canvas(W, H, x_range=X_RANGE, y_range=Y_RANGE)
    with distributed.get_task_stream(client) as ts:
        cvs.points(ddf, "x", "y", gr.mean("v"), scheduler=client)
    pieces = [t for t in ts.data if str(t["key"]).startswith("gpu-render-aggregate_piece-")]
    merges = [t for t in ts.data if str(t["key"]).startswith("gpu-render-merge-")]
    workers = set(client.scheduler_info(n_workers=-1)["workers"])
    assert len(pieces) == 8 and len(merges) == 1        # 8 partials, one merge (fan-in 8)
    assert {t["worker"] for t in pieces} == workers      # both workers aggregated partitions
    assert {t["worker"] for t in merges} <= workers


def test_worker_killed_mid_render(client, frame):
    ddf = dd.from_pandas(frame, npartitions=8)
    cvs = gr.Canvas(W, H, x_range=X_RANGE, y_range=Y_RANGE)
    expected = cvs.points(frame, "x", "y", gr.last("v"))
    client.run(setattr, gdist, "_TEST_DELAY_S", 0.4)   # each partition task now takes 0.4 s
    pids = client.run(os.getpid)
    out = {}

    def go():
        try:
            out["result"] = cvs.points(ddf, "x", "y", gr.last("v"), scheduler=client)
        except BaseException as exc:   # re-raised below
            out["error"] = exc

    th = threading.Thread(target=go)
    th.start()
    try:
        deadline = time.monotonic() + 20
        victim = None
        while victim is None and time.monotonic() < deadline:
            busy = {w: ks for w, ks in client.processing().items()
                    if any(str(k).startswith("gpu-render-aggregate") for k in ks)}
            victim = next(iter(busy), None)
            time.sleep(0.05)
        assert victim is not None, "no partition task started"
        os.kill(pids[victim], signal.SIGKILL)
        th.join(60)
        assert not th.is_alive()
    finally:
        client.run(setattr, gdist, "_TEST_DELAY_S", 0.0)
    if "error" in out:
        raise out["error"]
    _equal(out["result"], expected)
    assert pids[victim] not in client.run(os.getpid).values()   # that worker process really died
    client.wait_for_workers(2, timeout=30)


def test_bad_partition_names_it(client):
    df = pd.DataFrame({"x": np.arange(40, dtype=float).astype(object), "y": np.arange(40.0)})
    df.loc[33, "x"] = "oops"
    with dask.config.set({"dataframe.convert-string": False}):  # keep numbers-as-objects as they are
        ddf = dd.from_pandas(df, npartitions=4, sort=False)
    with pytest.raises(RenderError, match=r"partition 3 of the dask DataFrame: column 'x' is not numeric"):
        gr.Canvas(10, 10, x_range=(0, 40), y_range=(0, 40)).points(ddf, "x", "y", scheduler=client)


def test_file_dataset_on_workers(client, tmp_path):
    df = _frame(9_000, seed=3)
    (tmp_path / "pq").mkdir()
    (tmp_path / "csv").mkdir()
    for i, part in enumerate((df.iloc[:3000], df.iloc[3000:7000], df.iloc[7000:])):
        part.to_parquet(tmp_path / "pq" / f"p{i}.parquet")
        part.to_csv(tmp_path / "csv" / f"p{i}.csv", index=False)
    agg = gr.summary(n=gr.count(), f=gr.first("v"), k=gr.count_cat("c"))
    cvs = gr.Canvas(W, H)
    single = {"pq": cvs.points(str(tmp_path / "pq"), "x", "y", agg),   # categories in dictionary order
              "csv": cvs.points(df.assign(c=df["c"].astype(str)), "x", "y", agg)}  # CSV: sorted strings
    for path in ("pq", "pq/*.parquet", "csv/*.csv"):
        ours = cvs.points(str(tmp_path / path), "x", "y", agg, scheduler=client)
        for k in ("n", "f", "k"):
            _equal(ours[k], single[path.split("/")[0]][k])
    # One CSV file with a non-numeric x: the error names that file.
    bad = tmp_path / "csv" / "p1.csv"
    lines = bad.read_text().splitlines(keepends=True)
    lines[4] = "not-a-number," + lines[4].split(",", 1)[1]
    bad.write_text("".join(lines))
    with pytest.raises(RenderError, match=r"file .*p1\.csv: .*line 5.*'not-a-number'"):
        aggregate(str(tmp_path / "csv" / "*.csv"), "x", "y", None, W, H, scheduler=client)


def test_an_index_on_workers_counts_as_its_source_and_refuses_first(client, tmp_path):
    """A spatial index read by Dask workers: the same counts as the source file, and first/last
    refused as in-process (its rows are in Z-order)."""
    from gpu_render.index import build
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=20_000), "y": rng.normal(size=20_000), "v": rng.random(20_000)})
    df.to_parquet(tmp_path / "s.parquet")
    build(str(tmp_path / "s.parquet"), "x", "y", str(tmp_path / "idx"), keep=["v"], progress=False)
    cvs = gr.Canvas(W, H, (-1, 1), (-1, 1))
    agg = gr.summary(n=gr.count(), m=gr.mean("v"))
    ours = cvs.points(str(tmp_path / "idx"), "x", "y", agg, scheduler=client)
    single = cvs.points(df, "x", "y", agg)
    _equal(ours["n"], single["n"])
    _equal(ours["m"], single["m"], exact=False)   # sums in another row order
    with pytest.raises(RenderError, match="spatial index, whose rows are in Z-order"):
        cvs.points(str(tmp_path / "idx"), "x", "y", gr.first("v"), scheduler=client)


def test_geo_projection_on_workers(client):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"lon": rng.uniform(-120, 120, 5000), "lat": rng.uniform(-70, 70, 5000)})
    single = aggregate(df, "lon", "lat", None, W, H, geo=True)
    ours = aggregate(dd.from_pandas(df, npartitions=3), "lon", "lat", None, W, H, geo=True, scheduler=client)
    _equal(ours, single)


def test_scheduler_errors(frame):
    with pytest.raises(RenderError, match="scheduler= applies to dask DataFrames and file paths"):
        gr.Canvas(W, H).points(frame, "x", "y", scheduler="threads")
    with pytest.raises(RenderError, match="scheduler must be"):
        gr.Canvas(W, H).points(dd.from_pandas(frame, npartitions=2), "x", "y", scheduler=3)


def test_local_schedulers_match(frame):
    ddf = dd.from_pandas(frame, npartitions=3)
    cvs = gr.Canvas(W, H, x_range=X_RANGE, y_range=Y_RANGE)
    single = cvs.points(frame, "x", "y", gr.first("v"))
    for name in ("sync", "threads"):
        _equal(cvs.points(ddf, "x", "y", gr.first("v"), scheduler=name), single)


def test_cli_scheduler_and_workers(client, tmp_path, capsys):
    df = _frame(5_000, seed=4)
    data = tmp_path / "data"
    data.mkdir()
    for i, part in enumerate((df.iloc[:2000], df.iloc[2000:])):
        part.to_parquet(data / f"p{i}.parquet")
    address = client.scheduler.address
    out = tmp_path / "a.png"
    assert cli.main(["render", str(data), "--x", "x", "--y", "y", "-o", str(out),
                     "--scheduler", address]) == 0
    assert out.exists() and "cpu backend" in capsys.readouterr().out
    out2 = tmp_path / "b.png"
    assert cli.main(["render", str(data), "--x", "x", "--y", "y", "-o", str(out2),
                     "--workers", "1", "--quiet"]) == 0
    from PIL import Image
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(out2)))
    assert cli.main(["render", str(data), "--x", "x", "--y", "nope", "-o", str(out2),
                     "--scheduler", address]) == 2
    assert "column 'nope' not found" in capsys.readouterr().err
