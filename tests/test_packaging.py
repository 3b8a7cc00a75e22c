"""The package as users get it: ``python -m build`` (no warnings), ``twine check``, and the wheel
installed in a fresh venv (its dependencies seen from this environment, not reinstalled) rendering
a PNG and serving the viewer's packaged assets."""
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("build")


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, f"{cmd[:4]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # byte-compiling off (PYTHONDONTWRITEBYTECODE) makes setuptools warn about the environment
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    log = _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
               env=env)
    return out, log


def test_build_has_no_warnings_and_passes_twine_check(dist):
    out, log = dist
    assert sorted(p.suffix for p in out.iterdir()) == [".gz", ".whl"]
    warnings = [line for line in log.splitlines() if "warning" in line.lower()]
    assert warnings == []
    pytest.importorskip("twine")
    check = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())])
    assert check.count("PASSED") == 2


def test_wheel_holds_every_static_asset_and_the_metadata(dist):
    wheel = next(dist[0].glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    static = {f"gpu_render/static/{p.name}" for p in (ROOT / "gpu_render" / "static").iterdir()}
    assert static and static <= names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in meta
    for extra in ("holoviews", "jupyter", "test"):
        assert f"Provides-Extra: {extra}" in meta


def test_wheel_installs_and_works_in_a_fresh_venv(dist, tmp_path):
    wheel = next(dist[0].glob("*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)])
    # the dependencies from this environment, after the venv's own (so the wheel's gpu_render wins)
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = f"""
import json, urllib.request, threading, numpy as np, gpu_render as gr
from gpu_render.server import make_server
assert gr.__file__.startswith({str(env_dir)!r}), gr.__file__
rng = np.random.default_rng(0)
pts = {{"x": rng.random(1000), "y": rng.random(1000)}}
gr.render(pts, "x", "y", width=40, height=30).to_pil().save("out.png")
srv = make_server(pts, "x", "y", {{"count": gr.count()}}, port=0, log=lambda *_: None)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://%s:%d/" % srv.server_address[:2]
page = urllib.request.urlopen(base, timeout=60).read()
assert b"<html" in page.lower(), page[:200]
print(json.dumps(sorted(srv.static)))
srv.shutdown()
"""
    out = _run([str(py), "-c", script], cwd=tmp_path)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    served = set(eval(out.strip().splitlines()[-1]))  # noqa: S307 - our own json list
    assert {f"/static/{p.name}" for p in (ROOT / "gpu_render" / "static").iterdir()} <= served
    cli = env_dir / "bin" / "gpu-render"
    assert "auto" in _run([str(cli), "info"], cwd=tmp_path).lower()
