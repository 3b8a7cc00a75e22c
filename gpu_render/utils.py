"""Utilities with datashader's names: Web Mercator projection."""
from __future__ import annotations

import numpy as np

EARTH_RADIUS = 6378137.0  # WGS84 semi-major axis, metres
MAX_LATITUDE = 85.0511287798066  # where Web Mercator's square world ends


def lnglat_to_meters(longitude, latitude):
    """Project longitude/latitude degrees to Web Mercator metres (as datashader.utils does)."""
    lon = np.asarray(longitude, dtype=np.float64) if not np.isscalar(longitude) else float(longitude)
    lat = np.asarray(latitude, dtype=np.float64) if not np.isscalar(latitude) else float(latitude)
    easting = lon * (np.pi / 180.0) * EARTH_RADIUS
    with np.errstate(divide="ignore", invalid="ignore"):
        northing = np.log(np.tan((90.0 + lat) * np.pi / 360.0)) * EARTH_RADIUS
    return easting, northing


def meters_to_lnglat(x, y):
    """Inverse of ``lnglat_to_meters``."""
    lon = np.asarray(x, dtype=np.float64) / EARTH_RADIUS * 180.0 / np.pi
    lat = np.degrees(2.0 * np.arctan(np.exp(np.asarray(y, dtype=np.float64) / EARTH_RADIUS))) - 90.0
    return lon, lat
