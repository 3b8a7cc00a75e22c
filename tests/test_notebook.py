"""gpu_render.show (the viewer inline in a notebook) and the quickstart notebook, executed."""
import json
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import gpu_render as gr
from gpu_render.errors import RenderError

ROOT = Path(__file__).resolve().parents[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def _points(n=20_000, seed=3):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n), "v": rng.random(n)}


def test_show_serves_the_viewer_and_stops():
    viewer = gr.show(_points(), "x", "y", ["count", gr.mean("v")], height=420)
    try:
        assert viewer.running
        assert viewer.url.startswith("http://127.0.0.1:")
        html = viewer._repr_html_()
        assert f'src="{viewer.url}"' in html and 'height="420"' in html and "<iframe" in html
        status, ctype, body = _get(viewer.url)
        assert status == 200 and ctype.startswith("text/html") and b"<html" in body.lower()
        meta = json.loads(_get(viewer.url + "api/meta")[2])
        assert json.dumps(meta).count("mean('v')") >= 1
        status, ctype, png = _get(viewer.url + "tiles/0/0/0.png")
        assert status == 200 and ctype == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        viewer.stop()
    assert not viewer.running
    assert "stopped" in viewer._repr_html_()
    host, port = viewer.server.server_address[:2]
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()
    viewer.stop()          # idempotent


def test_show_as_context_manager_and_stop_all():
    from gpu_render import notebook
    with gr.show(_points(2000), "x", "y") as v:
        assert _get(v.url)[0] == 200
        other = gr.show(_points(2000), "x", "y", "mean:v")
        assert other.running
    assert not v.running and other.running
    notebook.stop_all()
    assert not other.running and notebook._running == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(agg="median:v"), "unknown reduction"),
    (dict(agg=42), "agg must be a reduction"),
    (dict(height=0), "height must be a positive"),
])
def test_show_mistakes_are_one_sentence(kwargs, words):
    with pytest.raises(RenderError, match=words):
        gr.show(_points(100), "x", "y", **kwargs)


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    """The example notebook, executed top to bottom in a fresh kernel on small data."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    monkeypatch.setenv("GPU_RENDER_QUICKSTART_N", "20000")      # the kernel inherits it
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3                        # render, shade, by categories
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "bottleneck" in text.lower()            # the profile's report
    assert "rows" in text                          # the progress bar of the streamed file
    htmls = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<iframe" in htmls                      # show()
