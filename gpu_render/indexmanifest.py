"""The manifest of a gpu-render index directory (``index.build`` writes it): what a reader needs
to know that a Parquet dataset is an index, and of which version."""
from __future__ import annotations

import json
import os

from .errors import RenderError

FORMAT_VERSION = 1
MANIFEST = "_manifest.json"   # the leading ``_`` keeps it out of the dataset's data files


def read_manifest(path: str):
    """The manifest of the index directory ``path``, or None when ``path`` is not an index."""
    name = os.path.join(path, MANIFEST)
    if not os.path.isdir(path) or not os.path.exists(name):
        return None
    try:
        with open(name) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise RenderError(f"the index manifest {name} cannot be read ({exc}); rebuild the index "
                          "with `gpu-render index`.") from None
    if not isinstance(manifest, dict) or manifest.get("version") != FORMAT_VERSION:
        found = manifest.get("version") if isinstance(manifest, dict) else None
        raise RenderError(f"the index {path} has format version {found!r}; this gpu-render reads "
                          f"version {FORMAT_VERSION}: rebuild it with `gpu-render index`.")
    return manifest


def source_stamps(paths) -> list:
    """[{path, bytes, mtime_ns}] of the source files ``paths``, as the manifest records them so
    that a reader can tell the source has changed since."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append({"path": os.path.abspath(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def check_source(manifest: dict, path: str) -> None:
    """A RenderError when a file the index at ``path`` was built from still exists but has
    another size or time stamp (its rows may differ from the index's). A source deleted since is
    fine: the index holds its rows."""
    for f in manifest.get("source_files", ()):
        try:
            st = os.stat(f["path"])
        except OSError:
            continue
        if st.st_size != f["bytes"] or st.st_mtime_ns != f["mtime_ns"]:
            raise RenderError(f"the index {path} was built from {f['path']}, which has changed since "
                              "(size or time stamp): rebuild the index with `gpu-render index`.")
