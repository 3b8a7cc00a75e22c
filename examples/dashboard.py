"""A Panel dashboard over millions of points, rasterized by gpu-render on every zoom and pan.

    panel serve examples/dashboard.py                       # the built-in demo data
    panel serve examples/dashboard.py --args FILE X Y       # a Parquet, CSV or Arrow file

Reduction and colormap selectors, a colour bar and the value under the cursor (hover). Each
view is re-aggregated at full detail (on the GPU when there is one); the status line says what
the last view aggregated. ``GPU_RENDER_DASHBOARD_N`` sets the number of demo points.
"""
import os
import sys
import time

import datashader
import holoviews as hv
import panel as pn

from gpu_render.holoviews import rasterize

hv.extension("bokeh")
pn.extension()

CMAPS = ["fire", "bmy", "kbc", "bgy", "dimgray", "rainbow4"]


def load(argv):
    """(DataFrame, x, y): the file and columns named on the command line, else the demo data."""
    if len(argv) > 1:
        import pandas as pd
        path, x, y = argv[1], *(argv[2:4] if len(argv) >= 4 else ("x", "y"))
        ext = path.lower()
        if ext.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path), x, y
        if ext.endswith((".arrow", ".feather", ".ipc")):
            return pd.read_feather(path), x, y
        return pd.read_parquet(path), x, y
    from gpu_render.demo import make_frame
    return make_frame(int(os.environ.get("GPU_RENDER_DASHBOARD_N", 2_000_000))), "x", "y"


df, X, Y = load(sys.argv)
values = [c for c in df.columns if c not in (X, Y) and df[c].dtype.kind in "fiu"]
reductions = {"count": datashader.count()}
for c in values:
    reductions.update({f"mean {c}": datashader.mean(c), f"max {c}": datashader.max(c),
                       f"sum {c}": datashader.sum(c)})

agg_select = pn.widgets.Select(name="Reduction", options=reductions, value=reductions["count"])
cmap_select = pn.widgets.Select(name="Colormap", options=CMAPS, value="fire")
status = pn.pane.Markdown("", css_classes=["gpu-render-status"])
views = {"n": 0, "t0": time.perf_counter()}


def _report(img):
    """Runs after each re-aggregation: the status line names the view and the time taken."""
    views["n"] += 1
    (x0, y0, x1, y1) = img.bounds.lbrt()
    ms = (time.perf_counter() - views.pop("t0", time.perf_counter())) * 1e3
    status.object = (f"view {views['n']}: {len(df):,} points aggregated into "
                     f"{img.data.sizes[X]}x{img.data.sizes[Y]} by gpu-render, x {x0:.4g}..{x1:.4g}, "
                     f"y {y0:.4g}..{y1:.4g}" + (f" ({ms:.0f} ms)" if views["n"] == 1 else ""))
    return img


points = hv.Points(df, [X, Y], values)
image = rasterize(points, aggregator=agg_select).apply(_report)
plot = image.apply.opts(cmap=cmap_select).opts(
    hv.opts.Image(colorbar=True, tools=["hover"], cnorm="eq_hist", responsive=True,
                  min_height=500, active_tools=["wheel_zoom"], bgcolor="black"))

about = pn.pane.Markdown(f"## gpu-render dashboard\n**{len(df):,} points**, columns `{X}`, `{Y}`"
                         + (f", values {', '.join(values)}" if values else ""))
pn.Row(pn.Column(about, agg_select, cmap_select, width=280),   # no template: nothing from a CDN
       pn.Column(plot, status, sizing_mode="stretch_both"),
       sizing_mode="stretch_both").servable(title="gpu-render dashboard")
