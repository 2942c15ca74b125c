"""Calibration point for the analytic FPGA estimator: Yosys ``synth_xilinx`` LUT counts of QAT dense layers.

    python benchmarks/bench_yosys.py [--run runs/toptag] [--layers 3 2]   (needs Debian's yosys)

For the chosen layers of a run's QAT MLP, writes the layer as combinational Verilog: integer
weights as constants, the products, and the sum of each output with its products at their
natural widths. It checks the Verilog against a numpy integer reference on random inputs with
Yosys ``eval``. Then it synthesises with ``synth_xilinx -family xcup -nodsp`` and compares the
LUT count with ``fpga.estimate_dense``'s multiplier and adder LUTs (the estimator's
activation, bias and register terms are left out: the Verilog has none of them). Yosys counts
are not Vivado counts: no LUT packing, no timing. This is a cross-check of the model's shape.
Writes benchmarks/results/yosys_<run>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def dense_verilog(codes: np.ndarray, a_bits: int, a_signed: bool, name: str) -> tuple[str, int]:
    """Combinational y_j = Σ_i x_i·w_ij for constant integer weights; returns (verilog, output width)."""
    n_in, n_out = codes.shape
    w_bits = int(max(1, np.abs(codes).max())).bit_length() + 1
    terms = max(1, int((codes != 0).sum(axis=0).max()))
    out_bits = a_bits + (0 if a_signed else 1) + w_bits + math.ceil(math.log2(terms + 1))
    xw = a_bits + (0 if a_signed else 1)
    lines = [f"module {name}(input [{n_in * a_bits - 1}:0] x, output [{n_out * out_bits - 1}:0] y);"]
    for i in range(n_in):
        src = f"x[{(i + 1) * a_bits - 1}:{i * a_bits}]"
        ext = f"$signed({src})" if a_signed else f"$signed({{1'b0, {src}}})"
        lines.append(f"  wire signed [{xw - 1}:0] x{i} = {ext};")
    for j in range(n_out):
        parts = [f"x{i} * {int(c)}" if c > 0 else f"- x{i} * {int(-c)}" for i, c in enumerate(codes[:, j]) if c != 0]
        expr = " ".join(p if k == 0 or p.startswith("-") else "+ " + p for k, p in enumerate(parts)) or "0"
        lines.append(f"  wire signed [{out_bits - 1}:0] y{j} = {expr};")
        lines.append(f"  assign y[{(j + 1) * out_bits - 1}:{j * out_bits}] = y{j};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", out_bits


def yosys(script: str, cwd: Path) -> str:
    return subprocess.run(["yosys", "-q", "-p", script], cwd=cwd, capture_output=True, text=True, check=True).stdout


def check_eval(
    path: Path, codes: np.ndarray, a_bits: int, a_signed: bool, out_bits: int, cwd: Path, n: int = 4
) -> None:
    rng = np.random.default_rng(0)
    lo, hi = (-(2 ** (a_bits - 1)), 2 ** (a_bits - 1)) if a_signed else (0, 2**a_bits)
    for _ in range(n):
        x = rng.integers(lo, hi, size=codes.shape[0])
        packed = sum((int(v) & (2**a_bits - 1)) << (i * a_bits) for i, v in enumerate(x))
        width = codes.shape[0] * a_bits
        yosys(f"read_verilog {path.name}; prep; tee -o eval.txt eval -set x {width}'b{packed:0{width}b} -show y", cwd)
        out = (cwd / "eval.txt").read_text()
        m = re.search(r"\\y\s*=\s*\d+'([01x]+)", out)
        if m is None:
            raise RuntimeError(f"yosys eval printed no value for y:\n{out}")
        bits = m.group(1)
        got = [int(bits[len(bits) - (j + 1) * out_bits : len(bits) - j * out_bits], 2) for j in range(codes.shape[1])]
        got = [g - 2**out_bits if g >= 2 ** (out_bits - 1) else g for g in got]
        expected = (x[:, None] * codes).sum(axis=0)
        if not np.array_equal(got, expected):
            raise RuntimeError(f"{path.name}: Verilog differs from the integer reference: {got[:4]} vs {expected[:4]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/toptag")
    parser.add_argument("--layers", type=int, nargs="+", default=[3, 2], help="QAT dense layer indices (0 = first)")
    args = parser.parse_args()
    if shutil.which("yosys") is None:
        print("bench_yosys: yosys is not on PATH (Debian package yosys); skipped")
        return

    from trigdeploy import fpga
    from trigdeploy.models.families import load_torch_model

    run = Path(args.run)
    model, saved = load_torch_model(run / "qmlp.pt")
    layers = fpga.qat_layers(model, saved["config"]["bias_bits"])
    version = subprocess.run(["yosys", "-V"], capture_output=True, text=True, check=True).stdout.strip()
    out = {"run": str(run), "yosys": version, "layers": []}
    with tempfile.TemporaryDirectory(prefix="td-yosys-") as tmp:
        for k in args.layers:
            layer = layers[k]
            name = f"dense{k}"
            verilog, out_bits = dense_verilog(layer.codes, layer.a_bits, k == 0, name)
            path = Path(tmp) / f"{name}.v"
            path.write_text(verilog)
            check_eval(path, layer.codes, layer.a_bits, k == 0, out_bits, Path(tmp))
            t0 = time.perf_counter()
            yosys(
                f"read_verilog {path.name}; synth_xilinx -family xcup -nodsp -flatten -top {name}; "
                "tee -o stat.txt stat",
                Path(tmp),
            )
            seconds = time.perf_counter() - t0
            text = (Path(tmp) / "stat.txt").read_text()
            (Path("benchmarks/results") / f"yosys_{run.name}_{name}_stat.txt").write_text(text)
            cells = {c: int(n) for c, n in re.findall(r"^\s+(\S+)\s+(\d+)\s*$", text, re.M)}
            luts = sum(v for c, v in cells.items() if re.fullmatch(r"LUT\d", c))
            est = fpga.estimate_dense(layer, clock_ns=5.0)
            est_logic = est["lut"] - layer.codes.shape[1] * layer.out_bits  # without the activation term
            row = {
                "layer": k,
                "shape": list(layer.codes.shape),
                "w_bits": layer.w_bits,
                "a_bits": layer.a_bits,
                "yosys_lut": luts,
                "yosys_carry": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
                "yosys_muxf": sum(v for c, v in cells.items() if c.startswith("MUXF")),
                "estimate_lut": est_logic,
                "ratio_estimate_over_yosys": est_logic / max(luts, 1),
                "synth_seconds": seconds,
                "verified_vectors": 4,
            }
            out["layers"].append(row)
            print(
                f"| {k} | {layer.codes.shape[0]}→{layer.codes.shape[1]} | {luts:,} | {row['yosys_carry']:,} | "
                f"{est_logic:,} | {row['ratio_estimate_over_yosys']:.2f} | {seconds:.0f} s |",
                flush=True,
            )
    Path(f"benchmarks/results/yosys_{run.name}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
