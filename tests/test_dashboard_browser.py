"""examples/dashboard.py under ``panel serve`` (127.0.0.1 only), driven in Debian's headless Chromium.

Skipped, with the reason, when Panel, playwright or chromium is missing (see test_viewer_browser.py).
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("panel")
pytest.importorskip("holoviews")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run the browser test")
from browser_support import ARGS, CHROMIUM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = "Array.from(Bokeh.documents[0]._all_models.values())"
# the dashboard's status line ("view N: ... points aggregated ...") as its Bokeh model holds it
STATUS = (f"(window.Bokeh && Bokeh.documents.length ? ({MODELS}.find(m => typeof m.text === 'string' "
          "&& m.text.includes('points aggregated')) || {text: ''}).text : '')")
VIEW = f"Number(({STATUS}).match(/view (\\d+)/)?.[1] || 0)"
# the (x, width) of every image the page's Bokeh document holds
IMAGES = f"""() => {MODELS}
    .filter(m => m.data !== undefined && m.data.image !== undefined && m.data.dw !== undefined)
    .map(m => [Number(m.data.x[0]), Number(m.data.dw[0])])"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard():
    port = _free_port()
    env = dict(os.environ, GPU_RENDER_DASHBOARD_N="50000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(ROOT / "examples" / "dashboard.py"),
         "--address", "127.0.0.1", "--port", str(port), "--allow-websocket-origin",
         f"127.0.0.1:{port}", "--num-procs", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    if proc.poll() is not None:
        pytest.fail(f"panel serve exited: {proc.stdout.read()[-2000:]}")
    yield f"http://127.0.0.1:{port}/dashboard"
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def page(dashboard):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1200, "height": 760})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(dashboard, timeout=120_000)
        pg.errors = errors
        yield pg
        browser.close()


def test_page_loads_with_image_colorbar_and_selectors(page):
    page.wait_for_function(f"{VIEW} >= 1", timeout=120_000)
    page.wait_for_function(f"({IMAGES})().length === 1", timeout=60_000)
    assert "50,000 points aggregated" in page.evaluate(f"() => {STATUS}")
    assert page.errors == []
    names = page.evaluate(f"() => {MODELS}.map(m => m.type)")
    assert "ColorBar" in names and "HoverTool" in names
    options = page.evaluate(f"""() => {MODELS}.filter(m => m.type.endsWith('Select'))
        .map(m => m.options.map(o => Array.isArray(o) ? o[1] : o))""")
    assert ["count", "mean val", "max val", "sum val"] in options
    assert ["fire", "bmy", "kbc", "bgy", "dimgray", "rainbow4"] in options


def test_zoom_reaggregates_and_returns_a_new_image(page):
    page.wait_for_function(f"{VIEW} >= 1 && ({IMAGES})().length === 1", timeout=120_000)
    page.wait_for_timeout(2000)              # let the first layout's re-renders settle
    before, views = page.evaluate(f"({IMAGES})()")[0], page.evaluate(f"() => {VIEW}")
    # playwright's locators pierce Panel's shadow roots; the plot is the largest canvas
    box = max((c.bounding_box() for c in page.locator("canvas").all()),
              key=lambda bb: (bb or {"width": 0})["width"])
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    for _ in range(4):
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(150)
    page.wait_for_function(f"{VIEW} > {views}", timeout=120_000)
    page.wait_for_function(f"(() => {{ const i = ({IMAGES})(); return i.length === 1 && "
                           f"i[0][1] < {before[1]} * 0.9; }})()", timeout=60_000)
    after = page.evaluate(f"({IMAGES})()")[0]
    assert after[1] < before[1]          # a narrower view: the new image covers less of x
    assert page.errors == []
