"""The viewer page in a real headless Chromium (Debian's ``chromium`` package, driven by playwright).

Setup: ``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``:
the browser is Debian's). Skipped, with the reason, when either is missing.
"""
import os
import threading

import numpy as np
import pytest

import gpu_render as gr

from browser_support import ARGS, CHROMIUM  # noqa: E402

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser test")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    from gpu_render.server import make_server
    rng = np.random.default_rng(2)
    n = 60_000
    lon = np.concatenate([rng.normal(2.35, 0.3, n // 2), rng.uniform(-20, 30, n // 2)])
    lat = np.concatenate([rng.normal(48.85, 0.2, n // 2), rng.uniform(35, 60, n // 2)])
    srv = make_server({"lon": lon, "lat": lat, "v": rng.random(n)}, "lon", "lat",
                      {"count": gr.count(), "mean:v": gr.mean("v")}, geo=True, port=0,
                      log=lambda *_: None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 900, "height": 560})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        host, port = server.server_address[:2]
        pg.goto(f"http://{host}:{port}/")
        pg.errors = errors
        yield pg
        browser.close()


LOADED = "document.querySelectorAll('#tiles img[data-state=loaded]')"


def _tile_requests(server):
    return [p for p in list(server.service.requests) if p.startswith("/tiles/")]


def _loaded_tiles_not_blank(page):
    """Draw each loaded tile into a canvas and count those with some opaque pixel."""
    return page.evaluate(f"""() => Array.from({LOADED}).filter(img => {{
        const c = document.createElement('canvas'); c.width = c.height = 256;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, 256, 256).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
        return false; }}).length""")


def test_page_loads_and_shows_tiles(page, server):
    page.wait_for_function(f"window.gpuRender && {LOADED}.length > 0", timeout=30_000)
    page.wait_for_function("!document.getElementById('status').textContent.includes('loading')",
                           timeout=30_000)
    assert page.errors == []
    assert _loaded_tiles_not_blank(page) >= 1
    assert len(_tile_requests(server)) >= 1
    # the colour bar got its scale and the controls their options
    page.wait_for_function("document.querySelectorAll('#ticks span').length === 3", timeout=10_000)
    assert page.eval_on_selector_all("#agg option", "els => els.map(e => e.value)") == ["count", "mean:v"]


def test_zoom_and_pan_request_new_tiles(page, server):
    page.wait_for_function(f"{LOADED}.length > 0", timeout=30_000)
    before = set(_tile_requests(server))
    z0 = page.evaluate("gpuRender.state.z")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 450, box["y"] + 280)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"gpuRender.state.z === {z0 + 1}", timeout=10_000)
    page.wait_for_function(f"Array.from({LOADED}).some(i => i.dataset.tile.startsWith('{z0 + 1}/'))",
                           timeout=30_000)
    after_zoom = set(_tile_requests(server)) - before
    assert any(p.startswith(f"/tiles/{z0 + 1}/") for p in after_zoom)
    # drag the map one and a half tiles: tiles that were off screen are requested
    seen = set(_tile_requests(server))
    page.mouse.move(box["x"] + 450, box["y"] + 280)
    page.mouse.down()
    page.mouse.move(box["x"] + 450 - 400, box["y"] + 280 - 300, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    new = set(_tile_requests(server)) - seen
    assert new, "panning requested no new tiles"
    # the value under the cursor is shown
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.wait_for_function("document.getElementById('readout').textContent.includes('=')", timeout=10_000)
    assert page.errors == []


def test_changing_the_reduction_requests_new_tiles(page, server):
    page.select_option("#agg", "mean:v")
    page.wait_for_function(f"Array.from({LOADED}).some(i => i.src.includes('agg=mean%3Av'))",
                           timeout=30_000)
    assert any("agg=mean%3Av" in p for p in _tile_requests(server))
    if os.environ.get("GPU_RENDER_SCREENSHOT"):
        page.select_option("#agg", "count")
        page.wait_for_timeout(1500)
        page.screenshot(path=os.environ["GPU_RENDER_SCREENSHOT"])
