"""Real C synthesis when the vendor tools are installed, and the parser of their reports.

``trigdeploy synth --run DIR`` runs ``vitis_hls`` (or ``vivado_hls``) on every HLS project of an
exported run with C synthesis only, then parses each ``<top>_csynth.xml``. Without the tools it
says so in one line and does nothing: FPGA figures then stay the estimates of ``bench.fpga``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from trigdeploy.errors import TrigdeployError

logger = logging.getLogger(__name__)

TOOLS = ("vitis_hls", "vivado_hls")


def find_tool() -> str | None:
    return next((t for t in TOOLS if shutil.which(t)), None)


def parse_csynth_xml(path: Path) -> dict:
    """Latency, interval, clock and resources from a Vivado/Vitis HLS ``*_csynth.xml`` report."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise TrigdeployError(f"{path}: not a readable csynth XML report ({exc})") from None

    def text(node: str) -> str:
        found = root.find(node)
        if found is None or found.text is None:
            raise TrigdeployError(f"{path}: report has no {node}")
        return found.text.strip()

    res = root.find("./AreaEstimates/Resources")
    avail = root.find("./AreaEstimates/AvailableResources")
    if res is None:
        raise TrigdeployError(f"{path}: report has no AreaEstimates/Resources")
    key = {"DSP48E": "dsp", "DSP": "dsp", "BRAM_18K": "bram_18k", "FF": "ff", "LUT": "lut", "URAM": "uram"}
    out = {"source": str(path), "estimate": False, "method": "vendor C synthesis report",
           "clock_target_ns": float(text("./UserAssignments/TargetClockPeriod")),
           "clock_estimated_ns": float(text("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
           "latency_cycles_best": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency")),
           "latency_cycles_worst": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency")),
           "ii": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Interval-min")),
           "part": text("./UserAssignments/Part")}
    for child in res:
        if child.tag in key:
            out[key[child.tag]] = int(child.text)
    if avail is not None:
        out["available"] = {key[c.tag]: int(c.text) for c in avail if c.tag in key}
    out["latency_ns"] = out["latency_cycles_worst"] * out["clock_target_ns"]
    return out


def synth_run(firmware_dir: Path, log_dir: Path) -> dict | None:
    """C-synthesise every HLS project under ``firmware_dir``; None (and one line) without the tools."""
    tool = find_tool()
    if tool is None:
        logger.warning(f"synth: none of {', '.join(TOOLS)} is on PATH; C synthesis skipped "
                    "(FPGA figures stay estimates: trigdeploy bench)")
        return None
    out = {}
    for project in sorted(p for p in Path(firmware_dir).iterdir() if p.is_dir() and not p.name.endswith(".partial")):
        script = next((s for s in ("build_prj.tcl", "build_hls.tcl") if (project / s).is_file()), None)
        if script is None:
            continue
        log_file = Path(log_dir) / f"{project.name}.synth.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as fh:
            subprocess.run([tool, "-f", script, "csim=0", "synth=1"], cwd=project, stdout=fh,
                           stderr=subprocess.STDOUT, check=True)
        reports = sorted(project.rglob("syn/report/*_csynth.xml"))
        if not reports:
            raise TrigdeployError(f"{project}: {tool} finished without a *_csynth.xml report (see {log_file})")
        out[project.name] = parse_csynth_xml(reports[0])
    return out
