"""The one-call path (``render``) and the command line: PNGs equal the API's shaded image."""
import json

import datashader as dsh
import datashader.transfer_functions as dtf
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from PIL import Image as PILImage

import gpu_render as gr
from gpu_render import tf
from gpu_render.cli import main
from gpu_render.render import aggregate


@pytest.fixture
def frame(rng):
    n = 5000
    # points only in the upper half (y > 0) so orientation is visible in the PNG
    return pd.DataFrame({"x": rng.uniform(-1, 1, n), "y": rng.uniform(0, 1, n), "v": rng.standard_normal(n),
                         "c": pd.Categorical.from_codes(rng.integers(0, 3, n), ["a", "b", "c"])})


def _png(path):
    return np.asarray(PILImage.open(path).convert("RGBA"))


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
@pytest.mark.parametrize("agg,spec", [(lambda: gr.count(), "count"), (lambda: gr.mean("v"), "mean:v"),
                                      (lambda: gr.count_cat("c"), "by:c")])
def test_cli_png_equals_api_image(frame, tmp_path, fmt, agg, spec):
    src = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pandas(frame), src)
    elif fmt == "arrow":
        feather.write_feather(frame, src)
    else:
        frame.to_csv(src, index=False)
    out = tmp_path / "o.png"
    args = ["render", str(src), "--x", "x", "--y", "y", "--agg", spec, "--width", "64", "--height", "48",
            "--x-range=-1,1", "--y-range=-1,1", "--quiet", "-o", str(out)]
    assert main(args) == 0
    png = _png(out)
    assert png.shape == (48, 64, 4)
    agg_ = gr.Canvas(64, 48, x_range=(-1, 1), y_range=(-1, 1)).points(frame, "x", "y", agg())
    img = tf.shade(agg_, cmap="fire") if agg_.ndim == 2 else tf.shade(agg_)
    np.testing.assert_array_equal(png, np.asarray(img.to_pil()))
    # north-up: the data (y > 0) is in the top half of the PNG, the bottom half is transparent
    assert png[:24, :, 3].any() and not png[24:, :, 3].any()


