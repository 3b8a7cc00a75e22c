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


CHECKSUMS = f"""() => Object.fromEntries(Array.from({LOADED}).map(img => {{
    const c = document.createElement('canvas'); c.width = c.height = 256;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, 256, 256).data;
    let h = 0, opaque = false;
    for (let i = 0; i < d.length; i++) {{
        h = (Math.imul(h, 31) + d[i]) >>> 0;
        if (i % 4 === 3 && d[i]) opaque = true; }}
    return [img.dataset.tile, opaque ? h : null]; }}))"""


def _settled(page, part):
    """Wait until every tile on the page has answered and was requested with ``part``."""
    page.wait_for_function(f"""() => {{ const imgs = Array.from(gpuRender.tiles.values());
        return imgs.length > 0 && imgs.every(i => i.dataset.state && i.src.includes({part!r})); }}""",
                           timeout=60_000)


def test_hexagons_toggle_and_size(page, server):
    """Switching to hexagons, then changing their size, re-requests the tiles, the colour bar and
    the value readout with glyph=hex&size=N, and the tiles drawn differ from the points'."""
    page.select_option("#agg", "count")
    _settled(page, "glyph=points")
    assert page.evaluate("document.getElementById('hexsize').disabled")
    dots = page.evaluate(CHECKSUMS)
    n0 = len(server.service.requests)
    page.select_option("#glyph", "hex")
    _settled(page, "glyph=hex&size=12")
    assert not page.evaluate("document.getElementById('hexsize').disabled")
    page.select_option("#hexsize", "24")
    _settled(page, "glyph=hex&size=24")
    hexes = page.evaluate(CHECKSUMS)
    both = [k for k in hexes if dots.get(k) is not None and hexes[k] is not None]
    assert both and all(hexes[k] != dots[k] for k in both)
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 250)
    page.wait_for_function("document.getElementById('readout').textContent.includes('hexagon 24 px')",
                           timeout=10_000)
    new = list(server.service.requests)[n0:]
    for route in ("/tiles/", "/api/scale", "/api/value"):
        assert any(p.startswith(route) and "glyph=hex&size=24" in p for p in new), route
    assert page.evaluate("[gpuRender.state.glyph, gpuRender.state.hexSize]") == ["hex", 24]
    assert "glyph=hex&size=24" in page.get_attribute("#export", "href")
    page.select_option("#glyph", "points")
    _settled(page, "glyph=points")
    assert page.evaluate(CHECKSUMS) == dots          # the same points tiles as before
    assert page.errors == []


def test_viewer_starts_with_the_servers_glyph(page):
    from gpu_render.server import make_server
    rng = np.random.default_rng(4)
    srv = make_server({"lon": rng.normal(2.35, 0.3, 5000), "lat": rng.normal(48.85, 0.2, 5000)}, "lon", "lat",
                      {"count": gr.count()}, geo=True, port=0, glyph="hex", hex_size=20,
                      log=lambda *_: None)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        pg = page.context.browser.new_page(viewport={"width": 600, "height": 400})
        try:
            host, port = srv.server_address[:2]
            pg.goto(f"http://{host}:{port}/")
            pg.wait_for_function("window.gpuRender && gpuRender.tiles.size > 0", timeout=30_000)
            _settled(pg, "glyph=hex&size=20")
            assert pg.input_value("#glyph") == "hex" and pg.input_value("#hexsize") == "20"
            assert "20" in pg.eval_on_selector_all("#hexsize option", "els => els.map(e => e.value)")
        finally:
            pg.close()
        assert any("glyph=hex&size=20" in q for q in srv.service.requests if q.startswith("/tiles/"))
    finally:
        srv.shutdown()
        srv.server_close()
