"""``convert``: CSV to Parquet / Arrow IPC, chunked, float32 on request, atomic."""
import errno
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from pyarrow import feather

import gpu_render as ds
from gpu_render import RenderError
from gpu_render import convert as C
from gpu_render.cli import main


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    rng = np.random.default_rng(5)
    n = 30_000
    t = pa.table({"x": rng.normal(size=n), "y": rng.normal(size=n), "k": rng.integers(0, 9, n),
                  "c": np.array(["p", "q"])[rng.integers(0, 2, n)]})
    path = tmp_path_factory.mktemp("conv") / "in.csv"
    pcsv.write_csv(t, path)
    return str(path)


def _leftovers(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


@pytest.mark.parametrize("out", ["o.parquet", "o.arrow", "o.feather"])
def test_convert_keeps_every_value(csv_path, tmp_path, out):
    dst = str(tmp_path / out)
    info = C.convert(csv_path, dst, memory_limit="16MiB", row_group_rows=8_000)
    ref = pcsv.read_csv(csv_path)
    got = pq.read_table(dst) if out.endswith("parquet") else feather.read_table(dst)
    assert got.equals(ref)
    assert info["rows"] == ref.num_rows
    if out.endswith("parquet"):
        md = pq.read_metadata(dst)
        assert md.num_row_groups == 4 and md.row_group(0).num_rows == 8_000
        assert md.row_group(0).column(0).statistics.has_min_max


def test_convert_float32_and_columns(csv_path, tmp_path):
    dst = str(tmp_path / "f.parquet")
    assert main(["convert", csv_path, dst, "--float32", "--columns", "x,y", "--quiet"]) == 0
    got = pq.read_table(dst)
    assert got.column_names == ["x", "y"]
    assert got.schema.field("x").type == pa.float32()
    ref = pcsv.read_csv(csv_path)
    np.testing.assert_array_equal(got.column("x").to_numpy(), ref.column("x").to_numpy().astype(np.float32))
    # the converted file renders like the CSV narrowed to float32, with ranges from statistics
    agg = ds.Canvas(50, 40).points(dst, "x", "y")
    assert any("statistics" in n for n in agg.attrs["notes"])
    assert int(agg.values.sum()) == ref.num_rows


class Boom(Exception):
    pass


@pytest.mark.parametrize("out", ["o.parquet", "o.arrow"])
@pytest.mark.parametrize("failure", [Boom("injected"), KeyboardInterrupt(),
                                     OSError(errno.ENOSPC, "No space left on device")])
def test_convert_is_atomic(csv_path, tmp_path, monkeypatch, out, failure):
    dst = tmp_path / out
    dst.write_bytes(b"previous version")      # an existing output survives a failed run intact
    calls = []
    real = C._write

    def failing(writer, table):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise failure
        real(writer, table)

    monkeypatch.setattr(C, "_write", failing)
    expected = RenderError if isinstance(failure, OSError) else type(failure)
    with pytest.raises(expected) as exc:
        C.convert(csv_path, str(dst), memory_limit="16MiB", row_group_rows=5_000)
    if isinstance(failure, OSError):
        assert "disk is full" in str(exc.value) and "nothing was written" in str(exc.value)
    assert len(calls) == 2
    assert dst.read_bytes() == b"previous version"
    assert _leftovers(tmp_path) == []


def test_convert_cli_errors(csv_path, tmp_path, capsys):
    assert main(["convert", csv_path, str(tmp_path / "o.txt")]) == 2
    assert "output format" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.csv"), str(tmp_path / "o.parquet")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3\n4,5\n")
    assert main(["convert", str(bad), str(tmp_path / "o.parquet")]) == 2
    assert "line 3" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists() and _leftovers(tmp_path) == []
    assert main(["convert", str(bad), str(tmp_path / "o.parquet"), "--skip-bad-rows"]) == 0
    assert "skipped 1 malformed" in capsys.readouterr().err
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 2
