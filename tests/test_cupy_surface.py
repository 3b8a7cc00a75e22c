"""Every array-namespace call the xp-generic code makes exists in CuPy.

The host/device glue (planes, shading, reductions' finalize, device sources, the GPU backend,
...) is written once against ``xp``; under the simulator ``xp`` is numpy, so a name numpy has
and CuPy lacks would only fail on a GPU. Every ``xp.<name>`` (and ``xp.<a>.<b>``) the package
spells is read from the source and looked up on the real ``cupy`` module (it imports without a
GPU).
"""
import ast
import pathlib

import pytest

cupy = pytest.importorskip("cupy", reason="cupy-cuda12x comes with the test extras")
ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMESPACE = "xp"


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == NAMESPACE:
        return tuple(reversed(parts))
    return None


def namespace_uses():
    """{dotted name after ``xp.``: [file:line, ...]} over the package's sources."""
    uses = {}
    for path in sorted((ROOT / "gpu_render").rglob("*.py")) + sorted((ROOT / "cpu_fallback").rglob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or isinstance(parents.get(node), ast.Attribute):
                continue
            name = _dotted(node)
            if name:
                uses.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return uses


def test_the_scan_finds_the_generic_code():
    uses = namespace_uses()
    files = {u.split(":")[0] for where in uses.values() for u in where}
    assert {"gpu_render/planes.py", "gpu_render/shading.py"} <= files
    assert ("where",) in uses and ("full",) in uses


def test_every_namespace_name_exists_in_cupy():
    missing = []
    for name, where in sorted(namespace_uses().items()):
        obj = cupy
        for part in name:
            if not hasattr(obj, part):
                missing.append(f"cupy.{'.'.join(name)} (used at {', '.join(where[:3])})")
                break
            obj = getattr(obj, part)
    assert not missing, "missing in CuPy " + cupy.__version__ + ":\n" + "\n".join(missing)
