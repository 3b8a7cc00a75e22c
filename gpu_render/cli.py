"""The ``gpu-render`` command. Each subcommand is a module in ``gpu_render.commands`` with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are discovered, not listed.

User mistakes print one sentence and exit 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .errors import RenderError


def _commands():
    from . import commands
    return {m.name.replace("_", "-"): m.name for m in pkgutil.iter_modules(commands.__path__)
            if not m.name.startswith("_")}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gpu-render", description="Render massive point datasets to images, on the GPU when there is one.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, modname in sorted(_commands().items()):
        mod = importlib.import_module(f"gpu_render.commands.{modname}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except RenderError as exc:
        print(f"gpu-render {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gpu-render {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
