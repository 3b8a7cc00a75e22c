"""Utilities with datashader's names: Web Mercator projection and ``export_image``."""
from __future__ import annotations

import os

import numpy as np

EARTH_RADIUS = 6378137.0  # WGS84 semi-major axis, metres
MAX_LATITUDE = 85.0511287798066  # where Web Mercator's square world ends
_ORIGIN_SHIFT = np.pi * EARTH_RADIUS  # half the side of the Web Mercator square, metres


def lnglat_to_meters(longitude, latitude):
    """Project longitude/latitude degrees to Web Mercator metres, as datashader.utils does:
    the same arithmetic in the same order (so bit-equal results), returned in the input's form
    (scalars, numpy arrays, pandas Series, lazy dask Series); lists and tuples become arrays."""
    if isinstance(longitude, (list, tuple)):
        longitude = np.array(longitude)
    if isinstance(latitude, (list, tuple)):
        latitude = np.array(latitude)
    easting = longitude * _ORIGIN_SHIFT / 180.0
    with np.errstate(divide="ignore", invalid="ignore"):   # poles and beyond: inf / NaN
        northing = np.log(np.tan((90 + latitude) * np.pi / 360.0)) * _ORIGIN_SHIFT / np.pi
    return easting, northing


def meters_to_lnglat(x, y):
    """Inverse of ``lnglat_to_meters``."""
    lon = np.asarray(x, dtype=np.float64) / EARTH_RADIUS * 180.0 / np.pi
    lat = np.degrees(2.0 * np.arctan(np.exp(np.asarray(y, dtype=np.float64) / EARTH_RADIUS))) - 90.0
    return lon, lat


def export_image(img, filename, fmt=".png", _return=True, export_path=".", background=""):
    """Save ``img`` as ``export_path/filename + fmt`` (datashader's signature and behaviour:
    ``export_path`` is created if missing, ``background`` is composited under the image first,
    and the image is returned unless ``_return`` is false)."""
    from .transfer_functions import set_background

    if not os.path.exists(export_path):
        os.mkdir(export_path)
    if background:
        img = set_background(img, background)
    img.to_pil().save(os.path.join(export_path, filename + fmt))
    return img if _return else None
