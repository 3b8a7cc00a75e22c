"""Utilities with datashader's names (``datashader.utils``): the Web Mercator projection (from
``mercator``) and ``export_image``."""
from __future__ import annotations

import os

from .mercator import EARTH_RADIUS, MAX_LATITUDE, lnglat_to_meters, meters_to_lnglat

__all__ = ["EARTH_RADIUS", "MAX_LATITUDE", "lnglat_to_meters", "meters_to_lnglat", "export_image"]


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
