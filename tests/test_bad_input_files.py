"""Bad files: each renders right or fails with one sentence; rows are never lost unsaid (issue
11, items 2, 8, 13, 16, 17 and 19, file side). CLI cases run as subprocesses: exit 2, one
line, no traceback, no output file."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import gpu_render as gr
from gpu_render import RenderError

N = 1000


def _lines(n=N):
    return [f"{i},{i % 37},{i * 0.5}" for i in range(n)]


def _write(path, lines, header="x,y,v"):
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gpu_render", *map(str, args)], capture_output=True, text=True)


def _assert_one_line_error(proc, message, out):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and "Exception ignored" not in err
    assert len(err.splitlines()) == 1, err
    assert message in err, err
    assert not out.exists()


def _count(path, **kw):
    agg = gr.Canvas(10, 10, x_range=(0, N), y_range=(0, 40)).points(str(path), "x", "y", progress=False, **kw)
    return int(agg.sum()), agg.attrs.get("notes", [])


# ---- item 2: a quote that is never closed ---------------------------------------------------
@pytest.fixture
def unclosed_quote(tmp_path):
    lines = _lines()
    lines[400] = '1,"2,3'     # data row 400 is line 402 (the header is line 1)
    return _write(tmp_path / "quote.csv", lines)


@pytest.mark.parametrize("skip", [False, True])
def test_unclosed_quote_fails_naming_its_line(unclosed_quote, skip):
    with pytest.raises(pd.errors.ParserError, match="EOF inside string"):   # pandas refuses it too
        pd.read_csv(unclosed_quote, on_bad_lines="skip" if skip else "error")
    with pytest.raises(RenderError, match="line 402 opens a quoted value that is never closed"):
        _count(unclosed_quote, skip_bad_rows=skip)


@pytest.mark.parametrize("memory", ["40MB", None])
def test_unclosed_quote_in_a_large_file_is_not_lost_by_the_parallel_parser(tmp_path, memory):
    lines = [f"{i},{i % 37},t{i % 5}" for i in range(200_000)]
    lines[100_000] = '1,"2,t'
    path = _write(tmp_path / "big.csv", lines, "x,y,s")
    for skip in (False, True):
        with pytest.raises(RenderError, match="line 100002 opens a quoted value"):
            gr.Canvas(10, 10, x_range=(0, 2e5), y_range=(0, 40)).points(
                str(path), "x", "y", skip_bad_rows=skip, memory_limit=memory, progress=False)


@pytest.mark.parametrize("command", ["render", "convert"])
def test_cli_unclosed_quote_with_skip_bad_rows_exits_2(unclosed_quote, tmp_path, command):
    out = tmp_path / ("out.png" if command == "render" else "out.parquet")
    args = [command, unclosed_quote, "--skip-bad-rows"]
    args += ["--x", "x", "--y", "y", "-o", out] if command == "render" else [out]
    _assert_one_line_error(_cli(*args), "line 402 opens a quoted value that is never closed", out)


def test_quoted_values_spanning_lines_and_blank_lines_keep_every_row(tmp_path):
    lines = _lines()
    lines[5] = '5,5,"6"'
    lines[7] = ""
    lines[9] = "\r"
    path = _write(tmp_path / "ok.csv", lines)
    assert _count(path)[0] == N - 2
    multi = tmp_path / "multi.csv"
    multi.write_text("x,y,s\n" + "".join(f'{i},{i % 37},"a\nb"\n' if i == 3 else f"{i},{i % 37},c\n"
                                          for i in range(N)))
    assert _count(multi)[0] == N
    assert _count(multi, skip_bad_rows=True) == (N, [])


def test_skipped_rows_are_counted_exactly(tmp_path):
    lines = _lines()
    lines[10] = "oops"
    lines[20] = "1,abc,3"
    lines[30] = "1,2,3,4"
    total, notes = _count(_write(tmp_path / "bad.csv", lines), skip_bad_rows=True)
    assert total == N - 3
    assert notes == ["skipped 3 malformed row(s)"]


# ---- item 13: bytes that are not UTF-8, binary files named .csv ------------------------------
@pytest.fixture
def not_utf8(tmp_path):
    rows = [line.encode() for line in _lines()]
    rows[300] = b"3,\xff\xfe"         # a ragged row that is not UTF-8
    rows[301] = b"3,4,\xfe"
    path = tmp_path / "latin.csv"
    path.write_bytes(b"\n".join([b"x,y,v", *rows]) + b"\n")
    return path


def test_non_utf8_rows_are_skipped_and_counted(not_utf8, capfd):
    assert _count(not_utf8, skip_bad_rows=True) == (N - 2, ["skipped 2 malformed row(s)"])
    assert "Exception ignored" not in capfd.readouterr().err


def test_non_utf8_row_fails_naming_its_line_without_skip(not_utf8, capfd):
    with pytest.raises(RenderError, match="line 302"):
        _count(not_utf8)
    assert "Exception ignored" not in capfd.readouterr().err


@pytest.mark.parametrize("skip", [[], ["--skip-bad-rows"]])
def test_cli_parquet_named_csv_is_one_clear_error(tmp_path, skip):
    path = tmp_path / "data.csv"
    pq.write_table(pa.table({"x": np.arange(10.0), "y": np.arange(10.0)}), path)
    out = tmp_path / "o.png"
    proc = _cli("render", path, "--x", "x", "--y", "y", "-o", out, *skip)
    _assert_one_line_error(proc, "is not CSV text: it is a Parquet file", out)


def test_cli_non_utf8_ragged_row_with_skip_bad_rows(not_utf8, tmp_path):
    out = tmp_path / "o.png"
    proc = _cli("render", not_utf8, "--x", "x", "--y", "y", "-o", out, "--skip-bad-rows")
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
    assert "skipped 2 malformed row(s)" in proc.stderr
    assert out.exists()


# ---- item 17: a field longer than pyarrow's block --------------------------------------------
@pytest.mark.parametrize("where", [0, 500])
def test_csv_with_a_3mb_field_reads(tmp_path, where):
    lines = [f"{i},{i % 37},s" for i in range(N)]
    lines[where] = f"{where},{where % 37},{'a' * 3_000_000}"
    path = _write(tmp_path / "long.csv", lines, "x,y,s")
    assert _count(path)[0] == N
    agg = gr.Canvas(4, 4).points(str(path), "x", "y", gr.by("s"), progress=False)
    assert int(agg.sum()) == N


# ---- item 8: integers beyond 2**53 in files ----------------------------------------------------
def _big_ints():
    return pa.table({"x": pa.array([0, 2**60, 2**60 + 1, 2**62, 5], pa.int64()),
                     "u": pa.array([0, 2**63, 2**64 - 1, 2**60, 5], pa.uint64()),
                     "y": [1.0, 2.0, 3.0, 4.0, 5.0]})


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
@pytest.mark.parametrize("col", ["x", "u"])
def test_integers_beyond_2_53_in_files_render_as_pandas_does(tmp_path, fmt, col, backend):
    import datashader as ds
    table = _big_ints()
    path = tmp_path / f"big.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow":
        feather.write_feather(table, path)
    else:
        table.to_pandas().to_csv(path, index=False)
    got = gr.Canvas(8, 5).points(str(path), col, "y", gr.sum("y"), backend=backend, progress=False)
    want = ds.Canvas(8, 5).points(table.to_pandas().astype(float), col, "y", ds.sum("y"))
    np.testing.assert_array_equal(np.asarray(got.data), want.data)


def test_cli_integers_beyond_2_53(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(_big_ints(), path)
    out = tmp_path / "o.png"
    proc = _cli("render", path, "--x", "x", "--y", "y", "-o", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


# ---- item 19: dictionary columns, datetimes ---------------------------------------------------
@pytest.mark.parametrize("fmt", ["feather", "parquet"])
def test_dictionary_double_columns_in_files_are_numbers(tmp_path, fmt, backend):
    import datashader as ds
    x = np.array([0.5, 1.5, 0.5, 3.5, np.nan, 2.5])
    table = pa.table({"x": pa.array(x, from_pandas=True).dictionary_encode(), "y": np.arange(6.0)})
    path = tmp_path / f"d.{fmt}"
    (feather.write_feather if fmt == "feather" else pq.write_table)(table, path)
    got = gr.Canvas(4, 3, x_range=(0, 4), y_range=(0, 6)).points(str(path), "x", "y", backend=backend, progress=False)
    want = ds.Canvas(4, 3, x_range=(0, 4), y_range=(0, 6)).points(pd.DataFrame({"x": x, "y": np.arange(6.0)}), "x", "y")
    np.testing.assert_array_equal(np.asarray(got.data), want.data)


def test_timezone_aware_timestamps_in_files_are_named(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"t": pa.array(pd.date_range("2020", periods=3, tz="UTC")), "y": [1.0, 2.0, 3.0]}), path)
    out = tmp_path / "o.png"
    proc = _cli("render", path, "--x", "t", "--y", "y", "-o", out)
    _assert_one_line_error(proc, "holds timezone-aware dates and times, timestamp[us, tz=UTC]", out)


# ---- item 16: an all-null value column ---------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_all_null_value_column_is_named(tmp_path, fmt):
    path = tmp_path / f"null.{fmt}"
    if fmt == "csv":
        path.write_text("x,y,v\n" + "".join(f"{i},{i},\n" for i in range(N)))
    else:
        pq.write_table(pa.table({"x": np.arange(N * 1.0), "y": np.arange(N * 1.0),
                                 "v": pa.nulls(N, pa.float64())}), path)
    out = tmp_path / "o.png"
    proc = _cli("render", path, "--x", "x", "--y", "y", "--agg", "mean:v", "-o", out)
    _assert_one_line_error(proc, "column 'v' has no finite values in any of the 1,000 rows", out)


# ---- item 19: demo --rows abc -------------------------------------------------------------------
def test_cli_integer_option_says_what_it_parses(tmp_path):
    proc = _cli("demo", "--rows", "abc", "-o", tmp_path)
    assert proc.returncode == 2
    assert "argument --rows: expected a positive whole number, got 'abc'" in proc.stderr
    assert "pixels" not in proc.stderr and "Traceback" not in proc.stderr
