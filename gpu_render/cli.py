"""The ``gpu-render`` command. Each subcommand is a module in ``gpu_render.commands`` with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are discovered, not listed.

User mistakes print one sentence and exit 2, without a traceback (also argparse's mistakes, and
what the machine refuses: out of memory, permissions, a full disk). SIGINT exits 130; SIGTERM
and SIGHUP remove temporary files first (``files.atomic_path``).
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


class _Parser(argparse.ArgumentParser):
    """argparse, whose mistakes print one line (not the usage block) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="gpu-render", description="Render massive point datasets to images, on the GPU when there is one.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
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
    except MemoryError:
        print(f"gpu-render {args.command}: error: out of memory; use a smaller canvas, a lower "
              "--memory-limit or fewer zoom levels.", file=sys.stderr)
        return 2
    except OSError as exc:      # the machine refused (permissions, disk full, a file vanished)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"gpu-render {args.command}: error: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
