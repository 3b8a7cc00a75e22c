#!/usr/bin/env bash
# Download, on a machine with network, the wheels that benchmarks/gpu_check.sh installs on a GPU
# machine without network (Python 3.12, manylinux x86_64, CUDA 13). They land in .whl/ (git-ignored).
# The GPU image is expected to have CuPy, numba, numba-cuda, numpy, pandas, pyarrow, xarray, scipy,
# pillow, psutil, tqdm, pytest; cuDF is too large to carry, so its baseline is skipped there.
# usage: benchmarks/prepare_gpu_wheels.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${PYTHON:-python3}}
DEST=.whl
mkdir -p "$DEST"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> "$(git rev-parse --git-common-dir)/info/exclude" || true
WHEELS=(
  colorcet==3.2.1                                   # a dependency of gpu-render
  datashader==0.19.1 param==2.4.2 pyct==0.6.0       # the test oracle and its missing needs
  rmm-cu13==26.10.0 librmm-cu13==26.10.0 rapids-logger==0.3.0   # the RMM pool
  dask==2026.8.0 distributed==2026.8.0 partd==1.4.2 locket==1.0.0 tblib==3.1.0 zict==3.0.0 tornado==6.5.2
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do PLATFORMS+=(--platform "$p"); done
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}"
echo "wheels in $DEST ($(du -sh "$DEST" | cut -f1)); each one's own requirements:"
for f in "$DEST"/*.whl; do
  reqs=$(unzip -p "$f" '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' | cut -d' ' -f2- | tr '\n' ' ' || true)
  echo "  $(basename "$f"): ${reqs:-none}"
done
