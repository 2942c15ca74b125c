"""A conifer VHDL BDT project simulated with GHDL on a batch of events.

``analyze`` copies the project's ``firmware/*.vhd`` into a cache folder keyed by their bytes and the
GHDL version and analyses them there in the order of conifer's own ``ghdl_compile.sh`` (the BDT in
library ``BDT``, conifer's file-driven testbench in ``xil_defaultlib``); the project folder is never
written to. With GHDL's LLVM backend (``ghdl-llvm``, ``make hdl-tools``) the design is compiled to
machine code at ``-O2`` and elaborated into an executable; with ``mcode`` it is interpreted.

``run`` feeds the testbench the events as integers on the input grid (``SimulationInput.txt``) in a
fresh folder and reads back what the design wrote (``SimulationOutput.txt``), one line per event
and class. The BDT is a feed-forward pipeline (an event's output depends on that event only) and the
testbench stops one clock after its last output: a large batch is cut into consecutive slices, one
GHDL process each, run side by side on the machine's cores, and their outputs joined in order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools

logger = logging.getLogger(__name__)

STD = "--std=08"
# conifer's ghdl_compile.sh order; Arrays<i>.vhd (one per class) go after AddReduce
BDT_LIB = ("Constants.vhd", "Split.vhd", "Types.vhd", "Tree.vhd", "AddReduce.vhd")
BDT_TOP = ("BDT.vhd", "BDTTop.vhd")
TB_LIB = ("SimulationInput.vhd", "SimulationOutput.vhd", "BDTTestbench.vhd")
MIN_SLICE = 500  # events per GHDL process at least: below it, a process's start-up costs more than it saves


@dataclass(frozen=True)
class Build:
    path: Path
    seconds: float
    cached: bool
    tool: tools.Tool


def sources(project: Path) -> list[Path]:
    """A conifer VHDL project's files in analysis order (library, arrays, top, testbench), each checked to exist."""
    fw = Path(project) / "firmware"
    arrays = sorted(fw.glob("Arrays*.vhd"))
    names = [*BDT_LIB, *(a.name for a in arrays), *BDT_TOP, *TB_LIB]
    missing = [n for n in names if not (fw / n).is_file()]
    if missing or not arrays:
        raise TrigdeployError(f"{fw}: not a conifer VHDL project (missing {', '.join(missing) or 'Arrays*.vhd'})")
    return [fw / n for n in names]


def analyze(project: Path, cache: Path, tool: tools.Tool | None = None) -> Build:
    """GHDL analysis and elaboration of the project (or the cached one of the same sources and GHDL), with
    ``tool`` or the GHDL ``tools.find`` chooses."""
    tool = tool or tools.find("ghdl")
    if tool is None:
        raise TrigdeployError(tools.missing("ghdl"))
    files = sources(project)
    n_tb = len(TB_LIB)

    opt = ["-O2"] if compiled(tool) else []

    def steps(_: Path) -> list[list[str]]:
        out = [[*tool.argv, "-a", STD, *opt, "--work=BDT", f.name] for f in files[:-n_tb]]
        out += [[*tool.argv, "-a", STD, *opt, "--work=xil_defaultlib", f.name] for f in files[-n_tb:]]
        return out + [[*tool.argv, "-e", STD, *opt, "--work=xil_defaultlib", "testbench"]]

    out, seconds, cached = tools.cached_build(
        cache, "ghdl", files[0].parent, files, tool.version, f"GHDL analysis of {project}", steps
    )
    timing.add(f"GHDL ({backend(tool)}) analyse and elaborate {Path(project).name}", seconds, cached)
    return Build(out, seconds, cached, tool)


def backend(tool: tools.Tool) -> str:
    """GHDL's code generator: ``llvm``, ``gcc``, ``mcode`` (or ``unknown``), from its version text."""
    text = tool.version.lower()
    return next(
        (b for b, mark in (("llvm", "llvm code"), ("gcc", "gcc back-end"), ("mcode", "mcode code")) if mark in text),
        "unknown",
    )


def compiled(tool: tools.Tool) -> bool:
    """Whether this GHDL compiles designs to an executable (LLVM or GCC backend) rather than interpreting them."""
    return backend(tool) in ("llvm", "gcc")


def _command(built: Build) -> list[str]:
    if compiled(built.tool):
        return [str(built.path / "testbench")]  # the elaborated executable, run in the slice's own folder
    return [
        *built.tool.argv,
        "-r",
        STD,
        f"--workdir={built.path}",
        f"-P{built.path}",
        "--work=xil_defaultlib",
        "testbench",
    ]


def _slices(n: int, processes: int | None) -> list[slice]:
    k = max(1, min(processes or len(os.sched_getaffinity(0)), n // MIN_SLICE))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _simulate(built: Build, works: list[Path]) -> None:
    """One GHDL process per prepared slice folder, side by side; all are stopped if this process is
    interrupted or one cannot start; a failure is one line."""
    if tools.STOPPING.is_set():  # the process is being stopped: start nothing new
        raise KeyboardInterrupt
    procs: list[subprocess.Popen] = []
    try:
        for work in works:
            with (work / "run.log").open("w") as log:
                procs.append(subprocess.Popen(_command(built), cwd=work, stdout=log, stderr=subprocess.STDOUT))
        codes = [p.wait() for p in procs]
    except BaseException:
        for p in procs:
            with contextlib.suppress(OSError):
                p.kill()
            p.wait()
        raise
    for code, work in zip(codes, works):
        if code != 0:
            lines = [ln for ln in (work / "run.log").read_text(errors="replace").splitlines() if ln.strip()]
            last = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
            raise TrigdeployError(f"GHDL simulation of {built.path} failed (exit {code}): {last.strip()[:200]}")


def run(built: Build, x_int: np.ndarray, processes: int | None = None) -> np.ndarray:
    """The testbench's outputs (integers, one row per event) for integer inputs ``x_int`` (one row per event),
    the batch cut into slices simulated side by side by up to ``processes`` GHDL processes (default: one
    per core). The testbench reads and writes its files in the current folder: a fresh one per slice."""
    x_int = np.asarray(x_int)
    if x_int.ndim != 2 or not len(x_int):
        raise TrigdeployError(f"GHDL simulation needs a non-empty 2-D batch of events, got shape {x_int.shape}")
    with (
        tempfile.TemporaryDirectory(prefix="td-ghdl-") as tmp,
        timing.step(f"GHDL ({backend(built.tool)}) simulate {len(x_int)} events"),
    ):
        works = []
        for i, part in enumerate(_slices(len(x_int), processes)):
            works.append(Path(tmp) / str(i))
            works[-1].mkdir()
            np.savetxt(works[-1] / "SimulationInput.txt", x_int[part], fmt="%d", delimiter=" ")
        _simulate(built, works)
        outs = [work / "SimulationOutput.txt" for work in works]
        y = np.concatenate(
            [
                np.loadtxt(o, dtype=np.int64, ndmin=2)
                if o.is_file() and o.stat().st_size
                else np.zeros((0, 1), np.int64)
                for o in outs
            ]
        )
    if len(y) != len(x_int):
        raise TrigdeployError(f"GHDL simulation of {built.path} wrote {len(y)} outputs for {len(x_int)} events")
    return y
