"""Every CuPy kernel source the project defines, compiled with NVRTC for sm_80 and sm_90 as CuPy
builds it on its plain (non-CUB) reduction path, without a GPU.

CuPy generates a ``ReductionKernel``'s source from its template at the first call, which needs a
device; here the same generator (``cupy._core._reduction._create_reduction_function_code``) is
driven directly and the result compiled by NVRTC with CuPy's headers, as CuPy compiles it.
CuPy's CUB path includes more headers and so hides names the plain path lacks (``INFINITY``).
"""
import pathlib

import numpy as np
import pytest

from gpu_render.gpu import reduce as R

cupy = pytest.importorskip("cupy", reason="cupy-cuda12x comes with the test extras")
ROOT = pathlib.Path(__file__).resolve().parent.parent
ARCHS = ("80", "90")
# _ArgInfo kinds of CuPy 13-14 (ndarray, indexer, scalar); the generated signature is checked below
NDARRAY, INDEXER, SCALAR = 1, 2, 3


def plain_reduction_source(name, spec, ctype):
    """CuPy's plain-path source of ReductionKernel ``spec`` reducing a 1-d ``ctype`` array."""
    from cupy._core import _carray, _kernel as K, _reduction, _scalar
    in_p, out_p, map_expr, reduce_expr, post_map, identity = spec
    params = (K._get_param_info(in_p, True) + K._get_param_info(out_p, False)
              + K._get_param_info("CIndexer _in_ind, CIndexer _out_ind", False)
              + K._get_param_info("int32 _block_stride", True))
    dt = np.dtype(ctype)
    args = (K._ArgInfo(NDARRAY, cupy.ndarray, dt, 1, True, True),
            K._ArgInfo(NDARRAY, cupy.ndarray, dt, 0, True, True),
            K._ArgInfo(INDEXER, _carray.Indexer, None, 1, True, True),
            K._ArgInfo(INDEXER, _carray.Indexer, None, 0, True, True),
            K._ArgInfo(SCALAR, _scalar.CScalar, np.dtype(np.int32), 0, True, True))
    tname = {"float32": "float", "float64": "double"}[dt.name]
    types = K._TypeMap((("T", dt.type), ("IndexT", np.int32)))   # typedefs from numpy types
    xin, xout = in_p.split()[1], out_p.split()[1]
    code = _reduction._create_reduction_function_code(
        name, 512, "T", params, args, identity, map_expr, reduce_expr, post_map, types,
        f"const T {xin} = _raw_{xin}[_in_ind.get()];", f"T &{xout} = _raw_{xout}[_out_ind.get()];",
        "", ())
    assert f"CArray<{tname}, 1" in code and "const int _block_stride" in code, \
        "CuPy's reduction code generator changed: update NDARRAY/INDEXER/SCALAR"
    from cupy._core import core
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


def nvrtc_ptx(source, arch):
    """PTX of ``source`` by NVRTC, with the include paths and options CuPy compiles with."""
    from cupy._core import core
    from cupy.cuda import compiler
    opts = ("-I" + core._get_header_dir_path(), "--std=c++17", "-ftz=true",
            "--device-as-default-execution-space", f"-arch=compute_{arch}") + core._get_cccl_include_options()
    prog = compiler._NVRTCProgram(source, "kern.cu", (), (), name_expressions=None, method="ptx")
    ptx, _ = prog.compile(opts, None)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("ctype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(R.REDUCTIONS))
def test_reduction_kernel_compiles_on_cupys_plain_path(name, ctype, arch):
    ptx = nvrtc_ptx(plain_reduction_source(name, R.REDUCTIONS[name], ctype), arch)
    assert f".entry {name}" in ptx and f".target sm_{arch}" in ptx


def test_the_plain_path_rejects_what_only_cub_defines():
    """The check can fail: C's INFINITY (the expression the backend used) does not compile there."""
    spec = R.REDUCTIONS["gpu_render_finite_min"]
    bad = tuple(s.replace("CUDART_INF", "INFINITY") for s in spec)
    with pytest.raises(cupy.cuda.compiler.CompileException, match="INFINITY"):
        nvrtc_ptx(plain_reduction_source("bad", bad, np.float64), "80")


def test_every_cupy_kernel_the_package_defines_is_in_the_registry():
    """CuPy kernel sources live in registries this module compiles (no ad-hoc ones elsewhere)."""
    uses = {}
    for path in (ROOT / "gpu_render").rglob("*.py"):
        text = path.read_text()
        for api in ("RawKernel(", "RawModule(", "ElementwiseKernel(", "ReductionKernel("):
            if api in text:
                uses.setdefault(str(path.relative_to(ROOT)), []).append(api)
    assert uses == {"gpu_render/gpu/reduce.py": ["ReductionKernel("]}
