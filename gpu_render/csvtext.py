"""CSV text checks, below the parser: the head of a file and its schema, non-UTF-8 lines, and
line counts that prove every data line of a block became a row (or a counted bad row).

pyarrow's CSV parser trusts its input: a quote that is never closed swallows the lines after it
into one row (or, in its parallel parser, loses rows without a word), a non-UTF-8 row crashes
its bad-row callback, and a binary file is parsed as text. These helpers let the readers say so.
"""
from __future__ import annotations

import numpy as np

from .errors import RenderError

HEAD_BYTES = 1 << 20      # bytes read to find the header and infer column types
MAX_HEAD = 256 * 2**20    # a header line longer than this is not a CSV header
# what a file that is not CSV text starts with, and the name it should have
MAGIC = ((b"PAR1", "a Parquet file", ".parquet"), (b"ARROW1", "an Arrow IPC file", ".arrow"),
         (b"\x1f\x8b", "a gzip file", ".csv.gz"))


def head(path: str) -> tuple:
    """(the first whole lines of a CSV, about ``HEAD_BYTES`` and at least the header and one
    row, whether they are the whole file); a file that is not CSV text fails here."""
    import pyarrow as pa
    with pa.input_stream(path, compression="detect") as src:
        data = src.read(HEAD_BYTES)
        while data.count(b"\n") < 2 and len(data) < MAX_HEAD:
            more = src.read(len(data))
            if not more:
                break
            data += more
        whole = not src.read(1)
    check_text(path, data)
    if not whole:
        data = data[:data.rfind(b"\n") + 1]
        if not data:
            raise RenderError(f"the first line of {path} is longer than {MAX_HEAD >> 20} MiB; "
                              "it is not a CSV header.")
    return data, whole


def check_text(path: str, data: bytes) -> None:
    """Fail with one sentence if ``data`` (a file's first bytes) is not CSV text."""
    for magic, what, ext in MAGIC:
        if data.startswith(magic):
            raise RenderError(f"{path} is not CSV text: it is {what} (it starts with {magic!r}); "
                              f"give it a {ext} name.")
    try:
        data.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise RenderError(f"{path} is not CSV text: its header line is not UTF-8.") from None


def schema(path: str):
    """The Arrow schema pyarrow infers from the head of a CSV."""
    return infer_schema(head(path)[0])


def infer_schema(data: bytes):
    """The Arrow schema pyarrow infers from whole lines of CSV (malformed rows ignored)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    body, _, _ = utf8_lines(pa.py_buffer(data))
    with pcsv.open_csv(pa.BufferReader(body),
                       read_options=pcsv.ReadOptions(block_size=max(body.size + 1, 1 << 16)),
                       parse_options=pcsv.ParseOptions(invalid_row_handler=lambda row: "skip")) as reader:
        return reader.schema


def is_utf8(buf) -> bool:
    """Whether an Arrow buffer is valid UTF-8 (checked by Arrow, at memory speed)."""
    import pyarrow as pa
    offsets = pa.py_buffer(np.array([0, buf.size], np.int64))
    arr = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    try:
        arr.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def utf8_lines(buf) -> tuple:
    """(``buf`` without the lines that are not UTF-8, how many there were, the 0-based index of the
    first); ``buf`` itself when it is all UTF-8."""
    import pyarrow as pa
    if is_utf8(buf):
        return buf, 0, None
    keep, dropped, first = [], 0, None
    for i, line in enumerate(buf.to_pybytes().split(b"\n")):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            dropped += 1
            first = i if first is None else first
            continue
        keep.append(line)
    return pa.py_buffer(b"\n".join(keep)), dropped, first


def count_lines(buf) -> tuple:
    """(line ends, lines) of an Arrow buffer: a last line without its end counts as a line."""
    a = np.frombuffer(buf, np.uint8)
    ends = int(np.count_nonzero(a == 10))
    return ends, ends + int(a.size > 0 and a[-1] != 10)


def data_lines(buf) -> int:
    """Lines of ``buf`` pyarrow reads as rows: all but empty ones ("" or a lone "\\r")."""
    a = np.frombuffer(buf, np.uint8)
    if not a.size:
        return 0
    ends = np.flatnonzero(a == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))[:ends.size]
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (a[starts] == 13))
    return int(ends.size - np.count_nonzero(blank) + (a[-1] != 10))
