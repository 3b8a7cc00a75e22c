"""Every mistake a user can make gets one clear sentence; the CLI exits 2 without a traceback and
leaves no output file behind."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import gpu_render as gr
from gpu_render import RenderError
from gpu_render.cli import main


@pytest.fixture
def files(tmp_path):
    ok = tmp_path / "ok.csv"
    ok.write_text("x,y,v,name\n1,2,3,a\n3,4,5,b\n")
    (tmp_path / "empty.csv").write_text("x,y\n")
    (tmp_path / "nan.csv").write_text("x,y\nnan,nan\n,\n")
    (tmp_path / "ragged.csv").write_text("x,y\n1,2\n3\n")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "data.txt").write_text("x,y\n1,2\n")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"x": np.arange(1000.0), "y": np.arange(1000.0)}), tmp_path / "good.parquet")
    data = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(data[: len(data) // 2])
    return tmp_path


CLI_CASES = [
    (["missing.parquet"], "file not found"),
    (["ok.csv", "--x", "nope"], "column 'nope' not found"),
    (["ok.csv", "--y", "name"], "in column 'name': line 2: CSV conversion error to double: invalid value 'a'"),
    (["ok.csv", "--agg", "mean:name"], "in column 'name': line 2"),
    (["empty.csv"], "has no rows"),
    (["nan.csv"], "has no finite values"),
    (["ok.csv", "--x-range=1,1"], "zero-width"),
    (["ok.csv", "--y-range=5,-5"], "inverted"),
    (["ok.csv", "--x-range=10,20"], "none of the 2 rows falls inside"),
    (["ok.csv", "--width", "70000"], "70000 is larger than the 65536-pixel limit"),
    (["ok.csv", "--width", "50000", "--height", "50000", "--agg", "by:name"], "would need"),
    (["ok.csv", "--agg", "median"], "unknown reduction 'median'"),
    (["ok.csv", "--agg", "sum"], "needs a column"),
    (["ok.csv", "--agg", "by:nope"], "column 'nope' not found"),
    (["ok.csv", "--cmap", "nosuchmap"], "nosuchmap"),
    (["corrupt.parquet"], "could not read"),
    (["truncated.parquet"], "could not read"),
    (["ragged.csv"], "could not read"),
    (["data.txt"], "cannot tell the format"),
]


@pytest.mark.parametrize("args,message", CLI_CASES, ids=[c[1].split()[0] + str(i) for i, c in enumerate(CLI_CASES)])
def test_cli_bad_input_exits_2_with_one_sentence(files, capsys, args, message):
    out = files / "out.png"
    argv = ["render", str(files / args[0]), "--x", "x", "--y", "y", *args[1:], "-o", str(out)]
    # later --x/--y options override the defaults given first
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert err.startswith("gpu-render render: error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_bad_output_path_fails_before_reading(files, capsys):
    assert main(["render", str(files / "ok.csv"), "--x", "x", "--y", "y", "-o", str(files / "no" / "o.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["render", str(files / "ok.csv"), "--x", "x", "--y", "y", "-o", str(files / "o.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_cli_error_has_no_traceback_in_a_real_process(files):
    proc = subprocess.run([sys.executable, "-m", "gpu_render", "render", str(files / "missing.csv"), "--x", "x",
                           "--y", "y", "-o", str(files / "o.png")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gpu-render render: error: file not found: {files / 'missing.csv'}"


def test_api_errors(backend):
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "s": ["a", "b"], "d": pd.to_datetime(["2020", "2021"])})
    cases = [
        (lambda: gr.Canvas(0, 10), "plot_width must be positive"),
        (lambda: gr.Canvas(10, -1), "plot_height must be positive"),
        (lambda: gr.Canvas(10.5, 10), "plot_width must be an integer"),
        (lambda: gr.Canvas(10, 10, x_range=(1, 0)), "inverted"),
        (lambda: gr.Canvas(10, 10, x_range=(0, np.inf)), "must be finite"),
        (lambda: gr.Canvas(10, 10, x_range=(0, 1), x_axis_type="log"), "positive on a log axis"),
        (lambda: gr.Canvas(10, 10, x_axis_type="sqrt"), "'linear' or 'log'"),
        (lambda: gr.Canvas(10, 10).points(df, "x", "nope", backend=backend), "column 'nope' not found"),
        (lambda: gr.Canvas(10, 10).points(df, "x", "s", backend=backend), "holds text"),
        (lambda: gr.Canvas(10, 10).points(df, "x", "d", backend=backend), "holds dates"),
        (lambda: gr.Canvas(10, 10).points(df, "x", "y", "count", backend=backend), "agg must be a reduction"),
        (lambda: gr.Canvas(10, 10).points(df.iloc[:0], "x", "y", backend=backend), "has no rows"),
        (lambda: gr.Canvas(10, 10).points([1, 2], "x", "y", backend=backend), "unsupported source"),
        (lambda: gr.Canvas(10, 10).points(df, "x", "y", backend="tpu"), "unknown backend"),
        (lambda: gr.Canvas(10, 10).points(df, 1, "y", backend=backend), "must be column names"),
        (lambda: gr.by("s", "count"), "single reduction"),
        (lambda: gr.mean(None), "needs a column"),
        (lambda: gr.summary(), "at least one"),
    ]
    for call, message in cases:
        with pytest.raises(RenderError, match=message):
            call()


def test_all_nan_category_column(backend):
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "c": [np.nan, np.nan]})
    with pytest.raises(RenderError, match="category column 'c' has no non-null values"):
        gr.Canvas(4, 4).points(df, "x", "y", gr.count_cat("c"), backend=backend)


def test_render_refuses_an_empty_image(backend):
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(RenderError, match="none of the 2 rows falls inside"):
        gr.render(df, "x", "y", x_range=(5, 6), y_range=(5, 6), backend=backend)
