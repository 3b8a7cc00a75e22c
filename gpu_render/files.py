"""File formats: detection by extension and column-pruned reading with pyarrow."""
from __future__ import annotations

import glob
import os

from .errors import RenderError

FORMATS = {".parquet": "Parquet", ".pq": "Parquet", ".csv": "CSV", ".gz": "CSV",
           ".arrow": "Arrow IPC", ".feather": "Arrow IPC", ".ipc": "Arrow IPC"}


def detect_format(path: str) -> str:
    """'Parquet', 'CSV' or 'Arrow IPC', from the path (a directory or glob means Parquet)."""
    if any(ch in path for ch in "*?["):
        if not glob.glob(path):
            raise RenderError(f"no file matches {path}.")
        return "Parquet"
    if not os.path.exists(path):
        raise RenderError(f"file not found: {path}")
    if os.path.isdir(path):
        return "Parquet"
    name = path.lower()
    if name.endswith(".csv.gz"):
        return "CSV"
    ext = os.path.splitext(name)[1]
    if ext not in FORMATS:
        raise RenderError(f"cannot tell the format of {path}: use a .parquet, .csv, .csv.gz, .arrow or .feather file.")
    return FORMATS[ext]


def _expand(path: str):
    """A glob becomes its sorted list of files; a file or directory stays as it is."""
    return sorted(glob.glob(path)) if any(ch in path for ch in "*?[") else path


def schema_names(path: str, fmt: str) -> list:
    import pyarrow as pa
    if fmt == "Parquet":
        import pyarrow.dataset as pds
        return pds.dataset(_expand(path), format="parquet").schema.names
    if fmt == "Arrow IPC":
        with pa.memory_map(path) as src:
            return pa.ipc.open_file(src).schema.names
    from .csvtext import schema
    return schema(path).names


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp: str, path: str) -> None:
    """Give a finished temporary file (``tempfile.mkstemp`` makes them private, 0600) the mode
    a newly created file would have, then rename it over ``path`` atomically."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)

