"""``show``: the zoomable ``serve`` viewer inline in a Jupyter notebook.

The viewer's server (``server.make_server``) listens on a free loopback port and serves from a
background thread; the notebook shows its page in an IFrame. ``Viewer.stop()`` (or
``stop_all()``) shuts it down; a viewer is also a context manager.
"""
from __future__ import annotations

import html
import threading

from . import reductions as R
from .errors import RenderError

_running: list["Viewer"] = []


def _named_reductions(agg) -> dict:
    """``agg`` (None, a spec such as 'mean:v', a reduction, a list of those, or a dict of
    name -> reduction) as the server's dict of named reductions."""
    if agg is None:
        agg = ["count"]
    if isinstance(agg, dict):
        return {str(k): R.coerce(v) for k, v in agg.items()}
    if isinstance(agg, (str, R.Reduction)) or not isinstance(agg, (list, tuple)):
        agg = [agg]
    named = {}
    for a in agg:
        red = R.parse(a) if isinstance(a, str) else R.coerce(a)
        named[a if isinstance(a, str) else repr(red)] = red
    return named


class Viewer:
    """A running viewer: ``url``, ``stop()``; shown as an IFrame in a notebook."""

    def __init__(self, server, width="100%", height=500):
        self.server, self.width, self.height = server, width, height
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}/"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True,
                                        name=f"gpu-render-show-{port}")
        self._thread.start()
        _running.append(self)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down and free its port (idempotent)."""
        if self.running:
            self.server.shutdown()
            self._thread.join(timeout)
        self.server.server_close()
        self.server.service.stop()
        if self in _running:
            _running.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _repr_html_(self):
        if not self.running:
            return f"<p>gpu-render viewer at {html.escape(self.url)} (stopped)</p>"
        return (f'<iframe src="{html.escape(self.url)}" width="{html.escape(str(self.width))}" '
                f'height="{html.escape(str(self.height))}" style="border:0" '
                'title="gpu-render viewer"></iframe>')

    def __repr__(self):
        return f"Viewer({self.url!r}, {'running' if self.running else 'stopped'})"


def show(source, x, y, agg=None, *, geo=False, backend="auto", width="100%", height=500,
         port=0, max_points=1_000_000) -> Viewer:
    """Serve ``source`` with the zoomable viewer on a loopback port and return the ``Viewer``,
    which a notebook displays inline (an IFrame). ``agg``: a reduction, a spec ('mean:v'), a
    list of them or a dict of named reductions (the viewer's selector); default count."""
    from .server import make_server
    if not isinstance(height, int) or height <= 0:
        raise RenderError(f"height must be a positive number of pixels, got {height!r}.")
    server = make_server(source, x, y, _named_reductions(agg), geo=geo, host="127.0.0.1",
                         port=port, backend=backend, log=lambda *_: None, max_points=max_points)
    return Viewer(server, width=width, height=height)


def stop_all() -> None:
    """Stop every viewer ``show`` started in this process."""
    for v in list(_running):
        v.stop()
