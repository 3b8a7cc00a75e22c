"""Argument types and options shared by several subcommands."""
from __future__ import annotations

import argparse
import os

from ..errors import RenderError


def pair(text: str):
    """'A,B' -> (A, B) as floats."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers as MIN,MAX, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {n}")
    return n


def int_in(noun: str, name: str, lo: int, hi):
    """An argparse type for a whole number from ``lo`` to ``hi`` ("expected a {noun}", "{name}
    must be from lo to hi"); ``hi`` may be a callable, read only when an argument is parsed (so
    building the parser imports nothing)."""
    def parse(text: str) -> int:
        top = hi() if callable(hi) else hi
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {text!r}") from None
        if not lo <= n <= top:
            raise argparse.ArgumentTypeError(f"{name} must be from {lo} to {top}, got {n}")
        return n
    return parse


def add_map_columns(p, index=False):
    """--x/--y in Web Mercator metres, or longitude/latitude degrees with --geo (tiles, serve);
    ``index``: left out, they come from a `gpu-render index` manifest (``view_columns``)."""
    more = " (an index: its manifest's)" if index else ""
    p.add_argument("--x", required=not index, default=None,
                   help=f"column of Web Mercator x metres (longitude with --geo){more}")
    p.add_argument("--y", required=not index, default=None,
                   help=f"column of Web Mercator y metres (latitude with --geo){more}")
    p.add_argument("--geo", action="store_true", help="x/y are longitude/latitude degrees")


def add_view_arguments(p):
    """--x/--y, the reduction, canvas size, ranges, geo and backend."""
    p.add_argument("--x", default=None, help="column for the horizontal axis (an index: its manifest's)")
    p.add_argument("--y", default=None, help="column for the vertical axis (an index: its manifest's)")
    p.add_argument("--agg", default="count",
                   help="count|any|sum:COL|mean:COL|min:COL|max:COL|std:COL|var:COL|first:COL|last:COL|by:COL")
    p.add_argument("--width", type=positive_int, default=800)
    p.add_argument("--height", type=positive_int, default=600)
    p.add_argument("--x-range", type=pair, default=None, metavar="MIN,MAX")
    p.add_argument("--y-range", type=pair, default=None, metavar="MIN,MAX")
    p.add_argument("--geo", action="store_true", help="x/y are longitude/latitude degrees (Web Mercator output)")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")


def view_columns(args) -> None:
    """Fill in --x/--y left out from the manifest of a ``gpu-render index`` (with its --geo);
    any other source needs both."""
    if args.x is not None and args.y is not None:
        return
    from ..indexmanifest import read_manifest
    manifest = read_manifest(args.file) if os.path.isdir(args.file) else None
    if manifest is None:
        raise RenderError(f"--x and --y are required for {args.file} (only a `gpu-render index` "
                          "directory names its own columns).")
    args.x = manifest["x"] if args.x is None else args.x
    args.y = manifest["y"] if args.y is None else args.y
    args.geo = args.geo or bool(manifest.get("geo"))


def add_glyph_arguments(p):
    p.add_argument("--glyph", choices=("points", "hex"), default="points",
                   help="aggregate per pixel (points, the default) or per hexagon (hex)")
    p.add_argument("--hex-size", type=float, default=None, metavar="PIXELS",
                   help="with --glyph hex: the hexagons' width in pixels (default 12)")


def hex_size(args):
    """The hexagons' width for --glyph hex (12 px by default); None for points."""
    if args.glyph != "hex":
        if args.hex_size is not None:
            raise RenderError("--hex-size applies to --glyph hex; add --glyph hex or drop --hex-size.")
        return None
    from ..hexgrid import DEFAULT_SIZE
    return DEFAULT_SIZE if args.hex_size is None else args.hex_size


def add_shade_arguments(p, categories=True):
    p.add_argument("--cmap", default="fire", help="a colorcet colormap name (default: fire)")
    p.add_argument("--how", choices=("eq_hist", "log", "cbrt", "linear"), default="eq_hist")
    if categories:
        p.add_argument("--color-key", type=color_key, default=None, metavar="NAME|C1,C2,...",
                       help="colours of by:COL's categories, in order: a colorcet palette name "
                            "(glasbey has 256 distinct colours) or comma-separated colours "
                            "(default: datashader's 22)")


def color_key(text: str):
    """--color-key: a colorcet palette name or comma-separated colours -> a list of colours."""
    from ..colormaps import _colorcet_palette, to_rgb
    try:
        colors = [c.strip() for c in text.split(",")] if "," in text else list(_colorcet_palette(text))
        for c in colors:
            to_rgb(c)
    except RenderError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return colors


def shade_options(args) -> dict:
    """Shading keywords from --color-key (none when it is not given)."""
    return {} if args.color_key is None else {"color_key": args.color_key}


def check_output(path: str, suffix: str = ".png") -> str:
    """Fail early on an output path that cannot be written."""
    if not path.lower().endswith(suffix):
        raise RenderError(f"output {path} must end in {suffix}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RenderError(f"output folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise RenderError(f"output folder {folder} is not writable.")
    return path


def memory_size(text: str) -> int:
    from ..memory import parse_size
    try:
        return parse_size(text)
    except RenderError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_file_arguments(p):
    """Options for streaming files: memory budget, float32 narrowing, bad CSV rows, quiet."""
    p.add_argument("--memory-limit", type=memory_size, default=None, metavar="SIZE",
                   help="memory budget, e.g. 256MB or 2GiB (default: a safe fraction of free memory)")
    f32 = p.add_mutually_exclusive_group()
    f32.add_argument("--float32", dest="float32", action="store_true", default=None,
                     help="aggregate float64 coordinates as float32 where the loss is under a pixel "
                          "(default: on the GPU backend only, where it halves copies)")
    f32.add_argument("--no-float32", dest="float32", action="store_false",
                     help="never narrow float64 coordinates")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip and count malformed CSV rows instead of failing")
    p.add_argument("--quiet", action="store_true", help="no progress bar, print nothing on success")


def file_options(args) -> dict:
    return dict(memory_limit=args.memory_limit, float32=args.float32,
                skip_bad_rows=args.skip_bad_rows, progress=False if args.quiet else None)
