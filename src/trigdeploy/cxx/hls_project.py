"""A generated HLS project as the batched C simulation sees it: an hls4ml project (``*_bridge.cpp``) or a
conifer HLS project (``firmware/BDT.h``), its sources, includes, flags and the harness translation unit
that ``cxx.harness`` compiles beside them (never inside the project)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from trigdeploy.cxx.headers import ap_include
from trigdeploy.errors import TrigdeployError

WEIGHTS_H = Path(__file__).resolve().parent / "td_weights.h"
# conifer's parameters.h defines every tree as a static object of its own template type (300 in the five-class
# demo); with the vendor headers gcc 12 -O2 spends 60 % of a 4-min compile in points-to analysis and the
# -Waccess pass over their initializers. Neither changes the code's meaning (an alias analysis, warnings):
# 2.5x faster, the same outputs (csim checks every event against the emulation).
CONIFER_FLAGS = ("-fno-tree-pta", "-Wno-free-nonheap-object", "-Wno-mismatched-dealloc", "-Wno-mismatched-new-delete")
# ... and their run-time initialisation (the vendor ap_fixed constructors are not constexpr) dominated the vendor
# build while every node's one-hot weight row was 18-bit fixed point (140,000 constructors in the demo); it was
# compiled at -Og then. With conifer's WeightPrecision bool (export's default) the demo's 94-tree unit compiles at
# -O2 in 5.6 s (-Og 4.6 s, 18-bit weights at -Og 22.6 s) and runs the split in 0.6x of -Og's time (5.7 against
# 9.5 s per 10,000 events on one thread: each node still takes the dot product of the input with its row); the
# five-class demo's 290 trees: 14.3 against 12.2 s, 2.8 against 4.5 s. Both gcc's default level: no flag of its
# own. The same outputs: export and csim check every event against the emulation.
CONIFER_VENDOR_FLAGS = ()
# the weights folder lives in an inline function's static (td_weights.h): gcc would make it one object for
# the whole process (STB_GNU_UNIQUE), shared by every loaded copy of a library; hls4ml's build_lib.sh passes
# the same flag for its own function statics
HLS4ML_FLAGS = ("-fno-gnu-unique",)


_HLS4ML = """#include "{bridge}"
#include <omp.h>
extern "C" void td_set_weights_dir(const char* dir) {{ td_weights_storage() = dir; }}
extern "C" long td_batch(const double* x, double* y, long n, int threads) {{
  if (n <= 0) return 0;
  {top}_double(const_cast<double*>(x), y);
  #pragma omp parallel for schedule(static) num_threads(threads)
  for (long i = 1; i < n; ++i) {top}_double(const_cast<double*>(x + i * {n_in}), y + i * {n_out});
  return n;
}}
extern "C" int td_n_in() {{ return {n_in}; }}
extern "C" int td_n_out() {{ return {n_out}; }}
"""

_CONIFER = """#include "ap_fixed.h"
#include <omp.h>
// types copied from the project's firmware/parameters.h, which is not included here: with the vendor
// headers its static tree tables cost minutes of compile time in every translation unit that includes it
typedef {input_t} td_input_t;
typedef {score_t} td_score_t;
void {top}(td_input_t x[{n_features}], td_score_t score[{n_classes}]);
static void td_one(const double* x, double* y) {{
  td_input_t in[{n_features}];
  for (int f = 0; f < {n_features}; ++f) in[f] = x[f];
  td_score_t score[{n_classes}];
  {top}(in, score);
  for (int c = 0; c < {n_out}; ++c) y[c] = score[c].to_double();
}}
extern "C" long td_batch(const double* x, double* y, long n, int threads) {{
  if (n <= 0) return 0;
  td_one(x, y);
  #pragma omp parallel for schedule(static) num_threads(threads)
  for (long i = 1; i < n; ++i) td_one(x + i * {n_features}, y + i * {n_out});
  return n;
}}
extern "C" int td_n_in() {{ return {n_features}; }}
extern "C" int td_n_out() {{ return {n_out}; }}
"""


@dataclass(frozen=True)
class Project:
    """What the harness needs to know about a generated project."""

    path: Path
    kind: str  # "hls4ml" or "conifer"
    top: str
    sources: tuple[Path, ...]
    includes: tuple[Path, ...]
    defines: tuple[str, ...]
    harness: str
    flags: tuple[str, ...] = ()  # extra compiler flags of this kind of project (compile speed only)
    vendor_flags: tuple[str, ...] = ()  # and of its vendor-header build only
    preincludes: tuple[Path, ...] = ()  # headers read before every translation unit (``-include``)
    unity: bool = False  # compile ``sources`` as one translation unit (each includes the same tables)
    # the project's testbench, compiled inside that one unit of the vendor build with its ``main`` renamed: it
    # includes the tree tables too, which then compile once for the harness library and the testbench executable
    testbench_unit: Path | None = None

    @property
    def weights_dir(self) -> Path | None:
        """Where an hls4ml project's C simulation reads its weights (None: they are compiled in)."""
        return (self.path / "firmware" / "weights").resolve() if self.kind == "hls4ml" else None


