"""How the browser tests run Chromium: Debian's ``chromium`` package, headless, driven by playwright
(never ``playwright install``: the browser is Debian's)."""
import os
import shutil

CHROMIUM = os.environ.get("GPU_RENDER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
