"""Web Mercator XYZ tile math: tile ``(z, x, y)`` covers 1/2^z of the Web Mercator square per
side, ``x`` counted eastwards from -180 degrees and ``y`` southwards from the north edge (the XYZ
/ "slippy map" convention)."""
from __future__ import annotations

import math

import numpy as np

from .errors import RenderError
from .mercator import EARTH_RADIUS

TILE = 256
WORLD = math.pi * EARTH_RADIUS  # half the side of the Web Mercator square, metres (20037508.34)
MAX_ZOOM = 24


TILE_PNG_LEVEL = 1   # zlib level for tile PNGs: measured 5x faster than level 6 on a dense tile, 13% larger


def check_zoom(z) -> int:
    if isinstance(z, bool) or not isinstance(z, (int, np.integer)) or not 0 <= z <= MAX_ZOOM:
        raise RenderError(f"zoom must be a whole number from 0 to {MAX_ZOOM}, got {z!r}.")
    return int(z)


def check_tile(z, x, y):
    """Validate a tile address; returns it as ints."""
    z = check_zoom(z)
    n = 1 << z
    for name, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < n:
            raise RenderError(f"tile {name}={v!r} is outside 0..{n - 1} at zoom {z}.")
    return z, int(x), int(y)


def tile_bounds(z, x, y):
    """``(xmin, ymin, xmax, ymax)`` of tile (z, x, y) in Web Mercator metres."""
    z, x, y = check_tile(z, x, y)
    size = 2 * WORLD / (1 << z)
    return (-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size)


def tile_range(z, x_range, y_range):
    """Tiles ``(x0, x1, y0, y1)`` (inclusive) at zoom ``z`` touching the metre ranges given,
    or None when the ranges miss the Web Mercator square."""
    n = 1 << z
    size = 2 * WORLD / n
    (xa, xb), (ya, yb) = x_range, y_range
    if xb < -WORLD or xa > WORLD or yb < -WORLD or ya > WORLD:
        return None

    def clamp(v):
        return int(min(max(v, 0), n - 1))
    return (clamp(math.floor((xa + WORLD) / size)), clamp(math.floor((xb + WORLD) / size)),
            clamp(math.floor((WORLD - yb) / size)), clamp(math.floor((WORLD - ya) / size)))


def lnglat_to_tile(z, lon, lat):
    """The tile holding a longitude/latitude at zoom ``z``."""
    from .mercator import lnglat_to_meters
    mx, my = lnglat_to_meters(lon, lat)
    x0, _, y0, _ = tile_range(z, (mx, mx), (my, my))
    return x0, y0