def testbench_file(path: Path, top: str) -> Path:
    """A generated project's own testbench (hls4ml's and conifer's name: ``<top>_test.cpp`` in its folder)."""
    return Path(path) / f"{top}_test.cpp"


def inspect(path: Path) -> Project:
    """Recognise an hls4ml (``*_bridge.cpp``) or conifer HLS (``firmware/BDT.h``) project."""
    path = Path(path)
    bridges = sorted(path.glob("*_bridge.cpp"))
    if bridges:
        return _hls4ml_project(path, bridges[0])
    if (path / "firmware" / "BDT.h").is_file() and (path / "firmware" / "parameters.h").is_file():
        return _conifer_project(path)
    raise TrigdeployError(f"{path}: not an hls4ml or conifer HLS project (no *_bridge.cpp, no firmware/BDT.h)")


def _hls4ml_project(path: Path, bridge: Path) -> Project:
    """An hls4ml project read from its bridge: the top function and the port sizes of its wrapper."""
    top = bridge.name[: -len("_bridge.cpp")]
    text = bridge.read_text()
    body = re.search(rf"void {top}_double\((.*?)\n}}", text, re.S)
    if body is None:
        raise TrigdeployError(f"{bridge}: no {top}_double() wrapper (not an hls4ml bridge)")
    n_in = re.findall(r"convert_data<double,\s*\w+,\s*(\d+)>", body.group(1))
    n_out = re.findall(r"convert_data<\w+,\s*double,\s*(\d+)>", body.group(1))
    if len(n_in) != 1 or len(n_out) != 1:
        raise TrigdeployError(
            f"{path}: the batched harness supports one input and one output tensor, found {len(n_in)} and {len(n_out)}"
        )
    ap = path / "firmware" / "ap_types"
    harness = _HLS4ML.format(bridge=bridge.name, top=top, n_in=n_in[0], n_out=n_out[0])
    return Project(
        path,
        "hls4ml",
        top,
        (path / "firmware" / f"{top}.cpp",),
        (path, ap if ap.is_dir() else ap_include()),
        ("WEIGHTS_DIR=td_weights_dir()",),
        harness,
        HLS4ML_FLAGS,
        preincludes=(WEIGHTS_H,),
    )


def _conifer_project(path: Path) -> Project:
    """A conifer HLS project read from its ``parameters.h``: types, features and classes."""
    tops = [p for p in (path / "firmware").glob("*.cpp") if p.name != "BDT.cpp"]
    if len(tops) != 1:
        raise TrigdeployError(f"{path}/firmware: expected one top-level .cpp beside BDT.cpp, found {len(tops)}")
    top = tops[0].stem
    head = (path / "firmware" / "parameters.h").read_text()[:4000]
    found = {k: re.search(rf"typedef\s+(.+?)\s+{k};", head) for k in ("input_t", "score_t")}
    found.update({k: re.search(rf"static const int {k} = (\d+);", head) for k in ("n_features", "n_classes")})
    if not all(found.values()):
        raise TrigdeployError(f"{path}/firmware/parameters.h: cannot read {[k for k, v in found.items() if not v]}")
    n_classes = int(found["n_classes"].group(1))
    bench = testbench_file(path, top)
    harness = _CONIFER.format(
        top=top,
        input_t=found["input_t"].group(1),
        score_t=found["score_t"].group(1),
        n_features=found["n_features"].group(1),
        n_classes=n_classes,
        n_out=1 if n_classes == 2 else n_classes,
    )
    return Project(
        path,
        "conifer",
        top,
        (path / "firmware" / "BDT.cpp", tops[0]),
        (path, ap_include()),
        (),
        harness,
        CONIFER_FLAGS,
        CONIFER_VENDOR_FLAGS,
        unity=True,
        testbench_unit=bench if bench.is_file() else None,
    )
