"""Batched C simulation: a generated project's own firmware C++, compiled once, run on whole arrays.

The harness adds one translation unit beside the project's sources (never inside the project):
a ``td_batch(x, y, n)`` loop that converts each event's doubles to the top function's input type
exactly as the project's own bridge/testbench does, calls the top function, and writes the
outputs back as doubles. The arithmetic is the project's C++ against the ``ap_`` headers, so it
is what Vitis/Vivado ``csim_design`` computes. Events are split over OpenMP threads after one
serial warm-up call (hls4ml initialises lookup tables in function statics on first use).

Two arithmetics build from the same sources. ``vendor``: the ``ap_`` headers hls4ml ships, the
code Vitis compiles. ``fast``: trigdeploy's ``fast_ap`` headers first on the include path, an
implementation of the same ``ap_fixed`` specification in 32/64-bit machine integers (checked
value by value against the vendor headers in tests/cxx/test_fast_ap.py), about 40× faster. Where the fast headers do not
cover a project (wider than 64 bits, unsupported modes) they fail to compile and ``load`` falls
back to the vendor build; the failure is cached too.

Builds are cached under ``cache_dir/<hash>/`` where the hash covers the project's sources, the
harness source, the arithmetic (and the fast headers), the compiler and its flags: a second
``csim`` of the same project does not recompile.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy.cxx.headers import ap_include
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import partial_name, publish_build, remove_stale_partials

CXX = "g++"
FAST_AP = Path(__file__).resolve().parent / "fast_ap"
FLAGS = ("-O2", "-std=c++14", "-fPIC", "-fopenmp", "-w")
# -fwrapv: hls4ml indexes its weight and product arrays with `ii * CONFIG_T::n_out + jj`, where n_out
# is unsigned; gcc 12 then cannot prove the index affine and leaves every dense loop scalar. With
# signed overflow defined (which changes no well-defined program) it vectorizes them: 2-3x faster.
FAST_FLAGS = ("-O3", "-fwrapv", "-std=c++14", "-fPIC", "-fopenmp", "-w")
# conifer's parameters.h defines every tree as a static object of its own template type (300 in the five-class
# demo); with the vendor headers gcc 12 -O2 spends 60 % of a 4-min compile in points-to analysis and the
# -Waccess pass over their initializers. Neither changes the code's meaning (an alias analysis, warnings):
# 2.5x faster, the same outputs (csim checks every event against the emulation).
CONIFER_FLAGS = ("-fno-tree-pta", "-Wno-free-nonheap-object", "-Wno-mismatched-dealloc", "-Wno-mismatched-new-delete")
ARITHMETIC = {"vendor": "the ap_ headers shipped with hls4ml (what Vitis compiles)",
              "fast": "trigdeploy fast_ap headers (ap_fixed in machine integers, checked against the vendor headers)"}

_HLS4ML = """#include "{bridge}"
#include <omp.h>
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



def inspect(path: Path) -> Project:
    """Recognise an hls4ml (``*_bridge.cpp``) or conifer HLS (``firmware/BDT.h``) project."""
    path = Path(path)
    bridges = sorted(path.glob("*_bridge.cpp"))
    if bridges:
        top = bridges[0].name[: -len("_bridge.cpp")]
        text = bridges[0].read_text()
        body = re.search(rf"void {top}_double\((.*?)\n}}", text, re.S)
        if body is None:
            raise TrigdeployError(f"{bridges[0]}: no {top}_double() wrapper (not an hls4ml bridge)")
        n_in = re.findall(r"convert_data<double,\s*\w+,\s*(\d+)>", body.group(1))
        n_out = re.findall(r"convert_data<\w+,\s*double,\s*(\d+)>", body.group(1))
        if len(n_in) != 1 or len(n_out) != 1:
            raise TrigdeployError(f"{path}: the batched harness supports one input and one output tensor, "
                                  f"found {len(n_in)} and {len(n_out)}")
        ap = path / "firmware" / "ap_types"
        harness = _HLS4ML.format(bridge=bridges[0].resolve(), top=top, n_in=n_in[0], n_out=n_out[0])
        return Project(path, "hls4ml", top, (path / "firmware" / f"{top}.cpp",),
                       (path, ap if ap.is_dir() else ap_include()),
                       (f'WEIGHTS_DIR="{(path / "firmware" / "weights").resolve()}"',), harness)
    if (path / "firmware" / "BDT.h").is_file() and (path / "firmware" / "parameters.h").is_file():
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
        harness = _CONIFER.format(top=top, input_t=found["input_t"].group(1), score_t=found["score_t"].group(1),
                                  n_features=found["n_features"].group(1), n_classes=n_classes,
                                  n_out=1 if n_classes == 2 else n_classes)
        return Project(path, "conifer", top, (path / "firmware" / "BDT.cpp", tops[0]), (path, ap_include()), (),
                       harness, CONIFER_FLAGS)
    raise TrigdeployError(f"{path}: not an hls4ml or conifer HLS project (no *_bridge.cpp, no firmware/BDT.h)")


