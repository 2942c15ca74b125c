"""A conifer VHDL BDT project simulated with GHDL on a batch of events.

``analyze`` copies the project's ``firmware/*.vhd`` into a cache folder keyed by their bytes and the
GHDL version and analyses them there in the order of conifer's own ``ghdl_compile.sh`` (the BDT in
library ``BDT``, conifer's file-driven testbench in ``xil_defaultlib``); the project folder is never
written to. ``run`` feeds the testbench the events as integers on the input grid
(``SimulationInput.txt``) in a fresh folder and reads back what the design wrote
(``SimulationOutput.txt``), one line per event and class.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools

logger = logging.getLogger(__name__)

STD = "--std=08"
# conifer's ghdl_compile.sh order; Arrays<i>.vhd (one per class) go after AddReduce
BDT_LIB = ("Constants.vhd", "Split.vhd", "Types.vhd", "Tree.vhd", "AddReduce.vhd")
BDT_TOP = ("BDT.vhd", "BDTTop.vhd")
TB_LIB = ("SimulationInput.vhd", "SimulationOutput.vhd", "BDTTestbench.vhd")


@dataclass(frozen=True)
class Build:
    path: Path
    seconds: float
    cached: bool
    tool: tools.Tool


def _sources(project: Path) -> list[Path]:
    fw = Path(project) / "firmware"
    arrays = sorted(fw.glob("Arrays*.vhd"))
    names = [*BDT_LIB, *(a.name for a in arrays), *BDT_TOP, *TB_LIB]
    missing = [n for n in names if not (fw / n).is_file()]
    if missing or not arrays:
        raise TrigdeployError(f"{fw}: not a conifer VHDL project (missing {', '.join(missing) or 'Arrays*.vhd'})")
    return [fw / n for n in names]


def analyze(project: Path, cache: Path) -> Build:
    """GHDL analysis and elaboration of the project (or the cached one of the same sources)."""
    tool = tools.find("ghdl")
    if tool is None:
        raise TrigdeployError(tools.missing("ghdl"))
    files = _sources(project)
    n_tb = len(TB_LIB)

    def steps(_: Path) -> list[list[str]]:
        out = [[*tool.argv, "-a", STD, "--work=BDT", f.name] for f in files[:-n_tb]]
        out += [[*tool.argv, "-a", STD, "--work=xil_defaultlib", f.name] for f in files[-n_tb:]]
        return out + [[*tool.argv, "-e", STD, "--work=xil_defaultlib", "testbench"]]

    out, seconds, cached = tools.cached_build(cache, "ghdl", files[0].parent, files, tool.version,
                                              f"GHDL analysis of {project}", steps)
    return Build(out, seconds, cached, tool)


def run(built: Build, x_int: np.ndarray) -> np.ndarray:
    """The testbench's outputs (integers, one row per event) for integer inputs ``x_int`` (one row per event).

    The testbench reads and writes its files in the current folder: a fresh temporary one."""
    x_int = np.asarray(x_int)
    if x_int.ndim != 2 or not len(x_int):
        raise TrigdeployError(f"GHDL simulation needs a non-empty 2-D batch of events, got shape {x_int.shape}")
    with tempfile.TemporaryDirectory(prefix="td-ghdl-") as tmp:
        work = Path(tmp)
        np.savetxt(work / "SimulationInput.txt", x_int, fmt="%d", delimiter=" ")
        cmd = [*built.tool.argv, "-r", STD, f"--workdir={built.path}", f"-P{built.path}", "--work=xil_defaultlib",
               "testbench"]
        tools.run_logged([cmd], work, work / "run.log", f"GHDL simulation of {built.path}", keep_log=False)
        out = work / "SimulationOutput.txt"
        y = np.loadtxt(out, dtype=np.int64, ndmin=2) if out.is_file() else np.zeros((0, 1), np.int64)
    if len(y) != len(x_int):
        raise TrigdeployError(f"GHDL simulation of {built.path} wrote {len(y)} outputs for {len(x_int)} events")
    return y
