#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU and no network:
#   1. installs the wheels prepared by benchmarks/prepare_gpu_wheels.sh (.whl/) and the project,
#   2. runs the whole test suite on the real GPU (the backend fixture runs every test on 'gpu'),
#   3. compiles every kernel for sm_80/sm_90 (the PTX table, tests/test_ptx_kernels.py, no GPU needed),
#   4. compares every reduction on the GPU with the CPU backend on 10M points (benchmarks/gpu_sanity.py),
#   5. runs the GPU benchmark (benchmarks/bench_gpu.py),
# and writes everything (logs, results.json, results.md, results_<gpu>.json) to OUT_DIR.
# Each stage has its own time limit so the whole check ends within 8 minutes on one H100.
# usage (from anywhere): benchmarks/gpu_check.sh OUT_DIR
# GPU_CHECK_SIMULATE=1 dry-runs the same steps without a GPU: Numba's CUDA simulator, tiny benchmark.
set -uo pipefail
OUT=$(realpath -m "${1:?usage: benchmarks/gpu_check.sh OUT_DIR}")
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${GPU_RENDER_SITE:-/tmp/gpu-render-site}
TEST_LIMIT=${GPU_CHECK_TEST_SECONDS:-240}
TESTS=${GPU_CHECK_TESTS:-tests}          # the dry run in CI passes a few test files
SANITY_ROWS=${GPU_CHECK_SANITY_ROWS:-1e7}
SANITY_LIMIT=${GPU_CHECK_SANITY_SECONDS:-90}
SANITY_ARGS=""
BENCH_LIMIT=${GPU_CHECK_BENCH_SECONDS:-180}
export PYTHONUNBUFFERED=1
status=0
if [ "${GPU_CHECK_SIMULATE:-0}" = 1 ]; then
  export NUMBA_ENABLE_CUDASIM=1
  GPU_BENCH_ARGS="--sim-smoke ${GPU_BENCH_ARGS:-}"
  SANITY_ROWS=${GPU_CHECK_SANITY_ROWS:-600}
  SANITY_ARGS="--large 80x60"
  printf 'name\nCUDA-simulator-dry-run\n' > "$OUT/nvidia-smi.csv"
else
  export GPU_RENDER_REAL_GPU=1
  unset NUMBA_ENABLE_CUDASIM
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.csv" \
    || { echo "no NVIDIA GPU visible (nvidia-smi failed)"; exit 2; }
fi

echo "== install"
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || { echo "installing the wheels in .whl/ failed"; exit 3; }
else
  echo "no wheels in .whl/ (run benchmarks/prepare_gpu_wheels.sh first); using what is installed"
fi
if "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE/project" . \
    >"$OUT/install.log" 2>&1; then
  export PYTHONPATH="$SITE/project:$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "project install failed (see install.log); using the source tree"
  export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -m gpu_render info 2>&1 | tee "$OUT/info.txt"
"$PY" - <<'PY' || { echo "the GPU backend is not usable here; see info.txt"; exit 4; }
import gpu_render.backend as B
be = B.select("gpu")
import os
assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or not be.simulated, "the GPU check ran on the simulator"
print("GPU backend:", be.describe())
PY

echo "== tests on the GPU (limit ${TEST_LIMIT}s)"
timeout "$TEST_LIMIT" "$PY" -m pytest -q -p no:cacheprovider --junitxml="$OUT/tests.xml" $TESTS 2>&1 \
  | tee "$OUT/tests.log"
test_rc=${PIPESTATUS[0]}
[ "$test_rc" -eq 0 ] || { echo "tests: exit $test_rc"; status=1; }

echo "== PTX table (every kernel for sm_80/sm_90, ptxas -v)"
if [ -f benchmarks/results/gpu_kernels.md ]; then cp benchmarks/results/gpu_kernels.md "$OUT/gpu_kernels.md"; fi

echo "== every reduction against the CPU backend on ${SANITY_ROWS} points (limit ${SANITY_LIMIT}s)"
timeout "$SANITY_LIMIT" "$PY" benchmarks/gpu_sanity.py --rows "$SANITY_ROWS" $SANITY_ARGS --out "$OUT" 2>&1 | tee "$OUT/sanity.log"
sanity_rc=${PIPESTATUS[0]}
[ "$sanity_rc" -eq 0 ] || { echo "sanity: exit $sanity_rc"; status=1; }

echo "== benchmark (limit ${BENCH_LIMIT}s)"
timeout "$BENCH_LIMIT" "$PY" benchmarks/bench_gpu.py --out "$OUT" ${GPU_BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
[ "$bench_rc" -eq 0 ] || { echo "benchmark: exit $bench_rc (partial results kept)"; status=1; }
if [ -f "$OUT/results.json" ]; then
  gpu=$(head -2 "$OUT/nvidia-smi.csv" | tail -1 | cut -d, -f1 | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$//')
  cp "$OUT/results.json" "$OUT/results_${gpu:-gpu}.json"
  cp "$OUT/results.md" "$OUT/results_${gpu:-gpu}.md"
fi
echo "== done in ${SECONDS}s: tests exit $test_rc, sanity exit $sanity_rc, benchmark exit $bench_rc; results in $OUT"
exit $status
