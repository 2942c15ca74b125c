"""Synthesis: the vendor's C synthesis where it is installed, open synthesis of every RTL design.

``trigdeploy synth --run DIR``:

* runs ``vitis_hls`` (or ``vivado_hls``) on every HLS project of an exported run with C synthesis
  only and parses each ``<top>_csynth.xml``; without the tools it says so in one line;
* synthesizes every RTL design the export lists (alkaid Verilog, conifer VHDL through ``ghdl
  synth``) with Yosys ``synth_xilinx`` for the target's family: LUT, FF, CARRY and DSP counts and
  the time in ``<run>/synth.json``, labelled as open-synthesis counts, not Vivado's. What is
  synthesized of a project is its project type's ``design`` (``trigdeploy.simulators``): alkaid
  designs in their ``open_synth/`` form (no ternary adders, which Yosys cannot pack), compared with
  alkaid's cost model of that same form.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from trigdeploy import timing
from trigdeploy.convert.manifest import Manifest, Project
from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools, yosys
from trigdeploy.hdl.yosys import Design
from trigdeploy.io import write_json_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.simulators import SIMULATORS

logger = logging.getLogger(__name__)

TOOLS = ("vitis_hls", "vivado_hls")


def find_tool() -> str | None:
    """The vendor HLS tool on ``PATH`` (``vitis_hls``, else ``vivado_hls``), or None."""
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
    out = {
        "source": str(path),
        "estimate": False,
        "method": "vendor C synthesis report",
        "clock_target_ns": float(text("./UserAssignments/TargetClockPeriod")),
        "clock_estimated_ns": float(text("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_cycles_best": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency")),
        "latency_cycles_worst": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency")),
        "ii": int(text("./PerformanceEstimates/SummaryOfOverallLatency/Interval-min")),
        "part": text("./UserAssignments/Part"),
    }
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
        logger.warning(
            f"synth: none of {', '.join(TOOLS)} is on PATH; C synthesis skipped "
            "(FPGA figures stay estimates: trigdeploy bench)"
        )
        return None
    out = {}
    for project in sorted(p for p in Path(firmware_dir).iterdir() if p.is_dir() and not p.name.endswith(".partial")):
        script = next((s for s in ("build_prj.tcl", "build_hls.tcl") if (project / s).is_file()), None)
        if script is None:
            continue
        log_file = Path(log_dir) / f"{project.name}.synth.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w") as fh:
            subprocess.run(
                [tool, "-f", script, "csim=0", "synth=1"], cwd=project, stdout=fh, stderr=subprocess.STDOUT, check=True
            )
        reports = sorted(project.rglob("syn/report/*_csynth.xml"))
        if not reports:
            raise TrigdeployError(f"{project}: {tool} finished without a *_csynth.xml report (see {log_file})")
        out[project.name] = parse_csynth_xml(reports[0])
    return out


def _design(layout: RunLayout, p: Project) -> Design:
    """What Yosys synthesizes of ``p`` (its project type's ``design``)."""
    return SIMULATORS[p.simulator].design(layout.project(p.name))


def _synthesize(layout: RunLayout, p: Project, d: Design) -> dict:
    r = yosys.synthesize_design(d, layout.synth_cache, layout.synth_logs, p.name)
    r["model"] = p.model
    logger.info(
        f"synth: {p.name}: {r['lut']:,} LUT, {r['ff']:,} FF, {r['carry']:,} CARRY, {r['dsp']} DSP "
        f"({r['seconds']:.0f} s{', cached' if r['cached'] else ''}; {yosys.LABEL})"
    )
    return r


# Yosys' time grows faster than the design: ≈ 2–4 min for the demo's 51k-LUT QAT MLP, 13–22 min and 5 GB
# for its 258k-LUT 16-bit PTQ twin on this project's machines (a float model's PTQ reference, not a design
# one deploys). Designs above this cost-model estimate are synthesized only when named (``--design``) or
# with a higher ``--max-lut-estimate``.
MAX_LUT_ESTIMATE = 100_000


def _side_by_side(layout: RunLayout, todo: list[Project], designs: dict[str, Design], jobs: int | None) -> list[dict]:
    """Each design's Yosys run (or its failure), ``jobs`` at a time (default: one per core), in ``todo``'s order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(p: Project) -> dict:
        try:
            return _synthesize(layout, p, designs[p.name])
        except TrigdeployError as exc:  # the other designs still count; the command fails at the end
            logger.error(f"synth: {p.name}: {exc}")
            return {"design": p.name, "model": p.model, "failed": str(exc)}

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(todo), jobs or os.cpu_count() or 1)))
    try:
        return list(pool.map(one, todo))
    finally:  # interrupted: the queued designs are dropped (the running ones' tools were stopped)
        pool.shutdown(wait=True, cancel_futures=True)


def _rtl(manifest: Manifest, designs: Sequence[str] | None) -> list[Project]:
    """The manifest's RTL projects (their type has a synthesis ``design``), or those named in ``designs``."""
    rtl = [p for p in manifest.projects if p.simulator in SIMULATORS and SIMULATORS[p.simulator].design]
    if designs is not None:
        unknown = sorted(set(designs) - {p.name for p in rtl})
        if unknown:
            raise TrigdeployError(
                f"--design {', '.join(unknown)}: not an RTL design of {manifest.path} "
                f"({', '.join(p.name for p in rtl) or 'none'})"
            )
        rtl = [p for p in rtl if p.name in designs]
    return rtl


def _skip_reason(p: Project, d: Design, named: bool, max_lut_estimate: float) -> str | None:
    """Why ``p`` is not synthesized (a tool missing; a cost-model estimate above the limit, unless named)."""
    absent = [t for t in d.tools if tools.find(t) is None]
    if absent:
        return "; ".join(tools.missing(t) for t in absent)
    if not named and d.estimate is not None and d.estimate > max_lut_estimate:
        return (
            f"{d.estimator} estimates {d.estimate:,.0f} LUT, above --max-lut-estimate {max_lut_estimate:,.0f} "
            f"(Yosys' time grows faster than the design); trigdeploy synth --design {p.name} runs it"
        )
    return None


def open_synth_run(
    layout: RunLayout,
    jobs: int | None = None,
    designs: Sequence[str] | None = None,
    max_lut_estimate: float = MAX_LUT_ESTIMATE,
    vendor: dict | None = None,
) -> dict:
    """Yosys counts of every RTL design of the run's export (or of ``designs``) in ``synth.json``,
    ``jobs`` designs at a time (Yosys is single-threaded; default: one per core). A missing tool, or
    (unless named in ``designs``) a cost-model estimate above ``max_lut_estimate``, skips a design with
    one line and no figure. ``vendor``: the vendor C synthesis reports of the HLS projects
    (``synth_run``), recorded beside the counts (bench reports both) where the tools ran."""
    rec = timing.Record("synth")
    manifest = Manifest.load(layout.manifest)
    out = {"label": yosys.LABEL, "manifest_sha256": manifest.sha256, "designs": {}}
    if vendor is not None:
        out["vendor"] = vendor
    rtl = _rtl(manifest, designs)
    if not rtl:
        logger.warning(f"synth: {manifest.path} lists no RTL design; nothing for Yosys")
    for p in rtl:  # what is counted is exactly what export wrote (and csim simulated)
        manifest.verify(p, layout.project(p.name))
    found = {p.name: _design(layout, p) for p in rtl}
    todo = []
    for p in rtl:
        why = _skip_reason(p, found[p.name], designs is not None, max_lut_estimate)
        if why is None:
            todo.append(p)
            continue
        logger.warning(f"synth: {p.name} skipped: {why}")
        out["designs"][p.name] = {"design": p.name, "model": p.model, "skipped": why}
    if todo:
        # the longest first: it bounds the wall time; a design without an estimate (a conifer BDT, whose VHDL
        # goes through ghdl synth first) counts as long: the demo's 11k-LUT BDT takes longer than its QAT MLP
        todo.sort(key=lambda p: -(found[p.name].estimate if found[p.name].estimate is not None else float("inf")))
        logger.info(f"synth: Yosys synth_xilinx on {', '.join(p.name for p in todo)} (minutes for a large design)")
        for p, r in zip(todo, _side_by_side(layout, todo, found, jobs)):
            out["designs"][p.name] = r
            if "seconds" in r:
                rec.add(f"Yosys {p.name}", r["seconds"], r.get("cached", False))
    out["timing"] = rec.report()
    write_json_atomic(layout.synth_json, out)
    failed = [n for n, d in out["designs"].items() if "failed" in d]
    if failed:
        raise TrigdeployError(
            f"Yosys failed on {', '.join(failed)} (the reason is in {layout.synth_json}; "
            "the other designs' counts are there too)"
        )
    return out
