"""conifer projects of an XGBoost ensemble (``convert.ensemble``): C++ (float), Vivado/Vitis HLS
and VHDL writers, the C++ emulation built with g++, testbench data, and two patches to conifer
1.11's output (each checks for the text it expects and fails loudly when conifer changes it).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import numpy as np

from trigdeploy.convert import conifer_emulation
from trigdeploy.convert._tools import captured
from trigdeploy.convert.ensemble import (
    leaves,
    n_outputs,
    xgb_leaves,
    xgb_margin,
)
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.logits import as_logits, compare

PROJECT_NAME = "myproject"  # not "bdt": conifer names its BDT instance `bdt`


class _GridConverter:
    """Stand-in for conifer's ``FixedPointConverter`` in the VHDL writer.

    conifer's compiles a pybind11 module with whatever ``python3`` is first on PATH, inside a
    ``.fp_converter_*`` directory it leaves in the current directory. The VHDL writer only needs
    integer codes of values that trigdeploy has already put on the grid, so they are computed
    here exactly (floor, like ``ap_fixed``'s default truncation, for any off-grid value).
    """

    def __init__(self, type_string: str):
        self.fmt = FixedType.parse(type_string)
        self.width, self.integer_bits, self.fractional_bits = self.fmt.width, self.fmt.integer, self.fmt.frac

    def to_int(self, x) -> int:
        return int(self.fmt.to_int(float(x), "floor"))

    def from_int(self, x) -> float:
        return float(self.fmt.to_float(x))


@contextlib.contextmanager
def _vhdl_converter():
    """conifer's VHDL writer with exact integer codes and GHDL's scripts (conifer writes the scripts of
    whichever simulator it finds on PATH; the project should not depend on the exporting machine)."""
    import conifer.backends.vhdl as vhdl
    import conifer.backends.vhdl.writer as vhdl_writer

    original, simulator = vhdl_writer.FixedPointConverter, vhdl.simulators._detected_simulator
    vhdl_writer.FixedPointConverter = _GridConverter
    vhdl.simulators._detected_simulator = vhdl.simulators.GHDL
    try:
        yield
    finally:
        vhdl_writer.FixedPointConverter = original
        vhdl.simulators._detected_simulator = simulator


# conifer's AddReduce pads an odd-length sum with a signal that has only an initial value: simulators
# read it as zero, but synthesis (``ghdl synth``) leaves it undriven ('Z') and the netlist adds garbage.
_PAD_ANCHOR = "    dInt(0 to d'length - 1) <= d;\n"
_PAD_FIX = "    dInt(d'length to intLen - 1) <= (others => (others => '0'));  -- trigdeploy: drive the padding\n"


def drive_addreduce_padding(project: Path) -> None:
    """Writer pass on a conifer VHDL project: drive ``AddReduce``'s padding with zeros (same simulation,
    same counts, and a netlist that computes the simulated sum)."""
    path = Path(project) / "firmware" / "AddReduce.vhd"
    text = path.read_text()
    if _PAD_FIX in text:
        return
    if text.count(_PAD_ANCHOR) != 1:
        raise TrigdeployError(
            f"{path}: conifer's AddReduce changed (padding anchor not found once); "
            "trigdeploy's padding pass needs updating"
        )
    path.write_text(text.replace(_PAD_ANCHOR, _PAD_ANCHOR + _PAD_FIX))


def make_project(ens: dict, backend: str, out_dir: Path, config: dict, log: list[str]):
    """Write a conifer project (``backend``: cpp, xilinxhls, vhdl) in ``out_dir``; returns the conifer model."""
    import conifer

    cfg = {"Backend": backend, "OutputDir": str(out_dir), "ProjectName": PROJECT_NAME, **config}
    with captured(log, f"conifer {backend} → {out_dir}"), _vhdl_converter():
        model = conifer.model.make_model(json.loads(json.dumps(ens)), cfg)
        model.write()
    if backend == "vhdl":
        drive_addreduce_padding(out_dir)
    return model


def cpp_float_check(
    ens: dict, booster, x: np.ndarray, out_dir: Path, log: list[str], cache: Path | None = None
) -> dict:
    """conifer's C++ backend at float precision vs XGBoost: leaf agreement and margin equality on every row
    (the emulation's library built in, or found in, ``cache``)."""
    x32 = np.asarray(x, np.float32)
    t0 = time.perf_counter()
    make_project(ens, "cpp", out_dir, {"Precision": "float"}, log)
    emulation = conifer_emulation.build(out_dir, Path(out_dir) / f"{PROJECT_NAME}.json", n_outputs(ens), log, cache)
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    y = as_logits(emulation.decision_function(x32), len(x32))
    rate = len(x32) / max(time.perf_counter() - t1, 1e-9)
    margins = compare(y, xgb_margin(booster, x32))
    leaf_equal = (leaves(ens, x32) == xgb_leaves(booster, x32)).all(axis=1)
    return {
        "n_events": int(len(x32)),
        "leaf_agreement": float(leaf_equal.mean()),
        "n_leaf_mismatch": int((~leaf_equal).sum()),
        "n_margin_mismatch": margins["n_mismatch"],
        "max_abs_diff_margin": margins["max_abs_diff"],
        "compile_seconds": compile_s,
        "events_per_s": rate,
        "ok": bool(leaf_equal.all() and margins["ok"]),
    }


def write_testbench(out_dir: Path, x: np.ndarray, y: np.ndarray) -> None:
    """``tb_data/`` in the layout conifer's and hls4ml's testbenches read (space-separated rows)."""
    tb = Path(out_dir) / "tb_data"
    tb.mkdir(parents=True, exist_ok=True)
    np.savetxt(tb / "tb_input_features.dat", np.asarray(x, np.float64), fmt="%.17g", delimiter=" ")
    np.savetxt(
        tb / "tb_output_predictions.dat", np.asarray(y, np.float64).reshape(len(y), -1), fmt="%.17g", delimiter=" "
    )


def fix_hls_top(project_dir: Path) -> None:
    """Make conifer 1.11's HLS project link: its header declares and its testbench calls
    ``top(x, score, tree_scores)`` while ``firmware/<top>.cpp`` defines ``top(x, score)``, so
    Vitis ``csim_design`` fails with an undefined reference. The header and the testbench are
    aligned with the definition (the synthesised top is unchanged); the per-tree log goes.
    """
    project_dir = Path(project_dir)
    header = project_dir / "firmware" / f"{PROJECT_NAME}.h"
    bench = project_dir / f"{PROJECT_NAME}_test.cpp"
    h = header.read_text()
    bad_arg = ",\n\tscore_t tree_scores[BDT::fn_classes(n_classes) * n_trees]);"
    t = bench.read_text()
    tree_log = re.compile(r"\n\s*for\(int  i = 0; i < n_trees; i\+\+\)\{\n.*?ftrees << std::endl;", re.S)
    if bad_arg not in h or f"{PROJECT_NAME}(x, score, tree_scores);" not in t or not tree_log.search(t):
        raise TrigdeployError(
            f"{project_dir}: conifer's HLS writer output changed (expected conifer 1.11); re-check fix_hls_top"
        )
    header.write_text(h.replace(bad_arg, ");"))
    t = t.replace(f"{PROJECT_NAME}(x, score, tree_scores);", f"{PROJECT_NAME}(x, score);")
    t = re.sub(r"\n\s*score_t tree_scores\[BDT::fn_classes\(n_classes\) \* n_trees\]\{\};", "", tree_log.sub("", t))
    bench.write_text(t)


def point_project_at(project: Path, final: Path) -> None:
    """Point conifer's saved config in ``project`` (built in staging) at the folder it will be moved to."""
    saved = Path(project) / f"{PROJECT_NAME}.json"
    if saved.is_file():
        model = json.loads(saved.read_text())
        model.get("config", {})["output_dir"] = str(Path(final).resolve())
        saved.write_text(json.dumps(model, indent=2))


def _scores_text(ens: dict) -> str:
    if n_outputs(ens) == 1:
        return "The score is XGBoost's margin (logit)."
    return (
        f"{n_outputs(ens)} scores, XGBoost's margin of each class (one tree set per class, in the order of the "
        "run's `metrics.json` `classes`); no softmax in the firmware: the largest score is the predicted class."
    )


def _weights_text(info: dict) -> str:
    """The README's line on conifer's node weights (HLS projects only)."""
    if "weight_precision" not in info:
        return ""
    return (
        f"\n* Node weights `{info['weight_precision']}` (conifer's `weight_t`): each node's one-hot row that selects "
        "its input (the trees split on one input at a time), so the type holds them exactly."
    )


def write_readme(
    out_dir: Path, backend: str, part: str, clock: float, fmt: FixedType, ens: dict, fixed: dict, info: dict
) -> None:
    """A short hand-off note for the Vivado/Vitis (or VHDL) user."""
    q = fixed["vs_xgboost_on_quantized_inputs"]
    how = {
        "xilinxhls": "`vitis_hls -f build_hls.tcl` (or `vivado_hls -f build_hls.tcl`; options in the file: "
        "csim, synth, cosim, export). `tb_data/` feeds `myproject_test.cpp`.",
        "vhdl": "add `firmware/*.vhd` to a Vivado project (top `BDTTop`), or run `vivado -mode batch -source "
        "synth.tcl`; `ghdl_compile.sh` builds the testbench with GHDL.",
    }[backend]
    check = (
        f"C simulation equals trigdeploy's bit-exact fixed-point emulation on "
        f"{info['csim_vs_emulation']['n_events']} test events ({info['csim_vs_emulation']['n_mismatch']} mismatches)."
        if "csim_vs_emulation" in info
        else "Same ensemble and types as the checked HLS project."
    )
    text = f"""# bdt: conifer {backend} project (generated by trigdeploy; do not edit by hand)

* XGBoost, {ens["n_trees"]} trees, depth ≤ {ens["max_depth"]}, {ens["n_features"]} inputs; part `{part}`, clock period {clock} ns.
* Types: inputs, thresholds and score `{fmt}` (LSB {fmt.lsb:g}). {_scores_text(ens)}{_weights_text(info)}
* Inputs: the run's `preprocess.json` standardisation, then floored onto the `{fmt}` grid and saturated
  before the port. Thresholds are rounded up onto that grid, so the firmware takes the branch XGBoost
  takes on the same input (leaf agreement {100 * q["leaf_agreement"]:.2f} % on the test split); leaves are
  rounded to nearest, so the score is within (n_trees + 1) × LSB/2 = {q["bound"]:.3g} of XGBoost's
  (max seen {q["max_abs_diff_margin"]:.3g}).
* {check}
* `tb_data/tb_input_features.dat`: test events on the input grid; `tb_output_predictions.dat`: expected scores.
* Build: {how}
"""
    (Path(out_dir) / "README.md").write_text(text)
