"""File formats (detection by extension, schemas) and atomic writes: every file gpu-render
writes goes through ``atomic_path`` (temporary file, then ``publish``), whose temporary files are
removed on an exception, SIGINT, SIGTERM or SIGHUP."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import tempfile
import threading

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



# --------------------------------------------------------------------------- atomic writes

_LIVE = set()                 # temporary files and folders to remove if a signal ends the process
_LIVE_LOCK = threading.Lock()
_CLEANUP_SIGNALS = ("SIGTERM", "SIGHUP")


def _on_signal(signum, frame):
    """Remove every live temporary file, then die of the signal as if it had no handler."""
    with _LIVE_LOCK:
        paths = list(_LIVE)
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else _remove_quietly(p)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    """SIGTERM/SIGHUP clean up before the process dies (SIGINT raises KeyboardInterrupt, which
    the writers' ``except BaseException`` handles). Only from the main thread, and only where
    the program has not installed its own handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in _CLEANUP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_signal)


def track(path):
    """Register a temporary file or folder for removal if SIGTERM/SIGHUP ends the process."""
    _install_handlers()
    with _LIVE_LOCK:
        _LIVE.add(path)


def untrack(path):
    with _LIVE_LOCK:
        _LIVE.discard(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it is published over ``path``, on
    any exception (or SIGINT, SIGTERM, SIGHUP) it is removed: ``path`` is whole or absent."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    track(tmp)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    finally:
        untrack(tmp)


def temp_folder(prefix, where=None):
    """A private temporary folder (in ``where``, default the system's), removed if SIGTERM/SIGHUP
    ends the process (the caller removes it otherwise, then calls ``untrack``)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=where, suffix=".tmp" if where else "")
    track(path)
    return path


def make_folder(path, what="output folder", create=True):
    """Create ``path`` (and parents) unless it is a folder already; a file there is an error
    (checked only, with ``create=False``)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise RenderError(f"the {what} {path} is a file, not a folder; give a folder path.")
    if not create:
        return path
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"cannot create the {what} {path}: {exc.strerror or exc}.") from None
    return path


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
