"""An alkaid RTL project, Verilated and run on a batch of events.

``build`` Verilates the project's Verilog (``src/``) with alkaid's C++ binder (``sim/``) into a
shared library in a cache folder keyed by every source byte, the Verilator version and the flags;
the project folder itself is never written to. ``load`` opens it through alkaid's ``RTLModel``
(the pipeline schedule comes from the project's ``model/fsm.json.gz``, plain JSON), whose
``predict`` clocks the design and returns what its output port holds, one row per event.

The Verilated C++ is compiled at ``-O0`` by default: on the demo's 13-stage design that halves the
build (measured: 95 s against 237 s at Verilator's default) and the whole test split still runs in
seconds.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
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


def _steps(tool: tools.Tool, names: tuple[str, Path, str], jobs: int, opt: str, staging: Path) -> list[list[str]]:
    """Verilate ``staging``'s sources into a static model, then link it with the binder into the library
    (``names``: the top module, Verilator's root, the library's path in the project)."""
    top, root, lib = names
    sources = [str(p.relative_to(staging)) for p in sorted((staging / "src").rglob("*.v"))]
    verilate = [
        *tool.argv,
        "--cc",
        "--build",
        "-j",
        str(jobs),
        "--top-module",
        f"{top}_wrapper",
        "--prefix",
        f"V{top}_wrapper",
        "-Wno-fatal",
        "-Wno-UNUSEDSIGNAL",
        "-Wno-ALWNEVER",
        "--Mdir",
        "obj_dir",
        "-CFLAGS",
        f"-std=c++17 -fPIC {opt}",
        "-Isrc",
        "-Isrc/static",
        "-MAKEFLAGS",
        "CFG_CXXFLAGS_PCH_I=-include",
        *sources,
    ]
    link = [
        CXX,
        "-std=c++17",
        "-fPIC",
        "-O2",
        f"-I{staging / 'obj_dir'}",
        f"-I{root / 'include'}",
        f"-I{root / 'include' / 'vltstd'}",
        f"-I{staging / 'sim'}",
        f"-I{staging / 'src'}",
        "-pthread",
        "-shared",
        "-Wl,--no-undefined",
        "-o",
        lib,
        "sim/fsm_binder.cc",
        f"obj_dir/libV{top}_wrapper.a",
        "obj_dir/libverilated.a",
        "-fopenmp",
    ]
    return [verilate, link]


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
        functools.partial(_steps, tool, (top, root, lib), jobs, opt),
        env=tool.environ(),
        drop=("obj_dir",),
    )
    timing.add(f"Verilator build {Path(project).name}", seconds, cached)
    return Build(out, top, seconds, cached, tool.version)


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
        y = self._rtl.predict(np.ascontiguousarray(x, np.float64), n_threads=threads or 0)
        return np.asarray(y, np.float64).reshape(len(x), -1)


def load(project: Path, cache: Path, opt: str = OPT) -> tuple[Model, Build]:
    """The Verilated model of ``project`` (built, or found in ``cache``) and its build record."""
    built = build(project, cache, opt)
    return Model(project, built), built
