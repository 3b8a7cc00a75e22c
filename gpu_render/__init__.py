"""gpu-render: datashader-compatible point rendering on the GPU, with a multi-core CPU fallback.

``import gpu_render as ds`` works for datashader's point rendering: ``Canvas``, the reductions,
``transfer_functions`` (``tf``), ``utils`` and ``colors``. ``render`` is the one-call path.
"""
from . import reductions
from .backend import info as _info
from .canvas import Canvas
from .categorizers import category_binning, category_modulo
from .errors import RenderError
from .reductions import (any, by, count, count_cat, first, first_n, last, last_n, max, max_n,
                         mean, min, min_n, std, sum, summary, var, where)
from .render import render  # the function shadows its module as an attribute, on purpose

__version__ = "0.1.0"

__all__ = ["Canvas", "RenderError", "reductions", "count", "any", "sum", "mean", "min", "max",
           "std", "var", "first", "last", "count_cat", "by", "summary", "where", "max_n", "min_n",
           "first_n", "last_n", "category_modulo", "category_binning", "info", "render",
           "transfer_functions", "tf", "utils", "colors", "profile", "Profile", "show"]


def info() -> dict:
    """Which backend ``backend='auto'`` picks and why, with device and library details."""
    return _info()


def __getattr__(name):
    # Shading, rendering and utilities load on first use, keeping ``import gpu_render`` light.
    import importlib
    if name in ("transfer_functions", "tf"):
        return importlib.import_module(".transfer_functions", __name__)
    if name in ("profile", "Profile"):
        from . import profiling
        return getattr(profiling, name)
    if name == "show":
        from .notebook import show
        return show
    if name in ("utils", "colors"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'gpu_render' has no attribute {name!r}")
