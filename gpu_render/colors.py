"""Colour helpers and example palettes with ``datashader.colors``' names and values.

``viridis`` and ``inferno`` (256 RGB tuples each, from matplotlib's tables as datashader has
them) are taken on first use from datashader where it is installed, else from matplotlib.
"""
from __future__ import annotations

from .colormaps import SETS1TO3, _WEB_COLORS

__all__ = ["rgb", "hex_to_rgb", "colormap_select", "Greys9", "Hot", "Elevation", "Set1", "Set2",
           "Set3", "Sets1to3", "viridis", "inferno"]

# ColorBrewer's Greys, dark to light (as bokeh.palettes.Greys9)
Greys9 = ["#000000", "#252525", "#525252", "#737373", "#969696", "#bdbdbd", "#d9d9d9",
          "#f0f0f0", "#ffffff"]
# black-red-yellow-white, evenly spread at the top
Hot = ["black", "maroon", "darkred", "red", "orangered", "darkorange", "orange", "gold",
       "yellow", "white"]
# a terrain-like ramp: water, sand, grass, forest, rock, snow
Elevation = ["aqua", "sandybrown", "limegreen", "green", "green", "darkgreen", "saddlebrown",
             "gray", "white"]
# ColorBrewer's qualitative sets, and datashader's default colour key built from them
Set1 = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf",
        "#999999"]
Set2 = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3"]
Set3 = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
        "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"]
Sets1to3 = list(SETS1TO3)


def hex_to_rgb(x):
    """``'#rrggbb'`` -> ``(r, g, b)`` ints; ValueError for anything else (as datashader)."""
    if not (isinstance(x, str) and x.startswith("#") and len(x) == 7):
        raise ValueError(f"Invalid hex color {x!r}; expected '#rrggbb'.")
    try:
        return tuple(int(x[i:i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        raise ValueError(f"Invalid hex color {x!r}; expected '#rrggbb'.") from None


def rgb(x):
    """A colour name, ``'#rrggbb'`` or ``(r, g, b)`` tuple as an ``(r, g, b)`` tuple, with
    datashader's errors: ValueError for an unknown name or out-of-range tuple, TypeError for
    anything that is not a string or 3-tuple."""
    if isinstance(x, str):
        if x.startswith("#"):
            return hex_to_rgb(x)
        if x in _WEB_COLORS:
            return hex_to_rgb("#" + _WEB_COLORS[x])
        raise ValueError(f"Unknown color: {x!r}")
    if isinstance(x, tuple) and len(x) == 3:
        if min(x) < 0 or max(x) > 255:
            raise ValueError(f"Invalid RGB tuple {x!r}; each value must be in 0-255.")
        return x
    raise TypeError(f"Don't know how to convert {x!r} to RGB")


def colormap_select(base_colormap, start=0, end=1.0, reverse=False):
    """The part of a colour list between fractions ``start`` and ``end`` of its length, taken
    after reversing it if ``reverse``."""
    full = list(reversed(base_colormap)) if reverse else list(base_colormap)
    n = len(full)
    return full[int(start * n):int(end * n)]


def _matplotlib_palette(name):
    """A matplotlib listed colormap as datashader's RGB tuples (each channel int(c * 256))."""
    try:
        import matplotlib
    except ImportError:
        raise AttributeError(f"gpu_render.colors.{name} needs datashader or matplotlib "
                             "installed (it is their 256-colour table).") from None
    return [tuple(int(c * 256) for c in rgb_) for rgb_ in matplotlib.colormaps[name].colors]


def __getattr__(name):
    if name in ("viridis", "inferno"):
        try:
            from datashader import colors as dsc
            palette = getattr(dsc, name)
        except ImportError:
            palette = _matplotlib_palette(name)
        globals()[name] = palette
        return palette
    raise AttributeError(f"module 'gpu_render.colors' has no attribute {name!r}")
