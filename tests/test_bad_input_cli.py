"""Hostile and careless use of the command line: every case ends in a result, or in one line
on stderr with exit status 2, no traceback and no file (or temporary file) left behind.

Each case runs ``gpu-render`` in a subprocess, as a user would."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from gpu_render import memory as M
from gpu_render.utils import MAX_LATITUDE


def cli(*args, cwd=None, address_space=None):
    """(exit status, stdout, stderr) of ``gpu-render ARGS`` in a fresh process, optionally
    limited to ``address_space`` bytes (so a check that fails cannot take the machine down)."""
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    out = subprocess.run([sys.executable, "-m", "gpu_render", *map(str, args)], capture_output=True,
                         text=True, cwd=cwd, timeout=300, preexec_fn=limit if address_space else None)
    return out.returncode, out.stdout, out.stderr


def refused(args, *words, cwd=None, address_space=None):
    """Assert the command fails as promised; returns its one line."""
    rc, out, err = cli(*args, cwd=cwd, address_space=address_space)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".tmp") or p.startswith("."))


@pytest.fixture
def points(tmp_path):
    rng = np.random.default_rng(3)
    n = 2000
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"x": rng.normal(size=n), "y": rng.normal(size=n),
                             "v": rng.normal(size=n)}), path)
    return path


# --------------------------------------------------------------------------- 4: float64 overflow

@pytest.mark.parametrize("data,extra", [
    ((0.0, 1.0), ["--x-range=-1.7e308,1.7e308"]),       # the given range's width overflows
    ((-1e308, 1e308), []),                              # the data's range does
    ((0.0, 1e-310), []),                                # subnormal: the scale overflows
    ((1e308, 1e308 * (1 + 4e-16)), []),                 # pixels narrower than the rounding
])
def test_range_float64_cannot_resolve_is_refused(tmp_path, data, extra):
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": np.array(data), "y": np.array([0.0, 1.0])}), src)
    out = tmp_path / "o.png"
    refused(["render", src, "--x", "x", "--y", "y", *extra, "-o", out, "--quiet"],
            "x_range", "float64")
    assert not out.exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- 5: latitudes off the map

@pytest.mark.parametrize("bad", [90.0, -90.0, 95.0, -1000.0])
def test_geo_latitudes_outside_the_band_are_dropped_and_noted(tmp_path, bad):
    rng = np.random.default_rng(4)
    lat = rng.uniform(10, 20, 500)
    lat[:3] = bad
    src = tmp_path / "g.parquet"
    pq.write_table(pa.table({"lon": rng.uniform(0, 10, 500), "lat": lat}), src)
    out = tmp_path / "g.png"
    rc, stdout, err = cli("render", src, "--x", "lon", "--y", "lat", "--geo", "-o", out,
                          "--width", 50, "--height", 50)
    assert rc == 0, err
    assert "dropped 3 row(s) whose latitude is outside Web Mercator's band" in err
    # the automatic range is the good rows' (10..20 degrees), not stretched to the pole
    from gpu_render.render import aggregate
    import gpu_render as gr
    grid = aggregate(str(src), "lon", "lat", gr.count(), 50, 50, geo=True, arrays=True)[None]
    ok = aggregate({"lon": rng.uniform(0, 1, 2), "lat": np.array([lat[3:].min(), lat[3:].max()])},
                   "lon", "lat", gr.count(), 50, 50, geo=True, arrays=True)[None]
    assert grid.attrs["y_range"] == ok.attrs["y_range"]
    assert int(grid.data.sum()) == 497
    rc, _, err = cli("tiles", src, "--x", "lon", "--y", "lat", "--geo", "--max-zoom", 2,
                     "-o", tmp_path / "t", "--quiet")
    assert rc == 0, err
    assert (tmp_path / "t" / "metadata.json").exists()


def test_geo_with_no_latitude_on_the_map_says_so(tmp_path):
    src = tmp_path / "g.parquet"
    pq.write_table(pa.table({"lon": [1.0, 2.0], "lat": [90.0, 91.0]}), src)
    line = refused(["render", src, "--x", "lon", "--y", "lat", "--geo", "-o", tmp_path / "o.png"],
                   "'lat'", "Web Mercator")
    assert "no finite values" not in line
    assert f"{MAX_LATITUDE:.4f}" in line


# --------------------------------------------------------------------------- 6: inf values

@pytest.mark.parametrize("command", ["render", "profile", "tiles"])
def test_inf_in_the_value_column_is_shaded(tmp_path, points, command):
    t = pq.read_table(points)
    v = t.column("v").to_numpy().copy()
    v[:2] = [np.inf, -np.inf]
    src = tmp_path / "inf.parquet"
    pq.write_table(t.set_column(2, "v", pa.array(v)), src)
    if command == "tiles":
        rc, _, err = cli("tiles", src, "--x", "x", "--y", "y", "--agg", "mean:v", "--max-zoom", 1,
                         "-o", tmp_path / "t", "--quiet")
    elif command == "profile":
        rc, _, err = cli("profile", src, "--x", "x", "--y", "y", "--agg", "mean:v")
    else:
        rc, _, err = cli("render", src, "--x", "x", "--y", "y", "--agg", "mean:v",
                         "-o", tmp_path / "o.png", "--quiet")
    assert rc == 0, err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- 7: memory check

def test_canvas_that_cannot_fit_in_memory_is_refused(points, tmp_path):
    # a side whose measured need (33 bytes per pixel for count) is 1.5x the available memory,
    # so it must be refused; the process gets an address-space limit in case it is not
    side = min(1 << 16, int((1.5 * M.available_ram() / 33) ** 0.5) + 1)
    out = tmp_path / "big.png"
    refused(["render", points, "--x", "x", "--y", "y", "--width", side, "--height", side,
                    "-o", out], f"{side}x{side}", "shading and PNG", address_space=8 * 2**30)
    assert not out.exists() and leftovers(tmp_path) == []


def test_canvas_that_fits_renders(points, tmp_path):
    out = tmp_path / "o.png"
    rc, _, err = cli("render", points, "--x", "x", "--y", "y", "--width", 2000, "--height", 1500,
                     "-o", out, "--quiet")
    assert rc == 0, err
    assert Image.open(out).size == (2000, 1500)


# The child's own peak: VmHWM belongs to the address space exec made. (getrusage's ru_maxrss
# does not: Linux carries the forking parent's peak over exec, so a child of a big pytest
# process reported the parent's size for both renders and the test failed after memory-hungry
# tests.)
_RSS = textwrap.dedent("""
    import sys
    from gpu_render.cli import main
    side, agg = int(sys.argv[1]), sys.argv[2]
    main(["render", sys.argv[3], "--x", "x", "--y", "y", "--agg", agg, "--width", str(side),
          "--height", str(side), "-o", sys.argv[4], "--quiet", "--backend", "cpu"])
    print(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024)
