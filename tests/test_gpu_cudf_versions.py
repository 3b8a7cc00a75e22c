"""cuDF's chunked Parquet reader through fakes of cudf/pylibcudf that follow each release's API.

The real ``cudf_parquet_chunks`` runs against each fake: 24.12 has no ``ParquetReaderOptions``;
25.02 and 25.04's ``DataFrame.from_pylibcudf(table, metadata)`` requires metadata and rejects a
``TableWithMetadata``; from 25.06 on (through 26.x) it takes the ``TableWithMetadata`` that
``read_chunk()`` returns. The backend must use the reader exactly where it works.
"""
import sys
import types

import numpy as np
import pytest

from gpu_render.gpu import sources as S

VERSIONS = ("24.12.00", "25.02.01", "25.04.00", "25.06.00", "25.08.00", "25.10.00", "25.12.00",
            "26.02.00", "26.08.00")


class TableWithMetadata:
    def __init__(self, cols):
        self.cols = cols
        self.columns = list(cols.values())

    def column_names(self, include_children=False):
        return list(self.cols)


def fake_modules(version, data, rows_per_chunk=3):
    """(cudf, pylibcudf) modules of ``version`` reading the dict ``data`` of numpy columns."""
    plc = types.ModuleType("pylibcudf")
    cudf = types.ModuleType("cudf")
    cudf.__version__ = version
    release = S._release(version)

    class SourceInfo:
        def __init__(self, paths):
            self.paths = paths

    class Options:
        def __init__(self, source):
            self.source, self.columns = source, None

        def set_columns(self, cols):
            self.columns = cols

    class Builder:
        def __init__(self, source):
            self.source = source

        def build(self):
            return Options(self.source)

    class ChunkedParquetReader:
        def __init__(self, options, chunk_read_limit=0, pass_read_limit=0):
            if not isinstance(options, Options):
                raise TypeError("ChunkedParquetReader takes ParquetReaderOptions")
            self.cols, self.pos = options.columns, 0

        def read_chunk(self):
            n = len(next(iter(data.values())))
            stop = min(n, self.pos + rows_per_chunk)
            out = TableWithMetadata({c: data[c][self.pos:stop] for c in self.cols})
            self.pos = stop
            return out

        def has_next(self):
            return self.pos < len(next(iter(data.values())))

    parquet = types.SimpleNamespace(ChunkedParquetReader=ChunkedParquetReader)
    if release >= (25, 2):
        Options.builder = staticmethod(Builder)
        parquet.ParquetReaderOptions = Options
    plc.io = types.SimpleNamespace(parquet=parquet, SourceInfo=SourceInfo)

    class DataFrame(dict):
        @classmethod
        def from_pylibcudf(cls, table, metadata=None):
            if (25, 2) <= release < (25, 6):
                if metadata is None:
                    raise TypeError("from_pylibcudf() missing 1 required positional argument: 'metadata'")
                if isinstance(table, TableWithMetadata):
                    raise TypeError("Expected a pylibcudf.Table, got TableWithMetadata")
                return cls(zip(metadata["columns"], table))
            if not isinstance(table, TableWithMetadata):
                raise TypeError("Expected a TableWithMetadata")
            return cls(zip(table.column_names(), table.columns))

    cudf.DataFrame = DataFrame
    return cudf, plc


@pytest.fixture
def install(monkeypatch):
    def put(version, data):
        cudf, plc = fake_modules(version, data)
        monkeypatch.setitem(sys.modules, "cudf", cudf)
        monkeypatch.setitem(sys.modules, "pylibcudf", plc)
    return put


@pytest.mark.parametrize("version", VERSIONS)
def test_cudf_reader_is_used_exactly_where_its_api_works(install, version):
    data = {"x": np.arange(10.0), "y": np.arange(10.0) * 2, "v": np.ones(10)}
    install(version, data)
    works = True
    try:
        frames = list(S.cudf_parquet_chunks(["f.parquet"], ["x", "y"], 1 << 20, 1 << 20))
    except (TypeError, AttributeError):
        works = False
    assert S.cudf_available() == works
    if works:
        np.testing.assert_array_equal(np.concatenate([f["x"] for f in frames]), data["x"])
        np.testing.assert_array_equal(np.concatenate([f["y"] for f in frames]), data["y"])
        assert len(frames) == 4


def test_the_minimum_is_the_first_release_that_works(install):
    install("25.04.00", {"x": np.zeros(1)})
    assert not S.cudf_available()
    install("25.06.00", {"x": np.zeros(1)})
    assert S.cudf_available()
    assert S.MIN_CUDF == (25, 6)
