"""Web Mercator: the projection of longitude/latitude degrees to metres and back, and its constants."""
from __future__ import annotations

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
