"""``gpu-render index``: the external Z-order sort, its manifest, atomic publishing, and renders of
an index equal to renders of its source (a zoomed one reading only some row groups)."""
import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import gpu_render as ds
from gpu_render import index as I
from gpu_render import morton
from gpu_render.cli import main
from agg_compare import assert_same


def _frame(n, seed=3, skewed=False):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(size=n)
    if skewed:   # half the rows in one tiny spot: its key range must split again
        x[: n // 2] = 0.25 + rng.normal(scale=1e-6, size=n // 2)
        y[: n // 2] = -0.5 + rng.normal(scale=1e-6, size=n // 2)
    v = rng.normal(10, 3, n)
    x[::101], y[::103], v[::17] = np.nan, np.inf, np.nan
    c = pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])
    return pd.DataFrame({"x": x, "y": y, "v": v, "c": c})


def _build(folder, n, group_rows):
    """An index of ``n`` rows with row groups of ``group_rows`` (small, so views prune)."""
    df = _frame(n)
    src = folder / "src.parquet"
    df.to_parquet(src)
    out = folder / "idx"
    saved, I.GROUP_ROWS = I.GROUP_ROWS, group_rows
    try:
        manifest = I.build(str(src), "x", "y", str(out), keep=["v", "c"], progress=False)
    finally:
        I.GROUP_ROWS = saved
    return {"src": str(src), "out": str(out), "df": df, "manifest": manifest}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("index"), 200_000, 4096)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Few rows, for the GPU backend on the simulator (each CUDA thread is a Python thread)."""
    return _build(tmp_path_factory.mktemp("small_index"), 3_000, 256)


REDUCTIONS = dict(n=ds.count(), nv=ds.count("v"), s=ds.sum("v"), m=ds.mean("v"), lo=ds.min("v"),
                  hi=ds.max("v"), sd=ds.std("v"), cc=ds.count_cat("c"), bm=ds.by("c", ds.mean("v")))
VIEWS = [((-4, 4), (-4, 4)), ((-0.3, 0.2), (0.1, 0.6)), ((1.5, 1.6), (-1.6, -1.5)), ((7, 8), (7, 8))]


@pytest.mark.parametrize("n,bits", [(0, 8), (1, 5), (999, 11), (5000, 12), (40_000, 44), (40_000, 53)])
def test_radix_order_is_a_stable_argsort_of_the_low_bits(n, bits):
    """The build's sort (``cellsort.radix_order``, split among 1, 3 or all threads) is numpy's stable
    argsort of the keys' low ``bits`` bits: equal keys keep their order, higher bits are ignored."""
    from gpu_render.hostkernels.cellsort import radix_order
    rng = np.random.default_rng(n + bits)
    keys = rng.integers(0, 1 << 62, n, dtype=np.uint64)
    keys[1::2] = keys[0::2][:len(keys[1::2])] ^ (np.uint64(1) << np.uint64(61))   # equal low bits
    want = np.argsort(keys & np.uint64((1 << bits) - 1), kind="stable")
    for parts in (None, 1, 3):
        np.testing.assert_array_equal(radix_order(keys, bits, parts), want)


def test_manifest_describes_the_index(built):
    m, df = built["manifest"], built["df"]
    finite = np.isfinite(df.x) & np.isfinite(df.y)
    assert m["version"] == I.FORMAT_VERSION and m["format"] == "gpu-render index"
    assert m["rows"] == int(finite.sum()) and m["dropped_rows"] == len(df) - m["rows"]
    assert m["source_rows"] == len(df) and m["source"] == os.path.abspath(built["src"])
    assert m["columns"] == ["x", "y", "v", "c"] and m["x"] == "x" and m["geo"] is False
    assert m["ranges"]["x"] == [float(df.x[finite].min()), float(df.x[finite].max())]
    assert m["key"]["curve"] == "morton" and m["key"]["level"] == morton.KEY_LEVEL
    on_disk = json.load(open(os.path.join(built["out"], I.MANIFEST)))
    assert on_disk == m
    assert sum(f["rows"] for f in m["files"]) == m["rows"]
    assert I.verify(built["out"]) == m
    assert sorted(os.listdir(built["out"])) == sorted([I.MANIFEST] + [f["name"] for f in m["files"]])


