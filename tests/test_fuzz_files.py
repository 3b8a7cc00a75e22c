"""Mutation fuzzing of files: valid CSV, Parquet and Arrow IPC bytes with bytes flipped, inserted,
deleted or cut give an aggregate or one RenderError; never another exception, a traceback
printed by a callback ("Exception ignored"), or a crash. Derandomized and small for CI."""
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpu_render as gr
from gpu_render import RenderError

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None)


def _valid_bytes(fmt):
    rng = np.random.default_rng(7)
    table = pa.table({"x": rng.normal(size=200), "y": rng.normal(size=200),
                      "v": rng.integers(0, 5, 200), "s": pa.array([f"c{i % 3}" for i in range(200)])})
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"t.{fmt}")
        if fmt == "csv":
            table.to_pandas().to_csv(path, index=False)
        elif fmt == "parquet":
            pq.write_table(table, path, row_group_size=50)
        else:
            feather.write_feather(table, path)
        with open(path, "rb") as fh:
            return fh.read()


VALID = {fmt: _valid_bytes(fmt) for fmt in ("csv", "parquet", "arrow")}


@st.composite
def mutations(draw, data):
    """``data`` with a few random edits: flipped, inserted or deleted bytes, or a cut end."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] = draw(st.sampled_from([0, 0xFF, 0x22, 0x2C, 0x0A, 0x0D, out[at] ^ 0x80]))
        elif kind == "insert":
            out[at:at] = draw(st.sampled_from([b'"', b"\n", b",", b"\xff\xfe", b"\x00" * 8, b"1e999"]))
        elif kind == "delete":
            del out[at:at + draw(st.integers(1, 64))]
        else:
            del out[at:]
    return bytes(out)


class _Unraisable:
    """Records exceptions Python would print as "Exception ignored" (e.g. in a pyarrow callback)."""

    def __enter__(self):
        self.seen, self._old = [], sys.unraisablehook
        sys.unraisablehook = self.seen.append
        return self

    def __exit__(self, *exc):
        sys.unraisablehook = self._old


@pytest.mark.parametrize("fmt", sorted(VALID))
@SETTINGS
@given(data=st.data())
def test_mutated_file_gives_a_result_or_one_render_error(fmt, data):
    blob = data.draw(mutations(VALID[fmt]))
    skip = data.draw(st.booleans())
    agg = data.draw(st.sampled_from([gr.count(), gr.mean("v"), gr.by("s")]))
    with tempfile.TemporaryDirectory() as d, _Unraisable() as unraisable:
        path = os.path.join(d, f"m.{fmt}")
        with open(path, "wb") as fh:
            fh.write(blob)
        try:
            result = gr.Canvas(16, 16).points(path, "x", "y", agg, backend="cpu", skip_bad_rows=skip,
                                              progress=False)
        except RenderError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip(), exc
        else:
            assert result.shape[:2] == (16, 16)
    assert not unraisable.seen, [u.exc_value for u in unraisable.seen]
