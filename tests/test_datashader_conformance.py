"""Datashader's own point tests (``datashader/tests/test_pandas.py``, shipped in its wheel) run
against gpu-render: ``datashader.Canvas.points`` is routed to ``gpu_render.Canvas.points`` (the
same canvas, datashader's reductions translated to ours) on the CPU backend and on the GPU backend
(Numba's CUDA simulator without a GPU). Only tests of glyphs and reductions gpu-render does not
claim are skipped, each with its reason in ``NOT_CLAIMED``.
"""
import re

import datashader
import pytest

import gpu_render as gr
from gpu_render import backend as B

dst = pytest.importorskip("datashader.tests.test_pandas", reason="datashader's tests ship in its wheel")

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# test-name pattern -> why gpu-render does not claim it (README: "Migrating from datashader")
NOT_CLAIMED = {
    r"row_index": "min_row_index/max_row_index are not offered",
    r"line|area|trimesh|antialias|bug_570|geometry": "glyphs other than points are not covered",
    r"^test_summary_different_n$": "gpu-render accepts n-valued reductions of different n in one "
                                   "summary, which datashader refuses (README: Migrating)",
    r"^test_cudf_concat$": "a cuDF-only test (needs cuDF and a GPU)",
    r"^test_categorical_(min|max|first|last)$": "by(column, min/max/first/last) is not offered",
}
def not_claimed(name):
    for pattern, reason in NOT_CLAIMED.items():
        if re.search(pattern, name):
            return reason
    return None


def ours(red):
    """gpu-render's reduction for datashader's ``red``, by the library's own conversion (the test
    is skipped for the reductions gpu-render refuses, each named in its sentence)."""
    from gpu_render.errors import RenderError
    try:
        return gr.reductions.coerce(red)
    except RenderError as exc:
        pytest.skip(str(exc))


def router(backend):
    def points(self, source, x=None, y=None, agg=None, geometry=None):
        if geometry is not None:
            pytest.skip("points from a geometry column are not covered")
        axis = {"LinearAxis": "linear", "LogAxis": "log"}
        canvas = gr.Canvas(plot_width=self.plot_width, plot_height=self.plot_height,
                           x_range=self.x_range, y_range=self.y_range,
                           x_axis_type=axis[type(self.x_axis).__name__],
                           y_axis_type=axis[type(self.y_axis).__name__])
        return canvas.points(source, x, y, ours(agg if agg is not None else datashader.count()),
                             backend=backend)
    return points


@pytest.fixture(params=["cpu", "gpu"], autouse=True)
def routed(request, monkeypatch):
    be, reason = B.probe(request.param, explicit=True)
    if be is None:
        pytest.skip(f"{request.param} backend unavailable: {reason}")
    monkeypatch.setattr(datashader.Canvas, "points", router(request.param))
    return request.param


@pytest.fixture
def df():
    """datashader's pandas test frame (its cuDF parameter needs cuDF and a GPU)."""
    return dst._pandas()


@pytest.fixture
def DataFrame():  # noqa: N802 - datashader's fixture name
    return dst._pandas_DataFrame


def _collect():
    for name, fn in vars(dst).items():
        if not (name.startswith("test_") and callable(fn)):
            continue
        reason = not_claimed(name)
        globals()[name] = pytest.mark.skip(reason=reason)(fn) if reason else fn


_collect()


@pytest.mark.parametrize("rng", [(1, 10), (0.01, 10), (1, 1e6), (3, 7.5), (1e-3, 2)])
@pytest.mark.parametrize("n", [2, 7, 1000, 1920])
def test_log_axis_coordinates_are_datashaders_bit_for_bit(routed, rng, n):
    axis = datashader.core.LogAxis()
    ref = axis.compute_index(axis.compute_scale_and_translate(rng, n), n)
    canvas = gr.Canvas(plot_width=n, plot_height=2, x_range=rng, y_range=(0, 1), x_axis_type="log")
    got = canvas.points({"x": [rng[0]], "y": [0.5]}, "x", "y", gr.count(), backend=routed)
    assert (got.coords["x"].values == ref).all()
