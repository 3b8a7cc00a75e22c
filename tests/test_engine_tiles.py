"""``tiles()`` from a file whose zoom levels need several blocks of tiles (several passes).

Regression: a level cut into blocks used to read only the first chunk of a file, so most rows
were silently missing from every multi-block level.
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

from gpu_render.tiles import TILE, WORLD, tile_bounds, tiles


def _read(path):
    return np.asarray(Image.open(path).convert("RGBA"))


def _written(out):
    return sorted(os.path.relpath(os.path.join(root, f), out)
                  for root, _, files in os.walk(out) for f in files if f.endswith(".png"))


@pytest.fixture
def arrow_points(tmp_path, n_points):
    """An Arrow IPC file of ``n_points`` rows in eight record batches (eight chunks)."""
    import pyarrow as pa
    rng = np.random.default_rng(3)
    x = rng.normal(1.0e6, 2.0e6, n_points).clip(-WORLD + 1, WORLD - 1)
    y = rng.normal(2.0e6, 2.0e6, n_points).clip(-WORLD + 1, WORLD - 1)
    path = tmp_path / "pts.arrow"
    table = pa.table({"x": x, "y": y})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=max(1, n_points // 8)):
            writer.write_batch(batch)
    return path, x, y


def test_multi_block_levels_of_a_file_equal_one_block_and_datashader(tmp_path, arrow_points, backend):
    import datashader as ds
    import pandas as pd

    path, x, y = arrow_points
    one, many = tmp_path / "one", tmp_path / "many"
    rep1 = tiles(str(path), "x", "y", out_dir=one, min_zoom=3, max_zoom=4, backend=backend,
                 progress=False)
    rep2 = tiles(str(path), "x", "y", out_dir=many, min_zoom=3, max_zoom=4, backend=backend,
                 progress=False, memory_limit=3 * 2**20)
    assert all(r.passes == 1 for r in rep1)
    assert all(r.passes > 1 for r in rep2)          # the small limit cuts each level in blocks
    assert _written(one) == _written(many)
    for rel in _written(one):
        assert np.array_equal(_read(one / rel), _read(many / rel)), rel
    m1 = json.loads((one / "metadata.json").read_text())["levels"]
    m2 = json.loads((many / "metadata.json").read_text())["levels"]
    assert m1 == m2

    # every tile's covered pixels are datashader's non-empty pixels over the tile's bounds
    df = pd.DataFrame({"x": x, "y": y})
    covered = 0
    for rel in _written(many):
        z, tx, ty = (int(p) for p in rel[:-4].split(os.sep))
        x0, y0, x1, y1 = tile_bounds(z, tx, ty)
        agg = ds.Canvas(TILE, TILE, x_range=(x0, x1), y_range=(y0, y1)).points(df, "x", "y", ds.count())
        expected = np.asarray(agg.data)[::-1] > 0     # north-up, as the PNG
        got = _read(many / rel)[..., 3] > 0
        assert np.array_equal(got, expected), rel
        covered += int(expected.sum())
    assert covered > 0


def test_deep_zoom_tiles_of_a_float64_file_keep_full_precision(tmp_path, backend):
    """float64 coordinates are never narrowed for a pyramid: at zoom 20 a pixel is 0.15 m, while
    float32 rounds metres near 1e7 to 1 m (the GPU narrows a single canvas's file by default)."""
    import datashader as ds
    import pandas as pd
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"x": 1.0e7 + rng.uniform(0, 30, 300), "y": 1.0e6 + rng.uniform(0, 30, 300)})
    path = tmp_path / "deep.parquet"
    df.to_parquet(path)
    out = tmp_path / "deep"
    tiles(str(path), "x", "y", out_dir=out, min_zoom=20, max_zoom=20, backend=backend, progress=False)
    written = _written(out)
    assert written
    for rel in written:
        z, tx, ty = (int(p) for p in rel[:-4].split(os.sep))
        x0, y0, x1, y1 = tile_bounds(z, tx, ty)
        agg = ds.Canvas(TILE, TILE, x_range=(x0, x1), y_range=(y0, y1)).points(df, "x", "y", ds.count())
        assert np.array_equal(_read(out / rel)[..., 3] > 0, np.asarray(agg.data)[::-1] > 0), rel
