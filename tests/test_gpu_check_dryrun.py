"""The GPU check (benchmarks/gpu_check.sh) dry-run under Numba's CUDA simulator, small sizes:
every stage runs (install, info, a test, the PTX table, the reduction sanity comparison against
the CPU backend, the benchmark script) and writes its results."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_dry_run(tmp_path):
    env = dict(os.environ, GPU_CHECK_SIMULATE="1", PYTHON=sys.executable,
               GPU_RENDER_SITE=str(tmp_path / "site"), GPU_CHECK_SANITY_ROWS="600", GPU_CHECK_SANITY_SECONDS="300",
               GPU_CHECK_TESTS="tests/test_ptx_kernels.py::test_ptxas_report_parsing")
    out = tmp_path / "out"
    run = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu_check.sh"), str(out)],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "1 passed" in (out / "tests.log").read_text()
    sanity = json.loads((out / "sanity.json").read_text())
    assert len(sanity) == 13 * 4 and all(r["equal"] for r in sanity)
    assert (out / "gpu_kernels.md").read_text().startswith("# GPU kernels compiled for sm_80")
    assert (out / "results.json").exists()
