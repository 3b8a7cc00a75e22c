"""``convert``: CSV (or any readable file) to Parquet or Arrow IPC, chunk by chunk, atomically.

Memory stays within the budget (one row group buffered at most); float64 columns can be stored
as float32; Parquet row groups are sized for fast chunked reading and carry statistics (which
give later renders their ranges without a pass). The output is written under a temporary name in
the same folder and renamed at the end, so a failure or an interruption leaves no partial file.
"""
from __future__ import annotations

import errno
import os

from . import memory as M
from . import progress as progress_bar
from .errors import RenderError
from .filetable import open_file
from .files import atomic_path

OUT_FORMATS = {".parquet": "Parquet", ".pq": "Parquet", ".arrow": "Arrow IPC",
               ".feather": "Arrow IPC", ".ipc": "Arrow IPC"}
ROW_GROUP_ROWS = 1 << 20


def _write(writer, table):
    """Write one table (whole Parquet row groups, or IPC record batches); a seam for tests."""
    writer.write_table(table)


def _parquet_writer(path, schema, group_rows):
    import pyarrow.parquet as pq

    class Writer(pq.ParquetWriter):
        def write_table(self, table, row_group_size=None):
            super().write_table(table, row_group_size=group_rows)

    return Writer(path, schema, compression="snappy", write_statistics=True, write_page_checksum=True)


def _out_format(path):
    ext = os.path.splitext(path.lower())[1]
    if ext not in OUT_FORMATS:
        raise RenderError(f"cannot tell the output format of {path}: use .parquet or .arrow/.feather.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RenderError(f"output folder {folder} does not exist.")
    return OUT_FORMATS[ext]


def convert(src: str, out: str, *, float32=False, columns=None, memory_limit=None,
            skip_bad_rows=False, row_group_rows=None, progress=None) -> dict:
    """Convert ``src`` to ``out`` (.parquet or .arrow/.feather); returns a summary dict."""
    import pyarrow as pa

    fmt = _out_format(out)
    if os.path.abspath(src) == os.path.abspath(out):
        raise RenderError(f"input and output are the same file: {out}.")
    table = open_file(src, list(columns or []), skip_bad_rows=skip_bad_rows)
    columns = list(columns or table.names)
    budget = M.budget(memory_limit)
    chunk_rows = table.chunk_rows_for(budget / 2, len(columns))
    group_rows = int(row_group_rows or min(ROW_GROUP_ROWS, max(chunk_rows, 1 << 16)))
    schema = pa.schema([table.schema.field(c) for c in columns])
    narrowed = [f.name for f in schema if float32 and f.type == pa.float64()]
    if narrowed:
        schema = pa.schema([pa.field(f.name, pa.float32()) if f.name in narrowed else f for f in schema])

    rows = 0
    bar = progress_bar.bar(table.estimated_rows, progress, desc="converting")
    try:
        with atomic_path(out) as tmp:
            if fmt == "Parquet":
                writer = _parquet_writer(tmp, schema, group_rows)
            else:
                writer = pa.ipc.new_file(tmp, schema)
            with writer:
                pending, pending_rows = [], 0
                for batch in table.batches(columns, min(chunk_rows, group_rows)):
                    if narrowed:
                        batch = pa.RecordBatch.from_arrays(
                            [batch.column(c).cast(schema.field(c).type) for c in columns], schema=schema)
                    pending.append(batch)
                    pending_rows += batch.num_rows
                    if pending_rows >= group_rows or fmt != "Parquet":
                        whole = pending_rows if fmt != "Parquet" else pending_rows // group_rows * group_rows
                        data = pa.Table.from_batches(pending, schema)
                        _write(writer, data.slice(0, whole))
                        rows += whole
                        bar.update(whole)
                        pending = data.slice(whole).to_batches()
                        pending_rows -= whole
                if pending:
                    _write(writer, pa.Table.from_batches(pending, schema))
                    rows += pending_rows
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise RenderError(f"the disk is full while writing {out}; nothing was written.") from None
        raise RenderError(f"could not write {out}: {exc.strerror or exc}; nothing was written.") from None
    finally:
        bar.close()
    return {"rows": rows, "format": fmt, "columns": columns, "float32": narrowed,
            "bad_rows": table.bad_rows, "row_group_rows": group_rows if fmt == "Parquet" else None,
            "bytes": os.path.getsize(out)}
