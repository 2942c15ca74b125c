"""The RTL project types: alkaid's Verilog (run by Verilator) and conifer's VHDL (run by GHDL).

Both simulators return what the design's output port holds for every event (one row each), how it
was obtained, and a testbench check: the project's own ``tb_data`` (events and the outputs the
export checked the design against) run through the same simulation, which must reproduce them
exactly. Each type's ``*_design`` says what Yosys synthesizes of a project (``hdl.yosys.Design``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.hdl import ghdl, verilator
from trigdeploy.hdl.yosys import Design
from trigdeploy.logits import compare


def _tb_data(project: Path) -> tuple[np.ndarray, np.ndarray]:
    tb = Path(project) / "tb_data"
    try:
        x = np.loadtxt(tb / "tb_input_features.dat", dtype=np.float64, ndmin=2)
        y = np.loadtxt(tb / "tb_output_predictions.dat", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise TrigdeployError(f"{tb}: testbench data unreadable ({exc}); export again") from None
    if len(x) != len(y):
        raise TrigdeployError(f"{tb}: {len(x)} input rows but {len(y)} expected outputs")
    return x, y


def _tb_report(out: np.ndarray, expected: np.ndarray, seconds: float) -> dict:
    same = compare(out, expected)
    n = same["n_mismatch"]
    return {
        "n_events": int(len(expected)),
        "n_differ_from_expected": n,
        "max_abs_diff_expected": same["max_abs_diff"],
        "run_seconds": seconds,
        "ok": n == 0,
    }


def simulate_verilator(
    project: Path, cache: Path, x: np.ndarray, exact: bool, threads: int | None, arithmetic: str
) -> tuple[np.ndarray, dict, dict]:
    """An alkaid Verilog project, Verilated (cached build; ``threads`` compilers, default the cores) and clocked
    through every event."""
    model, built = verilator.load(project, cache, jobs=threads)
    t0 = time.perf_counter()
    y = model.predict(x, threads)
    rate = len(x) / max(time.perf_counter() - t0, 1e-9)
    x_tb, y_tb = _tb_data(project)
    t1 = time.perf_counter()
    # tb_data holds what the design must compute bit for bit (QONNX for QAT, the hls4ml C simulation for
    # PTQ: the export checked both), whatever the project's reference for the whole split is
    tb = _tb_report(model.predict(x_tb, threads), y_tb, time.perf_counter() - t1)
    info = {
        "simulator": "verilator",
        "arithmetic": f"RTL (Verilator {built.tool_version})",
        "compile_seconds": built.seconds,
        "build_cached": built.cached,
        "events_per_s": rate,
        "pipeline_latency_cycles": model.latency,
    }
    return y, info, tb


def _port_types(project: Path) -> tuple[FixedType, FixedType]:
    """The VHDL design's input and score types (conifer's ``myproject.json``)."""
    meta = Path(project) / "myproject.json"
    try:
        config = json.loads(meta.read_text())["config"]
        texts = config["input_precision"], config["score_precision"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrigdeployError(f"{meta}: no conifer config with input/score precisions ({exc}); export again") from None
    return tuple(FixedType.parse(t, f"{meta}: config.{k}_precision") for t, k in zip(texts, ("input", "score")))


def _as_int(x: np.ndarray, t: FixedType, what: str) -> np.ndarray:
    scaled = np.asarray(x, np.float64) * 2.0**t.frac
    code = np.round(scaled)
    if (code != scaled).any() or (code < t.int_min).any() or (code > t.int_max).any():
        raise TrigdeployError(f"{what}: inputs are not on the {t} grid of the VHDL port")
    return code.astype(np.int64)


def simulate_ghdl(
    project: Path, cache: Path, x: np.ndarray, exact: bool, threads: int | None, arithmetic: str
) -> tuple[np.ndarray, dict, dict]:
    """A conifer VHDL project: GHDL runs conifer's testbench on every event (the whole split in one batch,
    cut into slices simulated side by side by up to ``threads`` processes)."""
    t, score = _port_types(project)
    built = ghdl.analyze(project, cache)
    x_tb, y_tb = _tb_data(project)
    head = np.asarray(x[: len(x_tb)], np.float64)
    shared = head.shape == x_tb.shape and np.array_equal(head, x_tb)  # tb_data is the split's first events
    batch = x if shared else np.concatenate([x, x_tb])
    t0 = time.perf_counter()
    codes = ghdl.run(built, _as_int(batch, t, f"{project} ({len(batch)} events)"), threads)
    seconds = time.perf_counter() - t0
    y_all = codes.astype(np.float64) * score.lsb
    y = y_all[: len(x)]
    tb_out = y_all[: len(x_tb)] if shared else y_all[len(x) :]
    tb = _tb_report(tb_out, y_tb, 0.0 if shared else seconds)  # tb_data: the bit-exact emulation
    tb["shared_with_split_run"] = shared
    info = {
        "simulator": "ghdl",
        "arithmetic": f"VHDL ({built.tool.version.split(' (')[0]}, {ghdl.backend(built.tool)})",
        "compile_seconds": built.seconds,
        "build_cached": built.cached,
        "events_per_s": len(batch) / max(seconds, 1e-9),
    }
    return y, info, tb


OPEN_SYNTH = "open_synth"  # the alkaid variant Yosys can map: alkaid's ternary adders are a Vivado packing
# alkaid's designs are distributed arithmetic: adders and delay lines, no multipliers. Yosys' DSP and
# shift-register (SRL) inference found nothing to gain on them but took 65 % of its time on the
# demo's 258k-LUT PTQ MLP (54 → 22 min, 271,544 → 271,575 LUT; the delay lines count as FFs).
ALKAID_OPTIONS = ("-nosrl", "-nodsp")


def alkaid_design(project: Path) -> Design:
    """An alkaid project's form for Yosys: ``open_synth/`` (no ternary adders) if it has one, else ``src/``,
    with alkaid's cost-model LUTs of that very form."""
    opened = (Path(project) / OPEN_SYNTH / "src").is_dir()
    variant = Path(project) / OPEN_SYNTH if opened else Path(project)
    meta_file = variant / "metadata.json"
    try:
        meta = json.loads(meta_file.read_text())
        part, cost = str(meta["part_name"]), float(meta["cost"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrigdeployError(f"{meta_file}: not an alkaid RTL project's metadata ({exc})") from None
    sources = sorted((variant / "src" / "static").glob("*.v")) + sorted((variant / "src").glob("*.v"))
    return Design(
        verilator.top_module(variant),
        part,
        verilog=tuple(sources),
        options=ALKAID_OPTIONS,
        estimate=cost,
        estimator="alkaid",
        labels=(("source", "alkaid"), ("variant", f"{OPEN_SYNTH} (no ternary adders)" if opened else "src")),
    )


def conifer_design(project: Path) -> Design:
    """A conifer VHDL BDT's synthesizable sources (library BDT, without the testbench) and its part."""
    meta = Path(project) / "myproject.json"
    try:
        part = str(json.loads(meta.read_text())["config"]["xilinx_part"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrigdeployError(f"{meta}: no conifer config with a xilinx_part ({exc}); export again") from None
    vhdl = tuple(("BDT", f) for f in ghdl.sources(project) if f.name not in ghdl.TB_LIB)
    return Design("BDTTop", part, vhdl=vhdl, labels=(("source", "conifer VHDL (ghdl synth)"),))
