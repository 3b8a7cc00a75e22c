"""``tiles`` over hostile data: deep zooms over sparse world-wide points (the cost follows the
tiles that hold data), levels that need many blocks (each block gets all of its rows, from
in-memory and file sources alike), infinities and latitudes off the map."""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import gpu_render as gr
from gpu_render.tiles import TILE, lnglat_to_tile, tiles


def _world(n=1000, seed=11):
    rng = np.random.default_rng(seed)
    return {"lon": rng.uniform(-179, 179, n), "lat": rng.uniform(-80, 80, n), "v": rng.random(n)}


def _written(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".png"):
                z, x = os.path.relpath(root, folder).split(os.sep)
                out[(int(z), int(x), int(f[:-4]))] = os.path.join(root, f)
    return out


def _occupied(z, pts):
    return {(z, *lnglat_to_tile(z, lon, lat)) for lon, lat in zip(pts["lon"], pts["lat"])}


@pytest.mark.parametrize("z", [12, 16, 20])
def test_deep_zoom_over_sparse_data_costs_its_occupied_tiles(tmp_path, z):
    pts = _world(300)
    reports = tiles(pts, "lon", "lat", out_dir=tmp_path / "t", min_zoom=z, max_zoom=z, geo=True,
                    progress=False, memory_budget=64 * 2**20)
    written = _written(tmp_path / "t")
    occupied = _occupied(z, pts)
    assert set(written) == occupied
    # one pass per block of adjacent occupied tiles, never more blocks than occupied tiles
    assert reports[0].tiles_written == len(occupied)
    assert reports[0].passes <= len(occupied)
    meta = json.loads((tmp_path / "t" / "metadata.json").read_text())
    assert meta["levels"][str(z)]["tiles"] == len(occupied)


def test_sparse_blocks_give_the_tiles_of_one_pass(tmp_path):
    """A level cut into blocks of occupied tiles (a budget of one tile) writes the same tiles,
    pixel for pixel, as the same level aggregated in one pass."""
    rng = np.random.default_rng(2)
    pts = {"lon": np.concatenate([rng.normal(2, 3, 3000), rng.uniform(-170, 170, 300)]),
           "lat": np.concatenate([rng.normal(45, 2, 3000), rng.uniform(-70, 70, 300)]),
           "v": rng.random(3300)}
    one_tile = 2 * TILE * TILE * 8
    for name, budget in (("one", None), ("blocks", one_tile)):
        tiles(pts, "lon", "lat", gr.mean("v"), out_dir=tmp_path / name, min_zoom=0, max_zoom=4,
              geo=True, progress=False, memory_budget=budget)
    a, b = _written(tmp_path / "one"), _written(tmp_path / "blocks")
    assert set(a) == set(b) and len(a) > 20
    for key in a:
        assert np.array_equal(np.asarray(Image.open(a[key])), np.asarray(Image.open(b[key]))), key


def test_file_source_in_many_blocks_reads_every_row(tmp_path, monkeypatch):
    """Each block of a level gets its rows from the whole file, not from its first chunk (here
    chunks of 16K rows, as a file larger than memory would be read)."""
    from gpu_render import filetable
    monkeypatch.setattr(filetable, "MAX_CHUNK_ROWS", filetable.MIN_CHUNK_ROWS)
    pts = _world(60_000, seed=3)
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table(pts), src, row_group_size=5_000)
    budget = 4 * TILE * TILE * 8
    for name, source in (("memory", pts), ("file", str(src))):
        tiles(source, "lon", "lat", out_dir=tmp_path / name, min_zoom=3, max_zoom=3, geo=True,
              progress=False, memory_budget=budget)
    a, b = _written(tmp_path / "memory"), _written(tmp_path / "file")
    assert set(a) == set(b) == _occupied(3, pts)
    for key in a:
        assert np.array_equal(np.asarray(Image.open(a[key])), np.asarray(Image.open(b[key]))), key


def test_tiles_of_values_with_inf(tmp_path):
    pts = _world(2000)
    pts["v"][:4] = [np.inf, -np.inf, np.inf, np.inf]
    for how in ("eq_hist", "linear", "log", "cbrt"):
        out = tmp_path / how
        tiles(pts, "lon", "lat", gr.mean("v"), out_dir=out, max_zoom=2, geo=True, how=how,
              progress=False)
        meta = json.loads((out / "metadata.json").read_text())
        finite = pts["v"][np.isfinite(pts["v"])]
        assert meta["levels"]["0"]["span"][0] >= finite.min()
        assert meta["levels"]["0"]["span"][1] <= finite.max()
        assert all(np.isfinite(meta["levels"]["2"]["ticks"]))


def test_tiles_drop_latitudes_off_the_map(tmp_path):
    pts = _world(500)
    pts["lat"][:5] = [90.0, -90.0, 91.0, -200.0, np.nan]
    tiles(pts, "lon", "lat", out_dir=tmp_path / "t", max_zoom=3, geo=True, progress=False)
    good = {k: v[5:] for k, v in pts.items()}
    assert set(_written(tmp_path / "t")) >= _occupied(3, good)
    assert {k for k in _written(tmp_path / "t") if k[0] == 3} == _occupied(3, good)
