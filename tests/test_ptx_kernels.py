"""Every GPU kernel compiled for real GPUs (sm_80, sm_90) without one: NVVM to PTX, then ptxas.

The CUDA simulator runs the kernels as Python, so it never types or compiles them. Here the GPU
backend renders a representative set of inputs (x/y float32 and float64, mixed; float32, float64
and integer values; category codes of several integer widths; log axes; grids that take the
shared-memory kernels and grids that do not) while every launch's argument types are recorded at
the backend's one launch point; each recorded (kernel, signature) is then compiled in a
subprocess where numba.cuda is the real target, and ``ptxas -v`` must report no spills, no local
memory and at most 48 KB of static shared memory. The table goes to
``benchmarks/results/gpu_kernels.md``.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import gpu_render as ds
from gpu_render import backend as B
from gpu_render.gpu import backend as G
from gpu_render.gpu import kernels as K
from gpu_render.gpu import ptx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "benchmarks", "results", "gpu_kernels.md")
BEFORE = os.path.join(ROOT, "benchmarks", "results", "gpu_kernels_before_folding.md")
ARCHS = ("8.0", "9.0")
SMEM_LIMIT = 48 * 1024
GPU, GPU_REASON = B.probe("gpu", explicit=True)
pytestmark = [pytest.mark.skipif(GPU is None, reason=f"GPU backend unavailable: {GPU_REASON}"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

ALL = dict(n=ds.count(), nv=ds.count("v"), nw=ds.count("w"), a=ds.any(), s=ds.sum("v"), m=ds.mean("v"),
           sd=ds.std("v"), lo=ds.min("v"), hi=ds.max("v"), f=ds.first("v"), la=ds.last("v"))
CATS = dict(cc=ds.count_cat("c"), bm=ds.by("c", ds.mean("v")), bf=ds.by("c", ds.first("v")),
            bmax=ds.by("c", ds.max("v")))


def _frame(xy, v, codes, n=200, log=False, seed=3):
    rng = np.random.default_rng(seed)
    x, y = (10 ** rng.uniform(-1, 1, (2, n))) if log else rng.uniform(-1, 1, (2, n))
    c = pd.Categorical.from_codes(rng.integers(0, 3, n), ["a", "b", "c"])
    df = pd.DataFrame({"x": x.astype(xy[0]), "y": y.astype(xy[1]),
                       "v": (rng.normal(5, 2, n) * 10).astype(v), "c": c})
    df["w"] = df["v"]   # a column only counted: the count_valid pass (count("v") joins v's var pass)
    if codes is not None:   # category codes of another width, as Arrow dictionaries give them
        import pyarrow as pa
        arr = pa.DictionaryArray.from_arrays(pa.array(c.codes.astype(codes)), pa.array(["a", "b", "c"]))
        return pa.table({"x": df.x, "y": df.y, "v": df.v, "w": df.w, "c": arr})
    return df


def _renders():
    """(source, canvas kwargs, reductions) covering every input type the sources produce."""
    lin = dict(x_range=(-1, 1), y_range=(-1, 1))
    log = dict(x_range=(0.1, 10), y_range=(0.1, 10), x_axis_type="log", y_axis_type="log")
    for xy in ((np.float32, np.float32), (np.float64, np.float64)):
        for v in (np.float32, np.float64, np.int32):
            for size in ((7, 5), (80, 60)):   # shared-memory histograms and device atomics
                yield _frame(xy, v, None), dict(plot_width=size[0], plot_height=size[1], **lin), ALL
                yield _frame(xy, v, None), dict(plot_width=size[0], plot_height=size[1], **lin), CATS
        yield _frame(xy, np.float64, None, log=True), dict(plot_width=9, plot_height=7, **log), ALL
    for codes in (np.int8, np.int16, np.int64):
        yield _frame((np.float64, np.float64), np.float64, codes), dict(plot_width=7, plot_height=5, **lin), CATS
    yield _frame((np.float32, np.float64), np.float64, None), dict(plot_width=7, plot_height=5, **lin), ALL


def _hex_launches(backend):
    """The hexagon binning of device arrays (``GPUBackend.hex_cells``), for x/y of each type
    the sources give, linear and log axes, float32 and float64 cells."""
    from gpu_render.axes import Viewport
    from gpu_render.hexgrid import HexLattice
    lat = HexLattice(9, 7, 3)
    for xy in ((np.float32, np.float32), (np.float64, np.float64), (np.float32, np.float64)):
        xs, ys = (np.linspace(0.2, 5, 50).astype(t) for t in xy)
        for logs in ((False, False), (True, True)):
            vp = Viewport(9, 7, (0.1, 10), (0.1, 10), *logs)
            for dtype in (np.float32, np.float64):
                backend.hex_cells(xs, ys, vp.params, lat.params, *logs, dtype)


@pytest.fixture(scope="module")
def launches():
    """{(kernel key, argument specs)} of every launch the backend made over ``_renders``, with
    the warp-aggregated count kernels switched off (the default) and on."""
    seen = {}
    original = G.GPUBackend._launch
    backend = B.select("gpu")

    def record(self, key, launch, *args):
        specs = [ptx.arg_spec(a) for a in args]
        seen[json.dumps([key, specs])] = (key, specs)
        return original(self, key, launch, *args)
    G.GPUBackend._launch = record
    try:
        for warp in (False, True):
            backend.warp_aggregate = warp
            for source, canvas, reds in _renders():
                if warp and canvas["plot_width"] * canvas["plot_height"] <= K.SMEM_SLOTS:
                    continue   # shared-memory grids never take the warp kernels
                ds.Canvas(**canvas).points(source, "x", "y", ds.summary(**reds), backend="gpu")
        _hex_launches(backend)
    finally:
        G.GPUBackend._launch = original
        backend.warp_aggregate = G.warp_aggregate_default()
    return list(seen.values())


@pytest.fixture(scope="module")
def compiled(launches, tmp_path_factory):
    """ptxas's report of every recorded launch, per architecture (compiled in two processes)."""
    tmp = tmp_path_factory.mktemp("ptx")
    specs = tmp / "specs.json"
    specs.write_text(json.dumps([{"key": k, "args": a} for k, a in launches]))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    procs = {cc: subprocess.Popen([sys.executable, "-m", "gpu_render.gpu.ptx", str(specs), cc,
                                   str(tmp / f"sm{cc}.json")], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cc in ARCHS}
    out = {}
    for cc, proc in procs.items():
        log, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"compiling the kernels for sm_{cc} failed:\n{log[-3000:]}"
        out[cc] = json.loads((tmp / f"sm{cc}.json").read_text())
    _write_table(out)
    return out


def _write_table(out):
    lines = ["# GPU kernels compiled for sm_80 and sm_90 (NVVM + ptxas -v, no GPU)", "",
             "Written by `tests/test_ptx_kernels.py` from the launches the GPU backend made over a",
             "representative set of renders (argument types recorded at `GPUBackend._launch`).",
             "`test_no_kernel_needs_more_registers_than_before_the_folding` holds each kernel to its",
             "pre-folding kernel's count (gpu_kernels_before_folding.md) and the new warp kernels to 32",
             "(a 256-thread block fits 8 times per SM: full occupancy on sm_80/sm_90). A cap is the",
             "`--maxrregcount` the kernel is compiled with for that architecture (`kernels.MAX_REGISTERS`,",
             "numba's `max_registers` on a GPU); ptxas reports no spills under it.", "",
             "| kernel | signature | " + " | ".join(f"sm_{cc.replace('.', '')} regs (cap) | smem B"
                                                 for cc in ARCHS) + " |",
             "|---|---|" + "---|---|" * len(ARCHS)]
    rows = {}
    for cc, results in out.items():
        for r in results:
            rows.setdefault((ptx.kernel_name(r["key"]), ptx.describe(r["args"])), {})[cc] = r
    for (key, sig), per in sorted(rows.items()):
        cells = " | ".join(f"{per[cc].get('registers', '-')}"
                           + (f" ({per[cc]['max_registers']})" if per[cc].get("max_registers") else "")
                           + f" | {per[cc].get('smem', '-')}" for cc in ARCHS)
        lines.append(f"| `{key}` | `{sig}` | {cells} |")
    regs = [r.get("registers", 0) for res in out.values() for r in res]
    lines += ["", f"{len(rows)} kernel signatures; at most {max(regs)} registers; no spills, no local memory."]
    os.makedirs(os.path.dirname(TABLE), exist_ok=True)
    with open(TABLE, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_every_kernel_the_backend_defines_is_launched(launches):
    assert {k for k, _ in launches} == set(K.KERNELS) | {K.HEX_CELLS}


def test_the_recorded_launches_cover_the_input_types(launches):
    launches = [(k, a) for k, a in launches if k in K.KERNELS]   # the aggregation kernels
    xy = {(a[0][1], a[1][1]) for _, a in launches}
    assert {("<f4", "<f4"), ("<f8", "<f8"), ("<f4", "<f8")} <= xy
    assert {a[2][1] for _, a in launches} == {"<f4", "<f8"}   # integer values arrive as float64
    assert {a[3][1] for _, a in launches} == {"<i4"}          # every code width arrives as int32


@pytest.mark.parametrize("cc", ARCHS)
def test_every_kernel_compiles_without_spills_or_local_memory(compiled, cc):
    bad = []
    for r in compiled[cc]:
        name = f"{ptx.kernel_name(r['key'])}({ptx.describe(r['args'])}) sm_{cc}"
        if not r["ok"]:
            bad.append(f"{name}: does not compile: {r['report'][-800:]}")
        elif r["spill_stores"] or r["spill_loads"] or r["lmem"] or r["stack"] or r["ptx_local"]:
            bad.append(f"{name}: spills or local memory: {r['report']}")
        elif r["smem"] > SMEM_LIMIT:
            bad.append(f"{name}: {r['smem']} bytes of static shared memory (limit {SMEM_LIMIT})")
    assert not bad, "\n".join(bad)
    assert all(r["registers"] > 0 for r in compiled[cc])   # the report was read


FULL_OCCUPANCY_REGS = 65536 // 2048   # sm_80/sm_90: 64K registers and 2,048 threads per SM
# the kernels before the folding of issue 10 (gpu_kernels_before_folding.md) -> the kernels now
FOLDED_FROM = {"count_global": (("count", False, False), ("count_valid", False, False)),
               "count_shared": (("count", True, False), ("count_valid", True, False)),
               "sum_global": (("sum", False, False),), "sum_shared": (("sum", True, False),),
               "m2_global": (("m2", False, False),),
               "minmax_global": (("min", False, False), ("max", False, False)),
               "rowpick_global": (("first_row", False, False), ("last_row", False, False)),
               "rowvalue_global": (("row_value", False, False),)}


def _registers_before():
    """{(kernel key, "8.0"/"9.0"): most registers any signature of its old kernel used}."""
    out = {}
    for line in open(BEFORE).read().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 + 2 * len(ARCHS) or cells[0] not in FOLDED_FROM:
            continue
        for n, cc in enumerate(ARCHS):
            for key in FOLDED_FROM[cells[0]]:
                out[key, cc] = max(out.get((key, cc), 0), int(cells[2 + 2 * n]))
    return out


def test_the_table_before_the_folding_names_every_old_kernel():
    before = _registers_before()
    folded = {k for keys in FOLDED_FROM.values() for k in keys}
    assert {k for k, _ in before} == folded
    assert folded == {k for k in K.KERNELS if not k[2]}   # all but the new warp kernels
    assert before[("m2", False, False), "9.0"] == 29 and before[("min", False, False), "9.0"] == 37


@pytest.mark.parametrize("cc", ARCHS)
def test_no_kernel_needs_more_registers_than_before_the_folding(compiled, cc):
    """Each folded kernel uses at most the registers its pre-folding kernel did on that
    architecture; the warp kernels, new, stay at full occupancy (32 at 256 threads per block),
    the hexagon binning at its cap (five blocks per SM)."""
    before, bad = _registers_before(), []
    for r in compiled[cc]:
        key = tuple(r["key"])
        limit = before.get((key, cc), K.HEX_MAX_REGISTERS if key == K.HEX_CELLS else FULL_OCCUPANCY_REGS)
        if r["registers"] > limit:
            bad.append(f"{ptx.kernel_name(key)}({ptx.describe(r['args'])}) sm_{cc}: "
                       f"{r['registers']} registers (at most {limit})")
    assert not bad, "\n".join(bad)
    # the caps reached ptxas through numba's real dispatcher options, as a GPU's link gets them
    caps = {tuple(r["key"]): r["max_registers"] for r in compiled[cc]}
    assert caps == {k: K.register_cap(k, tuple(int(v) for v in cc.split("."))) for k in caps}
    assert caps[("count", False, True)] == K.WARP_MAX_REGISTERS


def test_ptxas_report_parsing():
    report = ("ptxas info    : Function properties for k\n    8 bytes stack frame, 4 bytes spill "
              "stores, 12 bytes spill loads\nptxas info    : Used 40 registers, 128 bytes lmem, "
              "16384 bytes smem, 400 bytes cmem[0]")
    assert ptx.parse_ptxas(report) == dict(stack=8, spill_stores=4, spill_loads=12, registers=40,
                                           smem=16384, lmem=128)
