"""gpu-render warm: compile the CPU kernels into numba's cache (``make`` runs it at install)."""
from __future__ import annotations

HELP = "compile the CPU kernels once, so the first render loads them instead of compiling"


def add_arguments(p):
    pass


def run(args) -> int:
    from cpu_fallback.precompile import precompile
    for what, seconds in precompile():
        print(f"{what}: {seconds:.1f} s")
    return 0
