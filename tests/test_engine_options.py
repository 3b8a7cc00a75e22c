"""One memory option name everywhere: ``memory_limit`` / ``--memory-limit``; the old
``memory_budget`` / ``--memory-mb`` still work, with a deprecation warning / note."""
import os

import numpy as np
import pytest

from gpu_render.cli import main
from gpu_render.errors import RenderError
from gpu_render.tiles import tiles


@pytest.fixture
def points():
    rng = np.random.default_rng(5)
    return {"x": rng.normal(1e6, 3e6, 4000), "y": rng.normal(0, 3e6, 4000)}


def _files(out):
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs)


def test_tiles_memory_limit_takes_sizes_and_the_old_name_warns(tmp_path, points):
    a, b = tmp_path / "a", tmp_path / "b"
    rep = tiles(points, "x", "y", out_dir=a, min_zoom=2, max_zoom=2, progress=False, memory_limit="3MB")
    assert rep[0].passes > 1
    with pytest.warns(DeprecationWarning, match="memory_budget is deprecated; use memory_limit"):
        old = tiles(points, "x", "y", out_dir=b, min_zoom=2, max_zoom=2, progress=False,
                    memory_budget=3_000_000)
    assert old[0].passes == rep[0].passes
    assert _files(a) == _files(b)
    with pytest.raises(RenderError, match="memory_limit only"):
        tiles(points, "x", "y", out_dir=b, progress=False, memory_limit="3MB", memory_budget=3_000_000)
    with pytest.raises(RenderError, match="memory_limit"):
        tiles(points, "x", "y", out_dir=b, progress=False, memory_limit="lots")


@pytest.mark.parametrize("command", ["render", "profile", "tiles", "convert"])
def test_every_command_names_the_memory_option_memory_limit(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "--memory-limit" in text


def test_cli_tiles_memory_mb_still_works_with_a_note(tmp_path, points, capsys):
    import pandas as pd
    src = tmp_path / "p.parquet"
    pd.DataFrame(points).to_parquet(src)
    args = ["tiles", str(src), "--x", "x", "--y", "y", "--min-zoom", "1", "--max-zoom", "2", "--quiet"]
    assert main(args + ["-o", str(tmp_path / "new"), "--memory-limit", "16MiB"]) == 0
    assert main(args + ["-o", str(tmp_path / "old"), "--memory-mb", "16"]) == 0
    assert "--memory-mb is deprecated; use --memory-limit" in capsys.readouterr().err
    assert _files(tmp_path / "new") == _files(tmp_path / "old")
    assert main(args + ["-o", str(tmp_path / "x"), "--memory-mb", "16", "--memory-limit", "16MiB"]) == 2
    assert "--memory-limit only" in capsys.readouterr().err