""")


@pytest.mark.parametrize("agg", ["count", "mean:v"])
def test_memory_model_bounds_the_measured_peak(points, tmp_path, agg):
    """Peak RSS per pixel of a real render (a subprocess; a small canvas as the baseline) stays
    under what the check counts."""
    from gpu_render import backend as B, reductions as R
    from gpu_render.axes import Viewport
    from gpu_render.plan import make_plan, required_bytes

    def peak(side):
        out = subprocess.run([sys.executable, "-c", _RSS, str(side), agg, str(points),
                              str(tmp_path / "m.png")], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split()[-1])

    side = 3000
    per_pixel = (peak(side) - peak(16)) / side**2
    be = B.select("cpu")
    plan = make_plan(Viewport(side, side, (0, 1), (0, 1)), "x", "y", {None: R.parse(agg)}, {})
    counted = (required_bytes(plan, be.parts) + 2 * required_bytes(plan, 1)) / side**2 \
        + M.SHADE_BYTES_PER_PIXEL
    # at least the one finished grid must have been held (the measurement saw the render); the
    # baseline's own peak varies with what the allocator keeps, so no tighter floor is claimed
    held = required_bytes(plan, 1) / side**2
    assert held < per_pixel <= counted


# --------------------------------------------------------------------------- 10: a file as folder

@pytest.mark.parametrize("command", ["tiles", "demo"])
def test_output_folder_that_is_a_file(points, tmp_path, command):
    target = tmp_path / "taken"
    target.write_text("keep me")
    args = (["tiles", points, "--x", "x", "--y", "y", "-o", target] if command == "tiles"
            else ["demo", "--rows", 1000, "-o", target])
    refused(args, str(target), "not a folder")
    assert target.read_text() == "keep me"


# --------------------------------------------------------------------------- 18: many categories

@pytest.fixture
def many_categories(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    path = tmp_path / "c.parquet"
    labels = np.array([f"k{i:02d}" for i in rng.integers(0, 30, n)])
    labels[:30] = [f"k{i:02d}" for i in range(30)]
    pq.write_table(pa.table({"x": rng.normal(size=n), "y": rng.normal(size=n), "c": labels}), path)
    return path


def test_too_many_categories_fail_before_the_pass(many_categories, tmp_path, monkeypatch):
    import gpu_render as gr
    from gpu_render import pipeline
    from gpu_render.errors import RenderError
    from gpu_render.render import render_pixels

    out = tmp_path / "c.png"
    refused(["render", many_categories, "--x", "x", "--y", "y", "--agg", "by:c", "-o", out],
            "22", "30 categories", "glasbey")
    assert not out.exists()
    passes = []
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: passes.append(1))
    with pytest.raises(RenderError, match="too few colours"):
        render_pixels(str(many_categories), "x", "y", gr.by("c"), 20, 20)
    assert passes == []          # refused before any pass over the data


def test_color_key_option(many_categories, tmp_path):
    out = tmp_path / "c.png"
    rc, _, err = cli("render", many_categories, "--x", "x", "--y", "y", "--agg", "by:c",
                     "--color-key", "glasbey", "-o", out, "--quiet", "--width", 40, "--height", 30)
    assert rc == 0, err
    import colorcet
    import gpu_render as gr
    expected = gr.render(str(many_categories), "x", "y", gr.by("c"), 40, 30, color_key=colorcet.glasbey)
    assert np.array_equal(np.asarray(Image.open(out).convert("RGBA")),
                          np.asarray(expected.to_pil().convert("RGBA")))
    refused(["render", many_categories, "--x", "x", "--y", "y", "--agg", "by:c", "--color-key",
             "red,notacolour", "-o", out], "--color-key", "notacolour")


def test_argument_mistakes_print_one_line(points, tmp_path):
    refused(["demo", "--rows", "abc"], "--rows")
    refused(["render", points, "--x", "x", "--y", "y", "-o", tmp_path / "o.png", "--width", "-3"],
            "--width")


# --------------------------------------------------------------------------- 15: signals

_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    which, folder = sys.argv[1], sys.argv[2]

    def stall(*args, **kwargs):       # a writer that has begun and stalls (a slow disk)
        print("writing", flush=True)
        time.sleep(60)

    if which == "png":
        from gpu_render import png
        png.encode = lambda pixels, fh, level: (fh.write(b"partial"), fh.flush(), stall())
        png.write(np.zeros((4, 4), np.uint32), folder + "/o.png")
    elif which == "tiles":
        import json
        from gpu_render import tiles
        json.dump = lambda data, fh, **kw: (fh.write("{"), fh.flush(), stall())
        tiles._write_json(folder + "/metadata.json", {})
    else:
        from gpu_render import convert
        from gpu_render.cli import main
        convert._write = stall
        main(["convert", folder + "/in.csv", folder + "/out.parquet", "--quiet"])
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("which", ["convert", "png", "tiles"])
def test_signal_mid_write_leaves_no_temporary_file(tmp_path, which, sig):
    (tmp_path / "in.csv").write_text("x,y\n" + "".join(f"{i},{i}\n" for i in range(100)))
    before = set(os.listdir(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, which, str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
        assert leftovers(tmp_path)            # the temporary file exists mid-write
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -sig
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("args,words", [
    (["--glyph", "hex", "--hex-size", "1"], ["size=1.0", "2-pixel"]),
    (["--glyph", "hex", "--hex-size", "900"], ["larger than", "canvas"]),
    (["--glyph", "hex", "--hex-size", "abc"], ["--hex-size", "abc"]),
    (["--glyph", "hex", "--hex-size", "-3"], ["positive"]),
    (["--hex-size", "10"], ["--glyph hex"]),
    (["--glyph", "hexagon"], ["--glyph", "hexagon"]),
])
def test_bad_hexagon_options(tmp_path, args, words):
    src = tmp_path / "d.csv"
    src.write_text("x,y\n0,0\n1,1\n")
    refused(["render", src, "--x", "x", "--y", "y", "-o", tmp_path / "o.png", *args], *words)
    assert not (tmp_path / "o.png").exists()


def test_bad_hexagon_size_for_tiles(tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("x,y\n0,0\n1,1\n")
    refused(["tiles", src, "--x", "x", "--y", "y", "--glyph", "hex", "--hex-size", "300",
             "-o", tmp_path / "t"], "size=300.0", "256x256")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("args,words", [
    (["--glyph", "hex", "--hex-size", "1"], ["size=1.0", "2-pixel"]),
    (["--glyph", "hex", "--hex-size", "300"], ["size=300.0", "256x256"]),
    (["--glyph", "hex", "--hex-size", "abc"], ["--hex-size", "abc"]),
    (["--hex-size", "10"], ["--glyph hex"]),
    (["--glyph", "hexagon"], ["--glyph", "hexagon"]),
])
def test_bad_hexagon_options_for_serve(tmp_path, args, words):
    """serve checks --glyph/--hex-size as render and tiles do, before it indexes or listens."""
    src = tmp_path / "d.csv"
    src.write_text("x,y\n0,0\n1,1\n")
    refused(["serve", src, "--x", "x", "--y", "y", "--port", "0", *args], *words)
