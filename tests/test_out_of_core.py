"""Out-of-core rendering: streaming files of every format in bounded memory, equal to in-memory."""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from conftest import SIMULATED
from pyarrow import feather

import gpu_render as ds
from gpu_render import RenderError
from gpu_render.cli import main
from gpu_render.filetable import open_file
from gpu_render.memory import parse_size
from gpu_render.prefetch import prefetch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANGES = dict(x_range=(-3.0, 3.0), y_range=(-2.0, 2.5))


def make_frame(n, seed=0, float64=False):
    rng = np.random.default_rng(seed)
    dt = np.float64 if float64 else np.float32
    x = rng.normal(0, 1, n).astype(dt)
    y = rng.normal(0, 1, n).astype(dt)
    x[::97] = np.nan
    return pd.DataFrame({"x": x, "y": y, "v": rng.random(n),
                         "c": np.array(["ant", "bee", "cat"])[rng.integers(0, 3, n)],
                         "k": rng.integers(0, 5, n)})


def write_all(df, folder):
    """The same rows as every supported file layout: {name: path}."""
    t = pa.Table.from_pandas(df, preserve_index=False)
    paths = {}
    p = paths["parquet"] = str(folder / "d.parquet")
    pq.write_table(t, p, row_group_size=7_000)
    os.mkdir(folder / "dataset")
    half = t.num_rows // 2
    pq.write_table(t.slice(0, half), folder / "dataset" / "part-0.parquet", row_group_size=5_000)
    pq.write_table(t.slice(half), folder / "dataset" / "part-1.parquet", row_group_size=5_000)
    paths["dataset"] = str(folder / "dataset")
    paths["glob"] = str(folder / "dataset" / "part-*.parquet")
    p = paths["csv"] = str(folder / "d.csv")
    pcsv.write_csv(t, p)
    with open(p, "rb") as src, gzip.open(folder / "d.csv.gz", "wb") as dst:
        dst.write(src.read())
    paths["csv.gz"] = str(folder / "d.csv.gz")
    p = paths["arrow"] = str(folder / "d.arrow")
    with pa.ipc.new_file(p, t.schema) as w:
        for b in t.to_batches(max_chunksize=6_000):
            w.write_batch(b)
    p = paths["feather"] = str(folder / "d.feather")
    feather.write_feather(t, p, compression="uncompressed")
    p = paths["arrow-stream"] = str(folder / "stream.arrow")
    with pa.ipc.new_stream(p, t.schema) as w:
        w.write_table(t, max_chunksize=6_000)
    return paths


@pytest.fixture(scope="module")
def frame():
    return make_frame(40_000)


@pytest.fixture(scope="module")
def files(frame, tmp_path_factory):
    return write_all(frame, tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="module")
def small_frame():
    return make_frame(2_500)


@pytest.fixture(scope="module")
def small_files(small_frame, tmp_path_factory):
    return write_all(small_frame, tmp_path_factory.mktemp("small_files"))


AGGS = {
    "count": ds.count(),
    "mean": ds.mean("v"),
    "last": ds.last("v"),
    "max_int": ds.max("k"),
    "by": ds.count_cat("c"),
}


@pytest.mark.parametrize("fmt", ["parquet", "dataset", "glob", "csv", "csv.gz", "arrow", "feather",
                                 "arrow-stream"])
@pytest.mark.parametrize("agg", list(AGGS))
def test_every_format_equals_in_memory(request, fmt, agg, backend):
    if backend == "gpu" and SIMULATED:   # each simulated CUDA thread is Python: small data, one file per family
        if fmt not in ("parquet", "csv", "arrow"):
            pytest.skip("simulated GPU: parquet, csv and arrow stand for their families")
        frame, files = request.getfixturevalue("small_frame"), request.getfixturevalue("small_files")
    else:
        frame, files = request.getfixturevalue("frame"), request.getfixturevalue("files")
    cvs = ds.Canvas(60, 40, **RANGES)
    ref = cvs.points(frame, "x", "y", AGGS[agg], backend=backend)
    got = cvs.points(files[fmt], "x", "y", AGGS[agg], backend=backend, memory_limit="16MiB")
    if agg == "mean":   # sums of other chunkings differ in the last bit
        np.testing.assert_allclose(got.values, ref.values, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got.values, ref.values)
    if agg == "by":
        assert [str(c) for c in got.c.values] == ["ant", "bee", "cat"]


