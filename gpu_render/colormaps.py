"""Resolve colour and colormap arguments the way Datashader accepts them.

A cmap may be a list/tuple of colours, a single colour (name, ``#rrggbb`` or an
RGB tuple: an alpha ramp of that colour), a colorcet palette name such as
``"fire"``, or a matplotlib-like callable.  colorcet is imported lazily.
"""
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from .errors import RenderError

# CSS/web colour names Datashader understands (same values as datashader.colors).
_WEB_COLORS = {
    'aliceblue': 'F0F8FF', 'antiquewhite': 'FAEBD7', 'aqua': '00FFFF',
    'aquamarine': '7FFFD4', 'azure': 'F0FFFF', 'beige': 'F5F5DC', 'bisque': 'FFE4C4',
    'black': '000000', 'blanchedalmond': 'FFEBCD', 'blue': '0000FF',
    'blueviolet': '8A2BE2', 'brown': 'A52A2A', 'burlywood': 'DEB887',
    'cadetblue': '5F9EA0', 'chartreuse': '7FFF00', 'chocolate': 'D2691E',
    'coral': 'FF7F50', 'cornflowerblue': '6495ED', 'cornsilk': 'FFF8DC',
    'crimson': 'DC143C', 'cyan': '00FFFF', 'darkblue': '00008B', 'darkcyan': '008B8B',
    'darkgoldenrod': 'B8860B', 'darkgray': 'A9A9A9', 'darkgreen': '006400',
    'darkgrey': 'A9A9A9', 'darkkhaki': 'BDB76B', 'darkmagenta': '8B008B',
    'darkolivegreen': '556B2F', 'darkorange': 'FF8C00', 'darkorchid': '9932CC',
    'darkred': '8B0000', 'darksage': '598556', 'darksalmon': 'E9967A',
    'darkseagreen': '8FBC8F', 'darkslateblue': '483D8B', 'darkslategray': '2F4F4F',
    'darkslategrey': '2F4F4F', 'darkturquoise': '00CED1', 'darkviolet': '9400D3',
    'deeppink': 'FF1493', 'deepskyblue': '00BFFF', 'dimgray': '696969',
    'dimgrey': '696969', 'dodgerblue': '1E90FF', 'firebrick': 'B22222',
    'floralwhite': 'FFFAF0', 'forestgreen': '228B22', 'fuchsia': 'FF00FF',
    'gainsboro': 'DCDCDC', 'ghostwhite': 'F8F8FF', 'gold': 'FFD700',
    'goldenrod': 'DAA520', 'gray': '808080', 'green': '008000',
    'greenyellow': 'ADFF2F', 'grey': '808080', 'honeydew': 'F0FFF0',
    'hotpink': 'FF69B4', 'indianred': 'CD5C5C', 'indigo': '4B0082', 'ivory': 'FFFFF0',
    'khaki': 'F0E68C', 'lavender': 'E6E6FA', 'lavenderblush': 'FFF0F5',
    'lawngreen': '7CFC00', 'lemonchiffon': 'FFFACD', 'lightblue': 'ADD8E6',
    'lightcoral': 'F08080', 'lightcyan': 'E0FFFF', 'lightgoldenrodyellow': 'FAFAD2',
    'lightgray': 'D3D3D3', 'lightgreen': '90EE90', 'lightgrey': 'D3D3D3',
    'lightpink': 'FFB6C1', 'lightsage': 'BCECAC', 'lightsalmon': 'FFA07A',
    'lightseagreen': '20B2AA', 'lightskyblue': '87CEFA', 'lightslategray': '778899',
    'lightslategrey': '778899', 'lightsteelblue': 'B0C4DE', 'lightyellow': 'FFFFE0',
    'lime': '00FF00', 'limegreen': '32CD32', 'linen': 'FAF0E6', 'magenta': 'FF00FF',
    'maroon': '800000', 'mediumaquamarine': '66CDAA', 'mediumblue': '0000CD',
    'mediumorchid': 'BA55D3', 'mediumpurple': '9370DB', 'mediumseagreen': '3CB371',
    'mediumslateblue': '7B68EE', 'mediumspringgreen': '00FA9A',
    'mediumturquoise': '48D1CC', 'mediumvioletred': 'C71585', 'midnightblue': '191970',
    'mintcream': 'F5FFFA', 'mistyrose': 'FFE4E1', 'moccasin': 'FFE4B5',
    'navajowhite': 'FFDEAD', 'navy': '000080', 'oldlace': 'FDF5E6', 'olive': '808000',
    'olivedrab': '6B8E23', 'orange': 'FFA500', 'orangered': 'FF4500', 'orchid': 'DA70D6',
    'palegoldenrod': 'EEE8AA', 'palegreen': '98FB98', 'paleturquoise': 'AFEEEE',
    'palevioletred': 'DB7093', 'papayawhip': 'FFEFD5', 'peachpuff': 'FFDAB9',
    'peru': 'CD853F', 'pink': 'FFC0CB', 'plum': 'DDA0DD', 'powderblue': 'B0E0E6',
    'purple': '800080', 'red': 'FF0000', 'rosybrown': 'BC8F8F', 'royalblue': '4169E1',
    'saddlebrown': '8B4513', 'sage': '87AE73', 'salmon': 'FA8072',
    'sandybrown': 'FAA460', 'seagreen': '2E8B57', 'seashell': 'FFF5EE',
    'sienna': 'A0522D', 'silver': 'C0C0C0', 'skyblue': '87CEEB', 'slateblue': '6A5ACD',
    'slategray': '708090', 'slategrey': '708090', 'snow': 'FFFAFA',
    'springgreen': '00FF7F', 'steelblue': '4682B4', 'tan': 'D2B48C', 'teal': '008080',
    'thistle': 'D8BFD8', 'tomato': 'FF6347', 'turquoise': '40E0D0', 'violet': 'EE82EE',
    'wheat': 'F5DEB3', 'white': 'FFFFFF', 'whitesmoke': 'F5F5F5', 'yellow': 'FFFF00',
    'yellowgreen': '9ACD32',
}

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
    raise RenderError(f"Cannot use a {type(cmap).__name__} as a colormap; give a colorcet "
                      "name, a colour, a list of colours or a matplotlib colormap.")