def test_cli_png_level(frame, tmp_path, capsys):
    src = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame), src)
    base = ["render", str(src), "--x", "x", "--y", "y", "--quiet", "--width", "300", "--height", "200"]
    assert main(base + ["--png-level", "0", "-o", str(tmp_path / "0.png")]) == 0
    assert main(base + ["--png-level", "9", "-o", str(tmp_path / "9.png")]) == 0
    assert (tmp_path / "0.png").stat().st_size > (tmp_path / "9.png").stat().st_size
    np.testing.assert_array_equal(_png(tmp_path / "0.png"), _png(tmp_path / "9.png"))
    with pytest.raises(SystemExit) as exc:
        main(base + ["--png-level", "12", "-o", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and "--png-level must be from 0 to 9, got 12" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_render_matches_datashader_image(frame):
    img = gr.render(frame, "x", "y", gr.count(), width=50, height=40, x_range=(-1, 1), y_range=(-1, 1), cmap="fire")
    import colorcet
    ref = dtf.shade(dsh.Canvas(50, 40, x_range=(-1, 1), y_range=(-1, 1)).points(frame, "x", "y", dsh.count()),
                    cmap=colorcet.fire, how="eq_hist")
    diff = np.abs(img.data.view(np.uint8).astype(int) - ref.data.view(np.uint8).astype(int))
    assert diff.max() <= 1
    assert gr.info()["last_used"] in ("cpu", "gpu")


def test_render_geo_projects_lon_lat(rng, backend):
    from datashader.utils import lnglat_to_meters
    n = 2000
    lon, lat = rng.uniform(-10, 30, n), rng.uniform(35, 60, n)
    df = pd.DataFrame({"lon": lon, "lat": lat})
    agg = aggregate(df, "lon", "lat", gr.count(), 40, 30, x_range=(-10, 30), y_range=(35, 60), geo=True,
                    backend=backend)
    mx, my = lnglat_to_meters(lon, lat)
    (x0, x1), (y0, y1) = lnglat_to_meters(np.array([-10, 30]), np.array([35, 60]))
    ref = dsh.Canvas(40, 30, x_range=(x0, x1), y_range=(y0, y1)).points(pd.DataFrame({"x": mx, "y": my}), "x", "y")
    np.testing.assert_array_equal(np.asarray(agg.values), ref.values)
    np.testing.assert_allclose(agg.attrs["x_range"], (x0, x1))


def test_geo_ranges_are_checked():
    from gpu_render.render import geo_ranges
    with pytest.raises(gr.RenderError, match="latitude range"):
        geo_ranges(None, (-90, 90))
    with pytest.raises(gr.RenderError, match="longitude range"):
        geo_ranges((-200, 0), None)


def test_cli_info(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "backend (auto): cpu" in text and "reason:" in text
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["auto"] == "cpu" and data["cpu"]["usable"] is True and data["cpu"]["threads"] >= 1
    assert data["gpu"]["usable"] is False and data["gpu"]["reason"]
    assert gr.info()["auto"] == "cpu"


def test_cli_demo(tmp_path, capsys):
    assert main(["demo", "--rows", "20000", "--width", "80", "--height", "60", "-o", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for name in ("demo_count.png", "demo_mean_val.png", "demo_by_cat.png"):
        png = _png(tmp_path / name)
        assert png.shape == (60, 80, 4) and png[..., 3].any()
        assert str(tmp_path / name) in text


def test_render_aggregate_of_a_summary(frame):
    ds_ = aggregate(frame, "x", "y", gr.summary(n=gr.count(), m=gr.mean("v")), 20, 10)
    assert set(ds_.data_vars) == {"n", "m"} and int(ds_.n.values.sum()) == len(frame)
    with pytest.raises(gr.RenderError, match="nothing to draw"):
        aggregate(frame, "x", "y", gr.summary(n=gr.count()), 20, 10, x_range=(5, 6), y_range=(5, 6))


def test_cli_render_imports_neither_xarray_nor_pandas(tmp_path):
    """The command line renders on bare arrays: xarray and pandas (about 0.35 s of imports)
    stay unloaded, for every kind of aggregate."""
    import subprocess
    import sys
    rng = np.random.default_rng(3)
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": rng.random(1000), "y": rng.random(1000), "v": rng.random(1000),
                             "c": pa.array(rng.choice(["a", "b"], 1000)).dictionary_encode()}), src)
    code = ("import sys; from gpu_render.cli import main\n"
            "for spec in ('count', 'mean:v', 'by:c'):\n"
            f"    assert main(['render', {str(src)!r}, '--x', 'x', '--y', 'y', '--agg', spec, '--quiet',"
            f" '-o', {str(tmp_path / 'o.png')!r}]) == 0\n"
            "print(sorted(m for m in ('xarray', 'pandas', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    assert (tmp_path / "o.png").exists()


def test_shade_array_equals_shade_on_the_dataarray(frame):
    from gpu_render.shading import shade_array
    cvs = gr.Canvas(30, 20, x_range=(-1, 1), y_range=(0, 1))
    for agg, kwargs in ((gr.count(), dict(cmap="fire")), (gr.mean("v"), dict(how="linear", cmap=["red", "blue"])),
                        (gr.count_cat("c"), dict(how="log"))):
        a = cvs.points(frame, "x", "y", agg)
        cats = list(a.coords["c"].values) if a.ndim == 3 else None
        np.testing.assert_array_equal(shade_array(a.data, cats, **kwargs), tf.shade(a, **kwargs).data)


def test_render_refuses_a_summary(frame):
    with pytest.raises(gr.RenderError, match="render takes one reduction, not a summary"):
        gr.render(frame, "x", "y", gr.summary(n=gr.count(), m=gr.mean("v")))


@pytest.mark.parametrize("spec,agg", [("count", lambda: gr.count()), ("mean:v", lambda: gr.mean("v")),
                                      ("by:c", lambda: gr.count_cat("c"))])
def test_cli_hex_png_equals_shaded_hexbin(frame, tmp_path, spec, agg):
    src = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame), src)
    out = tmp_path / "o.png"
    assert main(["render", str(src), "--x", "x", "--y", "y", "--agg", spec, "--width", "64", "--height", "48",
                 "--x-range=-1,1", "--y-range=-1,1", "--glyph", "hex", "--hex-size", "7", "--quiet",
                 "-o", str(out)]) == 0
    hexes = gr.Canvas(64, 48, x_range=(-1, 1), y_range=(-1, 1)).hexbin(frame, "x", "y", agg(), size=7)
    img = tf.shade(hexes, cmap="fire") if hexes.ndim == 2 else tf.shade(hexes)
    png = _png(out)
    np.testing.assert_array_equal(png, np.asarray(img.to_pil()))
    api = gr.render(frame, "x", "y", agg(), 64, 48, (-1, 1), (-1, 1), hex_size=7)
    np.testing.assert_array_equal(np.asarray(api.to_pil()), png)
    assert api.dims == img.dims and np.array_equal(api.coords["x"], img.coords["x"])
    assert png[:24, :, 3].any() and not png[30:, :, 3].any()   # north-up, hexagons of y > 0 only


def test_cli_hex_renders_without_xarray_or_pandas(tmp_path):
    import subprocess
    import sys
    rng = np.random.default_rng(4)
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": rng.random(1000), "y": rng.random(1000)}), src)
    code = ("import sys; from gpu_render.cli import main\n"
            f"assert main(['render', {str(src)!r}, '--x', 'x', '--y', 'y', '--glyph', 'hex', '--quiet',"
            f" '-o', {str(tmp_path / 'o.png')!r}]) == 0\n"
            "print(sorted(m for m in ('xarray', 'pandas', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
