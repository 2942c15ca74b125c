"""Batched C-simulation harness against hls4ml's ``predict()``, same compiled project, same events.

    python benchmarks/bench_csim.py [--run runs/toptag] [--events 10000] [--repeat 3]

For each hls4ml model of the exported run (QAT from its QONNX file, PTQ from the float model at
the manifest's precisions), converts it once into a scratch directory with hls4ml (which
compiles it for ``predict()``), builds the trigdeploy harness from that same directory with
both arithmetics (the vendor ``ap_`` headers, and trigdeploy's fast headers), checks that every
build gives outputs identical to ``predict()`` on every event, and times all of them (best of
``--repeat`` rounds, taking turns): each harness with 1 thread and with every core. Writes
benchmarks/results/csim_<run>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def best_rates(fns: dict, n: int, repeat: int) -> dict:
    """Events/s of each function, best of ``repeat``; the functions take turns in every round, so a
    change of the machine's speed (this VM has two speed states) affects all of them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t0)
    return {key: n / t for key, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/toptag")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from qonnx.core.modelwrapper import ModelWrapper

    from trigdeploy.convert import ptq, to_hls4ml, to_qonnx
    from trigdeploy.convert.export import load_split
    from trigdeploy.cxx import harness
    from trigdeploy.models.families import load_torch_model
    from trigdeploy.targets import HLS4MLTarget

    run = Path(args.run)
    export_dir = Path("export") / run.name
    manifest = json.loads((export_dir / "manifest.json").read_text())
    x_test, _ = load_split(run, "test")
    x_test = x_test[: args.events]
    threads = len(os.sched_getaffinity(0))
    rows, out = (
        [],
        {
            "run": str(run),
            "events": int(len(x_test)),
            "cpu": platform.processor() or platform.machine(),
            "cores": threads,
            "models": {},
        },
    )
    with tempfile.TemporaryDirectory(prefix="td-bench-csim-") as tmp:
        qmlp, _ = load_torch_model(run / "qmlp.pt")
        quantizer = to_qonnx.input_quantizer(qmlp)
        cases = {
            "qmlp (QAT)": (
                lambda d: to_hls4ml.convert(
                    ModelWrapper(str(export_dir / "qmlp.qonnx.onnx")), HLS4MLTarget(), "Vitis", d, quantizer, None, []
                ),
                quantizer.quantize(x_test),
            )
        }
        if "hls4ml_ptq" in manifest["models"].get("mlp", {}):
            mlp, saved = load_torch_model(run / "mlp.pt")
            x_train, _ = load_split(run, "train")
            choice = ptq.choose_precisions(
                mlp,
                ptq.profile(mlp, x_train[:20_000]),
                manifest["models"]["mlp"]["hls4ml_ptq"]["width"],
                manifest["models"]["mlp"]["hls4ml_ptq"]["headroom_bits"],
            )
            cases["mlp (PTQ)"] = (
                lambda d: to_hls4ml.convert_ptq(mlp, saved["n_inputs"], choice, HLS4MLTarget(), "Vitis", d, None, []),
                x_test,
            )
        for i, (name, (convert, x)) in enumerate(cases.items()):
            prj = Path(tmp) / f"p{i}"
            hm = convert(prj)
            ref = to_hls4ml.predict(hm, x, Path(tmp) / "cache")
            res, fns = {}, {"predict_events_per_s": lambda hm=hm, x=x: to_hls4ml.predict(hm, x, Path(tmp) / "cache")}
            for arithmetic in ("vendor", "fast"):
                for t in sorted({1, threads}):
                    h, b = harness.load(prj, Path(tmp) / "cache", t, arithmetic)
                    assert b.arithmetic == arithmetic, f"{name}: {b.fallback}"
                    assert np.array_equal(h.run(x)[:, 0], ref), f"{name}: {arithmetic} harness differs from predict()"
                    fns[f"harness_{arithmetic}_{t}_threads_events_per_s"] = lambda h=h, x=x: h.run(x)
                    res[f"harness_{arithmetic}_compile_seconds"] = b.compile_seconds or res.get(
                        f"harness_{arithmetic}_compile_seconds", 0.0
                    )
            rates = best_rates(fns, len(x), args.repeat)
            res.update(rates)
            rate_predict = rates["predict_events_per_s"]
            cells = [
                f"{rates[f'harness_{a}_{t}_threads_events_per_s']:,.0f} "
                f"({rates[f'harness_{a}_{t}_threads_events_per_s'] / rate_predict:.1f}×)"
                for a in ("vendor", "fast")
                for t in sorted({1, threads})
            ]
            res["identical_outputs"] = True
            out["models"][name] = res
            rows.append(f"| {name} | {rate_predict:,.0f} | " + " | ".join(cells) + " |")
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path(f"benchmarks/results/csim_{run.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"| project (Vitis) | predict() events/s | vendor headers, 1 thread | vendor, {threads} threads "
        f"| fast headers, 1 thread | fast, {threads} threads |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