@pytest.mark.parametrize("small", [True, False])
def test_single_parquet_file_reader_and_dataset_scanner_agree(files, frame, monkeypatch, small):
    """A single small Parquet file is read with ParquetFile (pyarrow.dataset would import pandas),
    anything else with the dataset scanner: both stream the same rows, in order, into chunks."""
    from gpu_render import parquetreader
    monkeypatch.setattr(parquetreader, "SMALL_PARQUET", 1 << 40 if small else 0)
    cvs = ds.Canvas(60, 40, **RANGES)
    t = open_file(files["parquet"], ["x", "v"])
    chunks = list(t.chunks(["x", "v"], [], chunk_rows=6_000))
    assert len(chunks) >= 6 and max(len(c["v"]) for _, c in chunks) <= 7_000
    np.testing.assert_array_equal(np.concatenate([c["v"] for _, c in chunks]), frame["v"].values)
    for agg in (ds.last("v"), ds.count_cat("c"), ds.max("k")):
        np.testing.assert_array_equal(cvs.points(files["parquet"], "x", "y", agg, progress=False).values,
                                      cvs.points(frame, "x", "y", agg).values)


def test_row_groups_joined_only_up_to_merge_rows(files, frame, monkeypatch):
    """The dataset scanner's row groups (7,000 rows here) pass as they are when at least half of
    ``merge_rows`` (the CPU backend: no copy); smaller ones are joined up to it (the GPU: fewer
    launches). (A small single file is read in batches of the chunk rows anyway.)"""
    from gpu_render import parquetreader
    monkeypatch.setattr(parquetreader, "SMALL_PARQUET", 0)
    t = open_file(files["parquet"], ["v"])
    as_is = [len(c["v"]) for _, c in t.chunks(["v"], [], chunk_rows=1 << 20, merge_rows=10_000)]
    joined = [len(c["v"]) for _, c in t.chunks(["v"], [], chunk_rows=1 << 20, merge_rows=30_000)]
    assert set(as_is[:-1]) == {7_000} and sum(as_is) == len(frame)
    assert min(joined[:-1]) >= 15_000 and len(joined) < len(as_is) and sum(joined) == len(frame)
    from cpu_fallback.backend import CPUBackend
    assert 7_000 < CPUBackend.merge_rows // 2 <= 1 << 20


def test_several_chunks_are_used(files, frame):
    """16 MiB of budget means chunks smaller than the file: the streaming path really chunks."""
    t = open_file(files["csv"], ["x", "y"])
    rows = t.chunk_rows_for(parse_size("16MiB"), 2)
    chunks = list(t.chunks(["x", "y"], [], chunk_rows=5_000))
    assert rows < 1 << 20
    assert len(chunks) >= 2
    assert [r0 for r0, _ in chunks] == list(np.cumsum([0] + [len(c["x"]) for _, c in chunks[:-1]]))
    assert sum(len(c["x"]) for _, c in chunks) == len(frame)


def test_ranges_from_parquet_statistics_and_first_pass(files, frame):
    cvs = ds.Canvas(50, 50)
    ref = cvs.points(frame, "x", "y")
    from_stats = cvs.points(files["parquet"], "x", "y")
    assert any("Parquet column statistics" in n for n in from_stats.attrs["notes"])
    from_pass = cvs.points(files["arrow"], "x", "y")
    assert any("first pass" in n for n in from_pass.attrs["notes"])
    for got in (from_stats, from_pass):
        assert got.attrs["x_range"] == ref.attrs["x_range"]
        assert got.attrs["y_range"] == ref.attrs["y_range"]
        np.testing.assert_array_equal(got.values, ref.values)


def test_row_count_known_from_metadata_only(files, frame):
    assert open_file(files["dataset"], ["x"]).num_rows == len(frame)
    assert open_file(files["arrow"], ["x"]).num_rows == len(frame)
    csv = open_file(files["csv"], ["x"])
    assert csv.num_rows is None
    assert abs(csv.estimated_rows - len(frame)) < 0.2 * len(frame)
    assert len(csv) == len(frame)


