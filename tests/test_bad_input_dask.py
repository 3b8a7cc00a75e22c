"""Dask sources with ``geo=True``: rows whose latitude is outside Web Mercator's band are dropped
on the workers, and their count travels back with the partials into the result's note, as for
in-memory and file sources."""
import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import gpu_render as gr  # noqa: E402
from gpu_render.render import aggregate  # noqa: E402

NOTE = "dropped {} row(s) whose latitude is outside Web Mercator's band"


@pytest.fixture
def frame(rng):
    n = 600
    df = pd.DataFrame({"lon": rng.uniform(-100, 100, n), "lat": rng.uniform(-60, 60, n)})
    df.loc[[0, 150, 151, 420, 599], "lat"] = [90.0, -90.0, 95.5, -89.0, np.nan]  # 4 off the map
    return df


def _notes(agg):
    return agg.attrs.get("notes", [])


# "processes" pickles each task into another process: the count must come back with the partial
@pytest.mark.parametrize("scheduler", ["sync", "processes"])
@pytest.mark.parametrize("ranges", [None, ((-100, 100), (-70, 70))])
def test_dask_geo_drops_and_notes_latitudes_off_the_map(frame, scheduler, ranges):
    x_range, y_range = ranges or (None, None)
    single = aggregate(frame, "lon", "lat", gr.count(), 40, 30, x_range, y_range, geo=True)
    ours = aggregate(dd.from_pandas(frame, npartitions=3), "lon", "lat", gr.count(), 40, 30,
                     x_range, y_range, geo=True, scheduler=scheduler)
    assert any(NOTE.format(4) in note for note in _notes(single))
    assert _notes(ours) == _notes(single)
    np.testing.assert_array_equal(ours.values, single.values)
    assert ours.attrs["y_range"] == single.attrs["y_range"]
    assert int(ours.sum()) == len(frame) - 5


def test_dask_geo_without_latitudes_off_the_map_has_no_note(frame):
    frame = frame[frame["lat"].abs() < 80]
    ours = aggregate(dd.from_pandas(frame, npartitions=2), "lon", "lat", gr.count(), 40, 30,
                     geo=True, scheduler="sync")
    assert not any("latitude" in note for note in _notes(ours))
