"""The package's layers hold: the import-linter contract in pyproject.toml is kept, and no two
modules import each other, directly or through others (imports inside functions count)."""
import os
import shutil
import subprocess
import sys

import grimp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lint_imports_keeps_the_layers_contract():
    exe = shutil.which("lint-imports") or os.path.join(os.path.dirname(sys.executable), "lint-imports")
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_no_import_cycles():
    graph = grimp.build_graph("gpu_render", "cpu_fallback", cache_dir=None)
    modules = [m for m in graph.modules if m not in ("gpu_render", "cpu_fallback")]
    circles = []
    for a in modules:
        for b in graph.find_modules_directly_imported_by(a):
            if b in ("gpu_render", "cpu_fallback") or a == b:
                continue
            back = graph.find_shortest_chain(importer=b, imported=a)
            if back:
                circles.append(" -> ".join((a,) + tuple(back)))
    assert circles == []