def _sorted_by_key(path, m):
    t = pq.read_table(path, columns=["x", "y"])
    x, y = t.column("x").to_numpy(), t.column("y").to_numpy()
    keys = np.empty(len(x), np.uint64)
    (x0, x1), (y0, y1) = m["ranges"]["x"], m["ranges"]["y"]
    morton.box_keys(x, y, x0, x1, y0, y1, keys)
    return bool(np.all(keys[1:] >= keys[:-1])), keys


def test_rows_are_in_key_order_with_small_row_groups(built):
    m = built["manifest"]
    path = os.path.join(built["out"], m["files"][0]["name"])
    ok, _ = _sorted_by_key(path, m)
    assert ok
    md = pq.read_metadata(path)
    group = m["row_group_rows"]
    assert group == 4096 and md.num_row_groups == -(-m["rows"] // group)
    assert all(md.row_group(i).num_rows == group for i in range(md.num_row_groups - 1))


@pytest.mark.parametrize("view", range(len(VIEWS)))
def test_index_renders_equal_the_source(built, small, backend, n_points, view):
    built = small if n_points < 10_000 else built
    xr, yr = VIEWS[view]
    kw = dict(plot_width=40, plot_height=30, x_range=xr, y_range=yr)
    agg = ds.summary(**REDUCTIONS)
    got = ds.Canvas(**kw).points(built["out"], "x", "y", agg, backend=backend, float32=False)
    want = ds.Canvas(**kw).points(built["src"], "x", "y", agg, backend="cpu", float32=False)
    for name in REDUCTIONS:
        assert_same(got[name], want[name])


def test_a_zoomed_view_reads_only_part_of_the_index(built):
    m = built["manifest"]
    p = ds.profile(built["out"], "x", "y", width=40, height=30, x_range=(1.5, 1.6), y_range=(-1.6, -1.5))
    assert p.source_rows == m["rows"] and 0 < p.rows <= m["rows"] / 4
    assert "of the source's" in p.report()


def test_first_last_and_ranked_are_refused_on_an_index(built):
    for red in (ds.first("v"), ds.last("v"), ds.max_n("v", 2)):
        with pytest.raises(ds.RenderError, match="spatial index, whose rows are in Z-order"):
            ds.Canvas(10, 10, (0, 1), (0, 1)).points(built["out"], "x", "y", red)
    from gpu_render.distributed import DaskFileTable   # Dask reads the folder itself: the same flag
    assert DaskFileTable(built["out"], ["x", "y"]).sorted_in_space
    assert not DaskFileTable(built["src"], ["x", "y"]).sorted_in_space


def test_skewed_data_splits_a_key_range_again_and_stays_sorted(tmp_path):
    df = _frame(400_000, skewed=True)
    src = tmp_path / "s.parquet"
    df.to_parquet(src)
    calls = []
    original = I._sort_stage

    def spy(stage, bits, *a):
        calls.append(bits)
        return original(stage, bits, *a)
    I._sort_stage = spy
    try:
        m = I.build(str(src), "x", "y", str(tmp_path / "idx"), keep=["v"], memory_limit="32MB",
                    progress=False)
    finally:
        I._sort_stage = original
    assert max(calls) > min(calls)      # some range was split by further key bits
    ok, _ = _sorted_by_key(os.path.join(tmp_path / "idx", m["files"][0]["name"]), m)
    assert ok
    kw = dict(plot_width=20, plot_height=20, x_range=(0.2, 0.3), y_range=(-0.55, -0.45))
    a = ds.Canvas(**kw).points(str(tmp_path / "idx"), "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")))
    b = ds.Canvas(**kw).points(df, "x", "y", ds.summary(n=ds.count(), m=ds.mean("v")))
    assert_same(a["n"], b["n"])
    assert_same(a["m"], b["m"])