def _compiler_id() -> str:
    if shutil.which(CXX) is None:
        raise TrigdeployError(f"C simulation needs {CXX} on PATH")
    return subprocess.run([CXX, "--version"], check=True, capture_output=True, text=True).stdout.splitlines()[0]


def flags(project: Project, arithmetic: str = "vendor") -> tuple[str, ...]:
    """The compiler flags of ``project``'s build in ``arithmetic`` (the testbench links with the vendor ones)."""
    if arithmetic not in ARITHMETIC:
        raise TrigdeployError(f"C simulation: arithmetic must be one of {sorted(ARITHMETIC)}, got {arithmetic!r}")
    return (*(FAST_FLAGS if arithmetic == "fast" else FLAGS), *project.flags)


def _includes(project: Project, arithmetic: str) -> tuple[Path, ...]:
    return (FAST_AP, *project.includes) if arithmetic == "fast" else project.includes


def project_hash(project: Project, arithmetic: str = "vendor") -> str:
    """Hash of everything the build depends on: firmware sources, harness, arithmetic, compiler, flags."""
    h = hashlib.sha256()
    for part in (_compiler_id(), " ".join(flags(project, arithmetic)), project.harness, *project.defines):
        h.update(part.encode())
    if arithmetic == "fast":
        for p in sorted(FAST_AP.glob("*.h")):
            h.update(p.read_bytes())
    files = sorted(p for p in (project.path / "firmware").rglob("*") if p.is_file() and p.suffix in (".h", ".cpp", ".hpp", ".txt"))
    files += [p for p in project.path.glob("*_bridge.cpp")]
    for p in files:
        h.update(str(p.relative_to(project.path)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


@dataclass
class Build:
    library: Path
    objects: list[Path]  # the project's firmware object files, for linking its testbench
    compile_seconds: float
    cached: bool
    log: str
    arithmetic: str = "vendor"
    fallback: str = ""  # why the fast arithmetic was not used, when it was asked for


class Unsupported(TrigdeployError):
    """The fast headers do not cover this project (it does not compile against them)."""


def _collect(procs: list) -> tuple[list[str], list[tuple]]:
    """Wait for every compiler of ``procs`` (source, Popen): their logs, and (source, exit, error line) of each failure."""
    logs, failed = [], []
    for src, p in procs:
        text, _ = p.communicate()
        logs.append(f"$ {CXX} … -c {src}\n{text}")
        if p.returncode != 0:
            lines = text.strip().splitlines() or ["no output"]
            failed.append((src, p.returncode, next((ln for ln in lines if "error" in ln), lines[-1])))
    return logs, failed


def build(project: Project, cache_dir: Path, arithmetic: str = "vendor") -> Build:
    """Compile (or reuse) the harness library of ``project``; each object file is built in parallel."""
    key = project_hash(project, arithmetic)
    out = Path(cache_dir) / key
    lib = out / "libtdcsim.so"
    objects = [out / f"{i + 1}_{src.stem}.o" for i, src in enumerate(project.sources)]
    if lib.is_file():
        return Build(lib, objects, 0.0, True,
                     (out / "build.log").read_text() if (out / "build.log").is_file() else "", arithmetic)
    refused = out.with_name(key + ".unsupported")
    if refused.is_file():
        raise Unsupported(refused.read_text())
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    remove_stale_partials(Path(cache_dir))
    staging = partial_name(out)  # this process's own: two csim of one export build side by side
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "td_harness.cpp").write_text(project.harness)
    base = [CXX, *flags(project, arithmetic), *[f"-I{p}" for p in _includes(project, arithmetic)], *[f"-D{d}" for d in project.defines]]
    t0 = time.perf_counter()
    procs, objs = [], []
    for i, src in enumerate((staging / "td_harness.cpp", *project.sources)):
        obj = staging / f"{i}_{src.stem}.o"
        objs.append(obj)
        procs.append((src, subprocess.Popen([*base, "-c", str(src), "-o", str(obj)], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True)))
    try:
        logs, failed = _collect(procs)
    except BaseException:  # interrupted: stop the compilers, keep nothing of this build
        for _, p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if failed:
        src, code, line = failed[0]
        if arithmetic == "fast":
            reason = f"the fast ap_ headers do not cover {project.path.name}: {line.strip()}"
            if code == 1:  # a compile error, not a killed compiler: remember it
                refused.write_text(reason)
            shutil.rmtree(staging, ignore_errors=True)
            raise Unsupported(reason)
        (staging / "build.log").write_text("\n".join(logs))
        raise TrigdeployError(f"C simulation of {project.path}: {CXX} failed compiling {src.name} (exit {code}): "
                              f"{line.strip()}; full log: {staging / 'build.log'}")
    linked = subprocess.run([*base, "-shared", "-Wl,-Bsymbolic", *map(str, objs), "-o", str(staging / lib.name)],
                            capture_output=True, text=True)
    logs.append(f"$ {CXX} … -shared -o {lib.name}\n{linked.stdout}{linked.stderr}")
    (staging / "build.log").write_text("\n".join(logs))
    if linked.returncode != 0:
        raise TrigdeployError(f"C simulation of {project.path}: {CXX} failed linking the harness (exit "
                              f"{linked.returncode}); full log: {staging / 'build.log'}")
    publish_build(staging, out, lib.name)
    return Build(lib, objects, time.perf_counter() - t0, False, "\n".join(logs), arithmetic)


class Harness:
    """The compiled batch function of one project."""

    def __init__(self, library: Path, threads: int | None = None):
        self._lib = ctypes.CDLL(str(library))
        self._lib.td_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
        self._lib.td_batch.restype = ctypes.c_long
        self.n_in = int(self._lib.td_n_in())
        self.n_out = int(self._lib.td_n_out())
        self.threads = threads or self.default_threads()

    @staticmethod
    def default_threads() -> int:
        return len(os.sched_getaffinity(0))

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs (n, n_out) as doubles for inputs (n, n_in), converted to the port type by the C++."""
        x = np.ascontiguousarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise TrigdeployError(f"C simulation: expected inputs of shape (n, {self.n_in}), got {x.shape}")
        y = np.zeros((len(x), self.n_out), np.float64)
        self._lib.td_batch(x.ctypes.data, y.ctypes.data, len(x), self.threads)
        return y


def load(project_dir: Path, cache_dir: Path, threads: int | None = None,
         arithmetic: str = "vendor") -> tuple[Harness, Build]:
    """Build (or reuse) and load the batched harness of a project; ``fast`` falls back to ``vendor``
    where the fast headers do not cover the project (``Build.fallback`` says why)."""
    project = inspect(project_dir)
    try:
        b = build(project, cache_dir, arithmetic)
    except Unsupported as e:
        b = build(project, cache_dir, "vendor")
        b.fallback = str(e)
    return Harness(b.library, threads), b
