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