def test_float32_automatic_only_where_the_backend_gains(tmp_path, monkeypatch):
    from gpu_render import backend as B
    df = make_frame(5_000, seed=4, float64=True)
    path = str(tmp_path / "f64.parquet")
    df.to_parquet(path)
    cpu = B.select("cpu")
    assert not any("float32" in n for n in ds.Canvas(50, 50).points(path, "x", "y").attrs["notes"])
    monkeypatch.setattr(type(cpu), "narrow_float64", True, raising=False)
    got = ds.Canvas(50, 50).points(path, "x", "y", backend="cpu")
    assert any("x, y aggregated as float32" in n for n in got.attrs["notes"])


def test_float64_coordinates_narrowed_when_below_a_pixel(tmp_path):
    df = make_frame(30_000, seed=3, float64=True)
    path = str(tmp_path / "f64.parquet")
    df.to_parquet(path)
    cvs = ds.Canvas(80, 60)
    ref = cvs.points(df, "x", "y")
    narrowed = cvs.points(path, "x", "y", float32=True)
    assert any("aggregated as float32" in n for n in narrowed.attrs["notes"])
    exact = cvs.points(path, "x", "y", float32=False)
    assert not any("float32" in n for n in exact.attrs.get("notes", []))
    np.testing.assert_array_equal(exact.values, ref.values)
    # float32 rounding moves a point at most across one pixel edge: same total, few cells differ
    assert narrowed.values.sum() == ref.values.sum()
    assert np.abs(narrowed.values.astype(int) - ref.values).sum() <= 0.01 * ref.values.sum()


