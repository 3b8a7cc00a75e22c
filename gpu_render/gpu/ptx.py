"""The GPU kernels compiled for real GPUs without one: NVVM to PTX, ``ptxas -v`` for resources.

``arg_spec`` describes a launch argument (as the backend passes it) in plain data, so launches
recorded in one process (e.g. under the CUDA simulator) can be compiled in another where
numba.cuda is the real target. ``python -m gpu_render.gpu.ptx SPECS.json CC OUT.json`` compiles
every (kernel key, argument specs) of SPECS.json for compute capability CC (e.g. ``8.0``) and
writes ptxas's report of each. Needs numba-cuda with NVVM and ``ptxas``
(``numba-cuda[cu12]``: ``nvidia-cuda-nvcc-cu12``); no driver, no GPU.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def arg_spec(value):
    """A JSON-able description of one kernel argument: its numba type, in parts."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        contiguous = _contiguous(value)
        return ["array", np.dtype(value.dtype).str, int(value.ndim), "C" if contiguous else "A"]
    if isinstance(value, (bool, np.bool_)):
        return ["scalar", "|b1"]
    if isinstance(value, int):
        return ["scalar", np.dtype(np.int64).str]     # numba types a Python int as int64
    if isinstance(value, float):
        return ["scalar", np.dtype(np.float64).str]
    if isinstance(value, np.generic):
        return ["scalar", value.dtype.str]
    raise TypeError(f"no kernel argument type for {type(value).__name__}")


def _contiguous(array):
    flags = getattr(array, "flags", None)
    if flags is not None:
        return bool(flags["C_CONTIGUOUS"])
    return True


def numba_type(spec):
    import numba
    from numba import types
    if spec[0] == "array":
        return types.Array(numba.from_dtype(np.dtype(spec[1])), spec[2], spec[3])
    return numba.from_dtype(np.dtype(spec[1]))


def describe(specs) -> str:
    """A short signature: ``f4[:], f8, i8`` ..."""
    out = []
    for s in specs:
        name = np.dtype(s[1]).name
        name = {"float32": "f4", "float64": "f8", "int32": "i4", "int64": "i8", "uint32": "u4",
                "bool": "b1"}.get(name, name)
        out.append(f"{name}[{', '.join(':' * s[2])}]" if s[0] == "array" else name)
    return ", ".join(out)


def kernel_name(key) -> str:
    """``count (shared)`` for the kernel key ("count", True, False), ``count (warp)`` for
    ("count", False, True)."""
    body, shared, warp = key
    return f"{body} (shared)" if shared else f"{body} (warp)" if warp else body


def ptxas_path() -> str:
    try:
        import nvidia.cuda_nvcc as nvcc
    except ImportError:
        nvcc = None
    if nvcc is not None:
        for root in nvcc.__path__:
            path = os.path.join(root, "bin", "ptxas")
            if os.path.exists(path):
                return path
    for d in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(d, "ptxas")
        if os.path.exists(path):
            return path
    raise FileNotFoundError("ptxas not found (install numba-cuda[cu12], which brings nvidia-cuda-nvcc-cu12)")


_RESOURCE = {
    "stack": re.compile(r"(\d+) bytes stack frame"),
    "spill_stores": re.compile(r"(\d+) bytes spill stores"),
    "spill_loads": re.compile(r"(\d+) bytes spill loads"),
    "registers": re.compile(r"Used (\d+) registers"),
    "smem": re.compile(r"(\d+) bytes smem"),
    "lmem": re.compile(r"(\d+) bytes lmem"),
}


def parse_ptxas(report: str) -> dict:
    """Registers, shared/local memory, stack and spills from ``ptxas -v`` (0 where not stated)."""
    return {k: int(m.group(1)) if (m := rx.search(report)) else 0 for k, rx in _RESOURCE.items()}


def _force_cc(cc):
    """numba-cuda compiles a kernel's device functions "for the current device", which needs a
    driver: answer with the compute capability being compiled for instead."""
    import numba.cuda.dispatcher as dispatcher

    class _Device:
        compute_capability = cc
    dispatcher.get_current_device = lambda: _Device


def compile_kernel(key, specs, cc) -> dict:
    """PTX of kernel ``key`` for ``specs`` at ``cc`` and ptxas's resource report of it, under
    the register cap the driver's link is given for that compute capability (``max_registers``)."""
    from numba import cuda
    from . import kernels as K
    kern = K.get(key, cc)
    sig = tuple(numba_type(s) for s in specs)
    ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=cc)
    cap = kern.targetoptions.get("max_registers")
    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
        f.write(ptx)
    try:
        run = subprocess.run([ptxas_path(), "-v", f"-arch=sm_{cc[0]}{cc[1]}", f.name, "-o", os.devnull]
                             + ([f"--maxrregcount={cap}"] if cap else []), capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    out = {"ok": run.returncode == 0, "report": (run.stdout + run.stderr).strip(), "max_registers": cap}
    out.update(parse_ptxas(out["report"]))
    out["ptx_local"] = ".local" in ptx
    return out


def main(argv):
    specs_path, cc_text, out_path = argv
    cc = tuple(int(v) for v in cc_text.split("."))
    _force_cc(cc)
    results = []
    for item in json.load(open(specs_path)):
        key = tuple(item["key"]) if isinstance(item["key"], list) else item["key"]
        try:
            res = compile_kernel(key, item["args"], cc)
        except Exception as exc:  # noqa: BLE001 - reported per kernel, the caller fails on it
            res = {"ok": False, "report": f"{type(exc).__name__}: {exc}"}
        results.append(dict(item, cc=cc_text, **res))
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("gpu_render.gpu.ptx compiles for real GPUs: run it without NUMBA_ENABLE_CUDASIM=1")
    sys.exit(main(sys.argv[1:]))
