"""Resolve colour and colormap arguments the way Datashader accepts them.

A cmap may be a list/tuple of colours, a single colour (name, ``#rrggbb`` or an
RGB tuple: an alpha ramp of that colour), a colorcet palette name such as
``"fire"``, or a matplotlib-like callable.  colorcet is imported lazily.
"""
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from .errors import RenderError, RenderTypeError


def _web_colors():
    """CSS colour names -> 'RRGGBB', from Pillow, plus datashader's own entries so that named
    colours give the same pixels as datashader's shade (its table adds three 'sage' names and
    has 'sandybrown' as FAA460 where CSS says F4A460)."""
    from PIL import ImageColor
    table = {k: v.lstrip('#').upper() for k, v in ImageColor.colormap.items()
             if isinstance(v, str) and v.startswith('#') and len(v) == 7}
    table.update({'sage': '87AE73', 'darksage': '598556', 'lightsage': 'BCECAC', 'sandybrown': 'FAA460'})
    return table


_WEB_COLORS = _web_colors()

# Datashader's default categorical colours (ColorBrewer Sets 1-3 combined).
SETS1TO3 = (
    '#e41a1c', '#377eb8', '#4daf4a', '#984ea3', '#ff7f00', '#ffff33', '#a65628',
    '#f781bf', '#999999', '#66c2a5', '#fc8d62', '#8da0cb', '#a6d854', '#ffd92f',
    '#e5c494', '#ffffb3', '#fb8072', '#fdb462', '#fccde5', '#d9d9d9', '#ccebc5',
    '#ffed6f',
)

DEFAULT_CMAP = ('lightblue', 'darkblue')


class Colormap(NamedTuple):
    """A resolved cmap: ``kind`` is 'list', 'single' or 'callable'.

    ``rgb`` is a float64 array of shape (N, 3) for 'list', (3,) for 'single'
    and None for 'callable' (then ``func`` holds the callable).
    """
    kind: str
    rgb: object = None
    func: object = None


def is_color(value):
    """True when ``value`` is a single colour (web name, #rrggbb or RGB tuple)."""
    if isinstance(value, str):
        return value.lower() in _WEB_COLORS or value.startswith('#')
    return (isinstance(value, tuple) and len(value) == 3
            and all(isinstance(v, (int, np.integer)) for v in value))


def to_rgb(color):
    """Return ``(r, g, b)`` ints for a colour name, ``#rrggbb`` string or RGB tuple."""
    if isinstance(color, str):
        text = _WEB_COLORS.get(color.lower())
        if text is None and color.startswith('#') and len(color) == 7:
            text = color[1:]
        try:
            return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
        except (TypeError, ValueError):
            raise RenderError(f"Unknown colour {color!r}; use a web colour name such as "
                              "'red' or a hex code such as '#ff8800'.") from None
    if isinstance(color, (tuple, list)) and len(color) == 3:
        if all(0 <= v <= 255 for v in color):
            return tuple(int(v) for v in color)
    raise RenderError(f"Cannot use {color!r} as a colour; give a name, '#rrggbb' "
                      "or an (r, g, b) tuple of 0-255 ints.")


def _colorcet_palette(name):
    """Return the hex list of colorcet palette ``name`` (lazy import)."""
    import colorcet
    palette = colorcet.palette.get(name)
    if palette is None:
        raise RenderError(f"Unknown colormap {name!r}; use a colorcet name such as "
                          "'fire', 'bmy', 'kbc' or 'rainbow4', a colour, or a list of colours.")
    return palette


def _list_rgb(colors):
    """(N, 3) float64 array of the RGB values of a colour sequence."""
    if len(colors) == 0:
        raise RenderError("The colormap list is empty; give at least one colour.")
    return np.array([to_rgb(c) for c in colors], dtype=np.float64)


def resolve_cmap(cmap):
    """Resolve a Datashader-style ``cmap`` argument into a :class:`Colormap`."""
    if isinstance(cmap, Iterator):
        cmap = list(cmap)
    if is_color(cmap):
        return Colormap('single', np.array(to_rgb(cmap), dtype=np.float64))
    if isinstance(cmap, str):
        return Colormap('list', _list_rgb(_colorcet_palette(cmap)))
    if isinstance(cmap, (list, tuple)):
        return Colormap('list', _list_rgb(cmap))
    if callable(cmap):
        return Colormap('callable', func=cmap)
    raise RenderTypeError(f"Cannot use a {type(cmap).__name__} as a colormap; give a colorcet "
                      "name, a colour, a list of colours or a matplotlib colormap.")
