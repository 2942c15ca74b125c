"""An alkaid RTL project, Verilated and run on a batch of events.

``build`` Verilates the project's Verilog (``src/``) with alkaid's C++ binder (``sim/``) into a
shared library in a cache folder keyed by every source byte, the Verilator version and the flags;
the project folder itself is never written to. ``load`` opens it through alkaid's ``RTLModel``
(the pipeline schedule comes from the project's ``model/fsm.json.gz``, plain JSON), whose
``predict`` clocks the design and returns what its output port holds, one row per event.

The Verilated C++ is compiled at ``-O0`` by default: on the demo's 13-stage design that halves the
build (measured: 95 s against 237 s at Verilator's default) and the whole test split still runs in
seconds.

Verilator's runtime (``verilated.cpp``, ``verilated_threads.cpp``: the same code for every design,
4.6 CPU-s of a small design's 6) is compiled once per cache folder, Verilator version, compiler and
flags (``runtime``, from a one-line stub module Verilated with the design's options), and every
design's build compiles only its own model and binder and links that library. The runtime's
compile-time switches (``VM_TRACE``, ``VM_COVERAGE``, ``VM_TIMING``, ``VM_SC``) follow from
Verilator's options, which are the same for the stub and every design.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools

logger = logging.getLogger(__name__)

CXX = os.environ.get("CXX", "g++")
OPT = "-O0"
_STAMP = "td"  # the library's name suffix alkaid's loader expects: lib<top>_fsm_<stamp>.so
_TOP = re.compile(r"[A-Za-z_]\w{0,63}")
_RUNTIME_TOP = "td_verilator_runtime"
_RUNTIME_LOCK = threading.Lock()  # designs prebuilt side by side (threads) share one runtime build


@dataclass(frozen=True)
class Build:
    path: Path  # cache folder: sim/lib<top>_fsm_td.so and the build log
    top: str
    seconds: float
    cached: bool
    tool_version: str


def top_module(project: Path) -> str:
    """The project's top module (alkaid's ``metadata.json``), checked to be a plain identifier."""
    import json

    meta = Path(project) / "metadata.json"
    try:
        top = json.loads(meta.read_text())["top_module"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrigdeployError(f"{meta}: not an alkaid RTL project's metadata ({exc})") from None
    if not isinstance(top, str) or not _TOP.fullmatch(top):
        raise TrigdeployError(f"{meta}: top_module must be a Verilog identifier, got {top!r}")
    return top


def _inputs(project: Path) -> list[Path]:
    files = sorted(p for p in (project / "src").rglob("*") if p.is_file() and p.suffix in (".v", ".sv", ".vh"))
    files += sorted(p for p in (project / "sim").iterdir() if p.is_file() and p.suffix in (".cc", ".hh"))
    if not any(p.suffix == ".v" for p in files):
        raise TrigdeployError(f"{project}: no Verilog sources under src/")
    return files


def _root(tool: tools.Tool) -> Path:
    if "VERILATOR_ROOT" in tool.env:
        return Path(tool.env["VERILATOR_ROOT"])
    out = subprocess.run([*tool.argv, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _options(tool: tools.Tool, jobs: int, opt: str) -> list[str]:
    """Verilator's options shared by the runtime's stub and every design (they fix the runtime's switches)."""
    return [
        *tool.argv,
        "--cc",
        "-j",
        str(jobs),
        "-Wno-fatal",
        "-Wno-UNUSEDSIGNAL",
        "-Wno-ALWNEVER",
        "--Mdir",
        "obj_dir",
        "-CFLAGS",
        f"-std=c++17 -fPIC {opt}",
    ]


def runtime(tool: tools.Tool, cache: Path, opt: str, jobs: int) -> Path:
    """Verilator's runtime library ``libverilated.a``, compiled once in ``cache`` for this Verilator,
    compiler and ``opt`` (Verilating a one-line stub module with the designs' options builds it)."""
    with _RUNTIME_LOCK, tempfile.TemporaryDirectory(prefix="td-vlrt-") as tmp:
        stub = Path(tmp) / f"{_RUNTIME_TOP}.v"
        stub.write_text(f"module {_RUNTIME_TOP}(input wire clk);\nendmodule\n")
        steps = [
            [
                *_options(tool, jobs, opt),
                "--build",
                "--top-module",
                _RUNTIME_TOP,
                "-MAKEFLAGS",
                "CFG_CXXFLAGS_PCH_I=-include",
                stub.name,
            ]
        ]
        out, seconds, cached = tools.cached_build(
            cache,
            "vlrt",
            Path(tmp),
            [stub],
            f"{tool.version}\0{opt}\0{CXX}",
            "Verilator runtime library",
            lambda staging: steps,
            env=tool.environ(),
        )
    timing.add("Verilator runtime library", seconds, cached)
    return out / "obj_dir" / "libverilated.a"


def _steps(tool: tools.Tool, names: tuple[str, Path, str], jobs: int, opt: str, cache: Path, staging: Path) -> list:
    """Verilate ``staging``'s sources, compile the model into a static library, then link it with the
    binder and the runtime library of ``cache`` (looked up, or built, only when the link is reached: a
    design built beside this one compiles its model meanwhile) into the library (``names``: the top
    module, Verilator's root, the library's path in the project)."""
    top, root, lib = names
    sources = [str(p.relative_to(staging)) for p in sorted((staging / "src").rglob("*.v"))]
    prefix = f"V{top}_wrapper"
    verilate = [*_options(tool, jobs, opt), "--top-module", f"{top}_wrapper", "--prefix", prefix, "-Isrc"]
    verilate += ["-Isrc/static", *sources]
    model = ["make", "-C", "obj_dir", "-f", f"{prefix}.mk", "-j", str(jobs), "CFG_CXXFLAGS_PCH_I=-include"]
    model.append(f"lib{prefix}.a")
    includes = [staging / "obj_dir", root / "include", root / "include" / "vltstd", staging / "sim", staging / "src"]
    link = [CXX, "-std=c++17", "-fPIC", "-O2", *(f"-I{d}" for d in includes), "-pthread", "-shared"]
    link += ["-Wl,--no-undefined", "-o", lib, "sim/fsm_binder.cc", f"obj_dir/lib{prefix}.a"]
    return [verilate, model, lambda: [*link, str(runtime(tool, cache, opt, jobs)), "-fopenmp"]]


def build(project: Path, cache: Path, opt: str = OPT, jobs: int | None = None) -> Build:
    """Verilate and compile ``project`` (or reuse the cached build of the very same sources)."""
    tool = tools.find("verilator")
    if tool is None:
        raise TrigdeployError(tools.missing("verilator"))
    project = Path(project)
    top = top_module(project)
    files = _inputs(project)
    root = _root(tool)
    jobs = jobs or os.cpu_count() or 1
    lib = f"sim/lib{top}_fsm_{_STAMP}.so"

    # obj_dir is linked into the library: 100s of MB otherwise
    out, seconds, cached = tools.cached_build(
        cache,
        "vl",
        project,
        files,
        f"{tool.version}\0{opt}\0{CXX}",
        f"Verilator build of {project}",
        functools.partial(_steps, tool, (top, root, lib), jobs, opt, cache),
        env=tool.environ(),
        drop=("obj_dir",),
    )
    timing.add(f"Verilator build {Path(project).name}", seconds, cached)
    return Build(out, top, seconds, cached, tool.version)


def prebuild(project: Path, cache: Path) -> Build:
    """``build`` on one core: csim builds several designs side by side, one per core, before simulating."""
    return build(project, cache, jobs=1)


def initiation_interval(fsm) -> int:
    """Clocks between two events an alkaid ``FSM`` takes (its input port's schedule period; 1 for a pipeline)."""
    return max(1, max(int(s.schedule.period) for s in fsm.inp_signals))


class Model:
    """A Verilated alkaid design: ``predict(x)`` clocks every row of ``x`` through the pipeline."""

    def __init__(self, project: Path, built: Build):
        from alkaid.codegen import RTLModel
        from alkaid.stateful import FSM

        fsm = FSM.load(Path(project) / "model" / "fsm.json.gz")
        self._rtl = RTLModel(fsm, built.path, built.top, ternary_fuse=False, print_latency=False)
        self._rtl._load_lib(_STAMP)  # alkaid loads a library it built itself; this one is built above
        self.latency = self._rtl.latency

    def predict(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """What the design's output port holds for each row of ``x`` (one row per event)."""
        x = np.ascontiguousarray(x, np.float64)
        period = initiation_interval(self._rtl.fsm)
        if period == 1:
            y = self._rtl.predict(x, n_threads=threads or 0)
            return np.asarray(y, np.float64).reshape(len(x), -1)
        return self._predict_folded(x, period, threads)

    def _predict_folded(self, x: np.ndarray, period: int, threads: int | None) -> np.ndarray:
        """A design taking an event every ``period`` clocks (a folded design): clocked a whole number of periods
        (alkaid's parallel runner requires it, and its free-running counter is then back where it started for the
        next call), event ``k`` at clock ``k · period``, its outputs read at their scheduled clocks."""
        out = self._rtl.fsm.out_signals
        bias = max(int(s.schedule.bias) for s in out)
        extra = -(-bias // period) * period
        self._rtl.soft_reset()
        y = self._rtl.run(x, steps=len(x) * period, extra_steps=extra, scheduled=True, n_threads=threads or 0)
        return np.asarray(y[out[0].name], np.float64)[: len(x)].reshape(len(x), -1)


def load(project: Path, cache: Path, opt: str = OPT, jobs: int | None = None) -> tuple[Model, Build]:
    """The Verilated model of ``project`` (built with up to ``jobs`` compilers, default the cores, or found in
    ``cache``) and its build record."""
    built = build(project, cache, opt, jobs)
    return Model(project, built), built