def test_float64_kept_when_float32_would_lose_a_pixel(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": 1e9 + rng.random(5_000), "y": rng.random(5_000)})
    path = str(tmp_path / "far.parquet")
    df.to_parquet(path)
    got = ds.Canvas(100, 100).points(path, "x", "y", float32=True)
    assert any("column(s) y aggregated as float32" in n for n in got.attrs["notes"])   # y only
    np.testing.assert_array_equal(got.values, ds.Canvas(100, 100).points(df, "x", "y").values)


def test_render_and_cli_accept_files(files, tmp_path, capsys):
    img = ds.render(files["csv.gz"], "x", "y", width=40, height=30, memory_limit="32MB")
    assert img.shape == (30, 40)
    out = tmp_path / "o.png"
    assert main(["render", files["glob"], "--x", "x", "--y", "y", "--memory-limit", "64MB",
                 "--width", "40", "--height", "30", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert out.exists()
    assert "Parquet column statistics" in err
    assert "rows/s" not in err and "%|" not in err     # no progress bar when stderr is no TTY


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pseudo-terminal")
def test_progress_bar_on_a_terminal_and_quiet_flag(files, tmp_path):
    """On a terminal the CLI shows rows done and rows/s; --quiet silences it."""
    import fcntl
    import pty
    import struct
    import termios
    env = dict(os.environ, PYTHONPATH=ROOT, GPU_RENDER_PROGRESS_DELAY="0")
    outputs = []
    for extra in ([], ["--quiet"]):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # 100 columns
        proc = subprocess.Popen([sys.executable, "-m", "gpu_render", "render", files["csv"], "--x", "x",
                                 "--y", "y", "--memory-limit", "16MiB", "-o", str(tmp_path / "p.png"),
                                 *extra], stderr=slave, stdout=subprocess.DEVNULL, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
        os.close(master)
        outputs.append(b"".join(chunks).decode(errors="replace"))
    assert "rows" in outputs[0] and "/s" in outputs[0]
    assert "/s" not in outputs[1] and outputs[1].strip() == ""


def test_progress_bar_only_on_a_terminal(capsys):
    from tqdm import tqdm

    from gpu_render import progress
    assert isinstance(progress.bar(100, True), tqdm)
    assert not isinstance(progress.bar(100, None), tqdm)    # pytest's stderr is no terminal
    assert not isinstance(progress.bar(100, False), tqdm)


def test_memory_limit_parsing():
    assert parse_size("256MB") == 256 * 10**6
    assert parse_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_size(100_000_000) == 100_000_000
    for bad in ("lots", "12 parsecs", "1KB", True):
        with pytest.raises(RenderError):
            parse_size(bad)


def test_cli_rejects_bad_memory_limit(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["render", "x.csv", "--x", "x", "--y", "y", "-o", "o.png", "--memory-limit", "lots"])
    assert exc.value.code == 2
    assert "memory_limit" in capsys.readouterr().err


def test_canvas_too_big_for_memory_limit(files):
    with pytest.raises(RenderError, match="too much for memory_limit"):
        ds.Canvas(4000, 4000).points(files["parquet"], "x", "y", ds.mean("v"), memory_limit="20MB")


def test_prefetch_propagates_errors_and_stops_early():
    def gen():
        yield 1
        yield 2
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(prefetch(gen()))
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = iter(prefetch(endless(), depth=1))
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    n = len(produced)
    assert n <= 6 and len(produced) == n   # the reader stopped


# ---- bad input --------------------------------------------------------------------------------

def _cli_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv.gz"])
def test_truncated_file(files, tmp_path, capsys, fmt):
    data = open(files[fmt], "rb").read()
    bad = tmp_path / os.path.basename(files[fmt])
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(RenderError, match="could not read"):
        ds.Canvas(40, 40, **RANGES).points(str(bad), "x", "y")
    err = _cli_error(capsys, ["render", str(bad), "--x", "x", "--y", "y", "-o", str(tmp_path / "o.png")])
    assert str(bad) in err
    assert not (tmp_path / "o.png").exists()


def test_corrupt_parquet(frame, tmp_path):
    """A damaged footer, or a damaged data page of a file with page checksums (as convert writes)."""
    path = tmp_path / "ok.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, write_page_checksum=True,
                   compression="none")
    data = open(path, "rb").read()
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    for name, lo in (("footer", footer + 10), ("page", 1000)):
        bad = bytearray(data)
        bad[lo:lo + 2000] = bytes(2000)
        p = tmp_path / f"{name}.parquet"
        p.write_bytes(bytes(bad))
        with pytest.raises(RenderError, match="could not read"):
            ds.Canvas(40, 40, **RANGES).points(str(p), "x", "y")


def test_dataset_files_disagree_on_schema(tmp_path, frame):
    os.mkdir(tmp_path / "ds")
    pq.write_table(pa.Table.from_pandas(frame.iloc[:100], preserve_index=False), tmp_path / "ds" / "a.parquet")
    other = frame.iloc[100:200].assign(x=frame.x.iloc[100:200].astype(str))
    pq.write_table(pa.Table.from_pandas(other, preserve_index=False), tmp_path / "ds" / "b.parquet")
    with pytest.raises(RenderError, match="disagree on column 'x'.*b.parquet"):
        ds.Canvas(40, 40).points(str(tmp_path / "ds"), "x", "y")
    missing = frame.iloc[:50].drop(columns=["y"])
    pq.write_table(pa.Table.from_pandas(missing, preserve_index=False), tmp_path / "ds" / "b.parquet")
    with pytest.raises(RenderError, match="has no column 'y'"):
        ds.Canvas(40, 40).points(str(tmp_path / "ds"), "x", "y")


def test_dataset_directory_leaves_out_hidden_and_underscore_files_and_folders(tmp_path, frame):
    """A directory reads as pyarrow's datasets read it, in this process and on Dask workers alike:
    files and folders starting with ``_`` or ``.`` (``_SUCCESS``, ``_temporary/``) are left out."""
    from gpu_render.distributed import _dataset_files
    root = tmp_path / "ds"
    for sub in ("", "part=1", "_temporary", ".staging"):
        os.makedirs(root / sub, exist_ok=True)
    table = pa.Table.from_pandas(frame.iloc[:100], preserve_index=False)
    for name in ("a.parquet", "part=1/b.parquet", "_temporary/c.parquet", ".staging/d.parquet", "_e.parquet"):
        pq.write_table(table, root / name)
    (root / "_SUCCESS").write_bytes(b"")
    want = [str(root / "a.parquet"), str(root / "part=1" / "b.parquet")]
    assert open_file(str(root), ["x", "y"]).files == want
    assert [f for f, _ in _dataset_files(str(root))] == want
    finite = int(np.isfinite(frame.x.iloc[:100] + frame.y.iloc[:100]).sum())
    assert int(ds.Canvas(40, 40).points(str(root), "x", "y").sum()) == 2 * finite


def _bad_csv(tmp_path, n=5_000, bad_lines=(1234,), text="1.0,2.0", name="bad.csv"):
    lines = ["x,y,v"] + [f"{i * 1e-3},{i * 2e-3},{i}" for i in range(n)]
    for ln in bad_lines:
        lines[ln - 1] = text
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def test_malformed_csv_row_names_the_line(tmp_path, capsys):
    path = _bad_csv(tmp_path, bad_lines=(4321,))
    with pytest.raises(RenderError, match="line 4321") as exc:
        ds.Canvas(40, 40).points(path, "x", "y", memory_limit="16MiB")
    assert "skip" in str(exc.value)
    err = _cli_error(capsys, ["render", path, "--x", "x", "--y", "y", "-o", str(tmp_path / "o.png")])
    assert "line 4321" in err


def test_bad_row_line_counted_across_blocks(tmp_path):
    """A bad row far into a file read in many small blocks is still named by its line."""
    path = _bad_csv(tmp_path, n=120_000, bad_lines=(101_234,))
    t = open_file(path, ["x", "y"])
    with pytest.raises(RenderError, match="line 101234"):
        for _ in t.batches(["x", "y"], 20_000, {"x", "y"}):
            pass
    path = _bad_csv(tmp_path, n=120_000, bad_lines=(99_999,), text="1.0,zz,3", name="conv.csv")
    with pytest.raises(RenderError, match="line 99999"):
        for _ in open_file(path, ["x", "y"]).batches(["x", "y"], 20_000, {"x", "y"}):
            pass


def test_non_numeric_value_names_the_line(tmp_path):
    path = _bad_csv(tmp_path, bad_lines=(3000,), text="1.0,oops,3")
    with pytest.raises(RenderError, match="line 3000.*oops|oops.*line 3000"):
        ds.Canvas(40, 40).points(path, "x", "y")


def test_skip_bad_rows_counts_them(tmp_path, capsys):
    path = _bad_csv(tmp_path, bad_lines=(10, 2000, 4999))
    cvs = ds.Canvas(40, 40, x_range=(0, 5), y_range=(0, 10))
    got = cvs.points(path, "x", "y", skip_bad_rows=True)
    assert "skipped 3 malformed row(s)" in got.attrs["notes"]
    assert int(got.values.sum()) == 5_000 - 3
    conv = _bad_csv(tmp_path, bad_lines=(10, 20), text="1.0,abc,3", name="conv.csv")
    got = cvs.points(conv, "x", "y", ds.sum("v"), skip_bad_rows=True)
    assert "skipped 2 malformed row(s)" in got.attrs["notes"]
    assert main(["render", path, "--x", "x", "--y", "y", "--skip-bad-rows", "-o",
                 str(tmp_path / "o.png")]) == 0
    assert "skipped 3 malformed" in capsys.readouterr().err


def test_empty_and_missing(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("x,y\n")
    # with both ranges given an empty source is an empty aggregate (datashader's rule for frames)
    empty = ds.Canvas(10, 10, x_range=(0, 1), y_range=(0, 1)).points(str(p), "x", "y")
    assert empty.shape == (10, 10) and int(empty.values.sum()) == 0
    with pytest.raises(RenderError, match="no rows"):
        ds.Canvas(10, 10).points(str(p), "x", "y")
    with pytest.raises(RenderError, match="no rows"):   # render (and the CLI) still say so
        ds.render(str(p), "x", "y", x_range=(0, 1), y_range=(0, 1))
    with pytest.raises(RenderError, match="column 'z' not found"):
        ds.Canvas(10, 10).points(_bad_csv(tmp_path, bad_lines=()), "x", "z")


# ---- bounded memory, measured in a subprocess ------------------------------------------------

RSS_SCRIPT = r"""
import json, resource, sys
import numpy as np, psutil
import gpu_render as ds
big, small, limit, out = sys.argv[1:5]
ds.Canvas(30, 20).points(small, "x", "y", memory_limit=limit)   # the baseline: imports, kernels, threads
base = psutil.Process().memory_info().rss
open("/proc/self/clear_refs", "w").write("5")   # reset the peak (VmHWM) to the current RSS
agg = ds.Canvas(300, 200, x_range=(-3, 3), y_range=(-2, 2.5)).points(big, "x", "y", memory_limit=limit)
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
np.save(out, agg.values)
print(json.dumps({"base": base, "peak": peak}))
"""


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_larger_than_budget_stays_within_it(tmp_path, fmt):
    n = 3_300_000 if fmt == "csv" else 9_000_000
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x": rng.normal(0, 1, n).astype(np.float32),
                       "y": rng.normal(0, 1, n).astype(np.float32)})
    small = make_frame(2_000, seed=8)[["x", "y"]]
    t, ts = (pa.Table.from_pandas(d, preserve_index=False) for d in (df, small))
    big_path, small_path = str(tmp_path / f"big.{fmt}"), str(tmp_path / f"small.{fmt}")
    if fmt == "csv":
        pcsv.write_csv(t, big_path), pcsv.write_csv(ts, small_path)
    else:
        pq.write_table(t, big_path, row_group_size=100_000), pq.write_table(ts, small_path)
    limit = 64 * 2**20   # (at 32 MiB, allocator noise of +-10 MiB makes the check flaky)
    assert os.path.getsize(big_path) > limit
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", RSS_SCRIPT, big_path, small_path, str(limit),
                          str(tmp_path / "agg.npy")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    assert mem["peak"] - mem["base"] < limit, f"peak RSS {(mem['peak'] - mem['base']) / 2**20:.0f} MiB over the baseline"
    in_memory = pcsv.read_csv(big_path) if fmt == "csv" else pq.read_table(big_path)   # same values
    ref = ds.Canvas(300, 200, x_range=(-3, 3), y_range=(-2, 2.5)).points(in_memory, "x", "y")
    np.testing.assert_array_equal(np.load(tmp_path / "agg.npy"), ref.values)


def test_backend_stage_runs_in_the_reader_thread(files, frame):
    """A backend's ``stage`` (the GPU's asynchronous copy) is called per chunk from the reader
    thread, overlapping the aggregation of the previous chunk in the main thread."""
    import threading

    from gpu_render import pipeline
    cvs = ds.Canvas(60, 40, **RANGES)
    job = pipeline.prepare(cvs, files["csv"], "x", "y", ds.count(), memory_limit="16MiB")
    job.chunk_rows = 5_000
    seen = []

    class Uploading:
        def __init__(self, be):
            self.be = be

        def __getattr__(self, name):
            return getattr(self.be, name)

        def stage(self, cols):
            seen.append(threading.current_thread().name)
            return {k: np.array(v) for k, v in cols.items()}

    job.backend = Uploading(job.backend)
    got = pipeline.run(job)
    assert len(seen) >= 8 and set(seen) == {"gpu-render-prefetch"}
    np.testing.assert_array_equal(got.values, cvs.points(frame, "x", "y").values)


def test_geo_file_matches_geo_in_memory(tmp_path):
    """Longitude/latitude files are projected chunk by chunk; ranges from statistics are projected."""
    from gpu_render.render import aggregate
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"lon": rng.uniform(-20, 40, 20_000), "lat": rng.uniform(30, 60, 20_000)})
    path = str(tmp_path / "geo.parquet")
    df.to_parquet(path)
    ref = aggregate(df, "lon", "lat", width=64, height=48, geo=True)
    got = aggregate(path, "lon", "lat", width=64, height=48, geo=True, memory_limit="16MiB")
    assert got.attrs["x_range"] == ref.attrs["x_range"] and got.attrs["y_range"] == ref.attrs["y_range"]
    np.testing.assert_array_equal(got.values, ref.values)
