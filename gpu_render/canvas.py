"""``Canvas``: datashader's point-rendering entry point, run on a chosen backend."""
from __future__ import annotations

import numpy as np

from .axes import AXES, AXIS_TYPES, validate_range
from .errors import RenderError
from .hexgrid import DEFAULT_SIZE

MAX_SIDE = 1 << 16


def _check_size(name, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise RenderError(f"{name} must be an integer number of pixels, got {n!r}.")
    if n <= 0:
        raise RenderError(f"{name} must be positive, got {n} (Invalid size: plot_width and "
                          "plot_height must be bigger than 0).")   # datashader's words, matched by its users
    if n > MAX_SIDE:
        raise RenderError(f"{name}={n} is larger than the {MAX_SIDE}-pixel limit per side.")
    return int(n)


class Canvas:
    """A grid of pixels over data ranges, with datashader's arguments and defaults."""

    def __init__(self, plot_width=600, plot_height=600, x_range=None, y_range=None,
                 x_axis_type="linear", y_axis_type="linear"):
        self.plot_width = _check_size("plot_width", plot_width)
        self.plot_height = _check_size("plot_height", plot_height)
        for name, t in (("x_axis_type", x_axis_type), ("y_axis_type", y_axis_type)):
            if t not in AXIS_TYPES:
                raise RenderError(f"{name} must be 'linear' or 'log', got {t!r}.")
        self.x_axis_type, self.y_axis_type = x_axis_type, y_axis_type
        self.x_axis, self.y_axis = AXES[x_axis_type], AXES[y_axis_type]   # datashader's Axis API
        self.x_range = None if x_range is None else tuple(validate_range("x_range", x_range, x_axis_type))
        self.y_range = None if y_range is None else tuple(validate_range("y_range", y_range, y_axis_type))

    def validate_ranges(self, x_range, y_range):
        """Raise RenderError (a ValueError) if a range is unusable on its axis (None is fine)."""
        validate_range("x_range", x_range, self.x_axis_type)
        validate_range("y_range", y_range, self.y_axis_type)

    def validate_size(self, width, height):
        """Raise RenderError (a ValueError) unless both sizes are positive pixel counts."""
        _check_size("plot_width", width)
        _check_size("plot_height", height)

    def validate(self):
        """Check this canvas's ranges and size (as datashader's ``Canvas.validate``)."""
        self.validate_ranges(self.x_range, self.y_range)
        self.validate_size(self.plot_width, self.plot_height)

    def points(self, source, x=None, y=None, agg=None, *, backend="auto", scheduler=None, **file_options):
        """Aggregate points into an ``xarray.DataArray`` (or ``Dataset`` for a ``summary``).

        ``source`` may also be a path to a CSV (plain or gzip), Parquet (file, directory, glob) or
        Arrow IPC/Feather file, streamed in chunks in bounded memory. ``file_options``:
        ``memory_limit`` ('256MB', bytes), ``float32``, ``skip_bad_rows``, ``progress``, ``profile``
        (see ``pipeline.prepare``). A dask DataFrame runs on dask's active scheduler, or on
        ``scheduler`` (a ``distributed.Client``, a scheduler address or a name such as 'threads');
        a file path with ``scheduler`` is read and aggregated file by file on the workers.
        """
        from .pipeline import prepare, run
        return run(prepare(self, source, x, y, agg, backend=backend, scheduler=scheduler, **file_options))

    def hexbin(self, source, x=None, y=None, agg=None, size=DEFAULT_SIZE, *, origin=(0.0, 0.0),
               backend="auto", scheduler=None, **file_options):
        """Aggregate points per pointy-top hexagon ``size`` pixels wide tiling the canvas (pixels
        from its lower-left corner; ``origin``: the pixel position of global cell (0, 0)'s
        centre). Each point goes to the nearest centre (ties: the lower row, then the left
        column; ``hexgrid``). Returns a DataArray (Dataset for a ``summary``) of dims
        (hex_row, hex_col[, category]) with 2-D coords ``x``/``y``: the centres in data units;
        ``tf.shade`` draws it at the canvas' size. Sources and options as for ``points``."""
        from .hexbin import hexbin
        return hexbin(self, source, x, y, agg, size, origin, backend=backend, scheduler=scheduler,
                      **file_options)