def test_interrupted_build_leaves_nothing_and_a_rerun_starts_clean(tmp_path, monkeypatch):
    df = _frame(20_000)
    src = tmp_path / "s.parquet"
    df.to_parquet(src)
    out = tmp_path / "idx"

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(I, "_sort_stage", boom)
    with pytest.raises(KeyboardInterrupt):
        I.build(str(src), "x", "y", str(out), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["s.parquet"]      # no index, no temporary folder
    monkeypatch.undo()
    m = I.build(str(src), "x", "y", str(out), progress=False)
    assert m["rows"] == I.verify(str(out))["rows"]
    m2 = I.build(str(src), "x", "y", str(out), keep=["v"], progress=False)   # an index is replaced
    assert m2["columns"] == ["x", "y", "v"] and sorted(os.listdir(tmp_path)) == ["idx", "s.parquet"]


def test_verify_names_a_changed_file(built, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(built["out"], copy)
    name = built["manifest"]["files"][0]["name"]
    with open(copy / name, "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    with pytest.raises(ds.RenderError, match=f"is damaged: {name} is missing or changed"):
        I.verify(str(copy))


def test_an_index_of_a_changed_source_is_refused_until_rebuilt(tmp_path, capsys):
    """The manifest records the source files' sizes and time stamps; a source changed since
    (rewritten, or only touched) makes every reader of the index refuse it with one sentence
    naming the fix, a deleted source does not (the index holds the rows), and a rebuild serves."""
    df = _frame(3_000)
    src, out, png = tmp_path / "s.parquet", tmp_path / "idx", tmp_path / "o.png"
    df.to_parquet(src)
    m = I.build(str(src), "x", "y", str(out), keep=["v"], progress=False)
    assert [f["path"] for f in m["source_files"]] == [str(src)]
    kw = dict(plot_width=20, plot_height=20, x_range=(-1, 1), y_range=(-1, 1))
    ds.Canvas(**kw).points(str(out), "x", "y")
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))     # touched: same bytes, new time
    for read in (lambda: ds.Canvas(**kw).points(str(out), "x", "y"), lambda: I.verify(str(out))):
        with pytest.raises(ds.RenderError, match="has changed since .* rebuild the index with `gpu-render index`"):
            read()
    assert main(["render", str(out), "-o", str(png), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has changed since" in err[0] and not png.exists()
    I.build(str(src), "x", "y", str(out), keep=["v"], progress=False)
    assert_same(ds.Canvas(**kw).points(str(out), "x", "y"), ds.Canvas(**kw).points(df, "x", "y"))
    os.unlink(src)
    assert_same(ds.Canvas(**kw).points(str(out), "x", "y"), ds.Canvas(**kw).points(df, "x", "y"))


def test_geo_index_renders_equal_the_source(tmp_path):
    rng = np.random.default_rng(8)
    n = 50_000
    df = pd.DataFrame({"lon": rng.uniform(-180, 180, n), "lat": rng.uniform(-89, 89, n)})
    src = tmp_path / "g.parquet"
    df.to_parquet(src)
    m = I.build(str(src), "lon", "lat", str(tmp_path / "gidx"), geo=True, progress=False)
    assert m["geo"] is True and "longitude/latitude" in m["projection"]
    from gpu_render.render import aggregate
    kw = dict(width=30, height=20, x_range=(5.0, 15.0), y_range=(40.0, 50.0), geo=True)
    assert_same(aggregate(str(tmp_path / "gidx"), "lon", "lat", **kw), aggregate(str(src), "lon", "lat", **kw))


def test_cli_index_and_its_mistakes(tmp_path, capsys):
    df = _frame(5_000)
    src = tmp_path / "s.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "idx"
    assert main(["index", str(src), "--x", "x", "--y", "y", "--keep", "v", "-o", str(out)]) == 0
    assert "wrote index" in capsys.readouterr().out
    png = tmp_path / "o.png"
    assert main(["render", str(out), "--x", "x", "--y", "y", "-o", str(png), "--width", "50",
                 "--height", "40"]) == 0 and png.exists()
    capsys.readouterr()
    (tmp_path / "afile").write_text("x")
    for argv, words in (
            (["index", str(src), "--x", "nope", "--y", "y", "-o", str(tmp_path / "i2")], "nope"),
            (["index", str(src), "--x", "x", "--y", "y", "-o", str(tmp_path / "afile")], "is not a gpu-render index"),
            (["index", str(tmp_path / "missing.csv"), "--x", "x", "--y", "y", "-o", str(tmp_path / "i3")], "not found"),
            (["index", str(src), "--x", "x", "--y", "y", "-o", str(tmp_path / "no" / "i4")], "does not exist"),
            (["index", str(src), "--x", "x", "--y", "y", "-o", str(tmp_path / "i5"), "--memory-limit", "1MB"],
             "below the 16 MiB minimum")):
        try:
            rc = main(argv)
        except SystemExit as exc:   # argparse's own mistakes (a bad --memory-limit)
            rc = exc.code
        assert rc == 2, argv
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and err.count("\n") == 1, err
    assert not (tmp_path / "i2").exists() and not (tmp_path / "i5").exists()
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".")) == []


def test_cli_render_takes_x_y_and_geo_from_the_manifest(built, tmp_path, rng):
    from PIL import Image
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["render", built["out"], "--quiet", "-o", str(a)]) == 0
    assert main(["render", built["out"], "--x", "x", "--y", "y", "--quiet", "-o", str(b)]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    # a lon/lat index renders projected without --geo
    df = pd.DataFrame({"lon": rng.uniform(-10, 10, 2000), "lat": rng.uniform(40, 50, 2000)})
    df.to_parquet(tmp_path / "geo.parquet")
    I.build(tmp_path / "geo.parquet", "lon", "lat", tmp_path / "geo.index", geo=True, progress=False)
    c, d = tmp_path / "c.png", tmp_path / "d.png"
    assert main(["render", str(tmp_path / "geo.index"), "--quiet", "-o", str(c)]) == 0
    assert main(["render", str(tmp_path / "geo.parquet"), "--x", "lon", "--y", "lat", "--geo",
                 "--quiet", "-o", str(d)]) == 0
    assert np.array_equal(np.asarray(Image.open(c)), np.asarray(Image.open(d)))


def test_cli_tiles_of_an_index_equal_those_of_its_source(tmp_path, rng, capsys):
    """`gpu-render tiles INDEX` takes --x/--y/--geo from the manifest and writes the tiles of its
    source file, points and hexagons; a file still needs --x and --y."""
    df = pd.DataFrame({"lon": rng.normal(10, 20, 20_000).clip(-170, 170),
                       "lat": rng.normal(40, 10, 20_000).clip(-80, 80), "v": rng.random(20_000)})
    df.to_parquet(tmp_path / "geo.parquet", row_group_size=2000)
    I.build(tmp_path / "geo.parquet", "lon", "lat", tmp_path / "geo.index", geo=True, keep=["v"],
            progress=False)
    for extra in ([], ["--glyph", "hex", "--hex-size", "9"]):
        a, b = tmp_path / f"a{len(extra)}", tmp_path / f"b{len(extra)}"
        assert main(["tiles", str(tmp_path / "geo.index"), "--agg", "mean:v", "--max-zoom", "4",
                     "--quiet", "-o", str(a), *extra]) == 0
        assert main(["tiles", str(tmp_path / "geo.parquet"), "--x", "lon", "--y", "lat", "--geo",
                     "--agg", "mean:v", "--max-zoom", "4", "--quiet", "-o", str(b), *extra]) == 0
        pngs = sorted(p.relative_to(a) for p in a.rglob("*.png"))
        assert len(pngs) > 20 and pngs == sorted(p.relative_to(b) for p in b.rglob("*.png"))
        assert all((a / p).read_bytes() == (b / p).read_bytes() for p in pngs)
    capsys.readouterr()
    assert main(["tiles", str(tmp_path / "geo.parquet"), "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--x and --y are required" in err[0]
    assert not (tmp_path / "c").exists()


def test_cli_render_of_a_file_needs_x_and_y(built, tmp_path, capsys):
    assert main(["render", built["src"], "--x", "x", "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--x and --y are required" in err[0] and "gpu-render index" in err[0]
    assert not (tmp_path / "o.png").exists()
