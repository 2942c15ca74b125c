"""How much a jet's N leading particles say: the 14 jet features computed from them alone, and a BDT on them.

    .venv/bin/python benchmarks/bench_set_ceiling.py [--run runs/toptag_l1] [--particles 8 16 32 200] \
        [--out benchmarks/results/set_ceiling.json]

A constituent-level tagger on a jet's N leading particles cannot know what the other particles carry. This
measures what is left: the demo's 14 jet-substructure features (mass, N-subjettiness, energy correlation
functions, girth …: ``data.jetsub``, float64) computed from the N leading particles only, and an XGBoost BDT of
the demo's size (100 trees of depth 4) trained on them, for several N; also the jet mass alone and mass with
τ21 and τ32. It reads the run's own file and split (``--run``: its ``config.yaml``'s data file, its
``splits.npz``), so each AUC is on the same test events as the run's models, whose test AUCs are printed beside.
Results: ``set_ceiling.json`` and a Markdown table on standard output (the one in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_set_ceiling")
# the subsets of data.features.JET_FEATURES measured besides all 14 (their column numbers)
SUBSETS = {"all 14": list(range(14)), "mass": [2], "mass, τ21, τ32": [2, 7, 8]}
BDT = {"n_estimators": 100, "max_depth": 4, "learning_rate": 0.2}  # configs/toptag.yaml's train.bdt


def _constituents(file: Path, key: str, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The public top-tagging layout's (E, px, py, pz) of the 200 constituents, ``(n, 200, 4)``, and the labels
    (``key``: the HDF5 table, ``label``: its label column, as the run's config names them)."""
    import pandas as pd

    df = pd.read_hdf(file, key)
    cols = [f"{c}_{i}" for i in range(200) for c in ("E", "PX", "PY", "PZ")]
    return df[cols].to_numpy(np.float64).reshape(len(df), 200, 4), df[label].to_numpy(np.int64)


def _auc(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """The test AUC of a BDT of the demo's size trained on ``train`` (one thread: the same figure every time)."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    model = xgb.XGBClassifier(**BDT, n_jobs=1, random_state=0).fit(x[train], y[train])
    return float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))


def measure(run: Path, particles: list[int]) -> dict:
    """Per N: the BDT's test AUC on each subset of the 14 features computed from the N leading particles."""
    from trigdeploy.config import load_config
    from trigdeploy.data.jetsub import compute_jet_features
    from trigdeploy.layout import RunLayout

    layout = RunLayout.of(run)
    cfg = load_config(layout.config)
    file = REPO / cfg.data.files[0]
    split = np.load(layout.splits)
    const, y = _constituents(file, cfg.data.hdf5_key, cfg.label.column)
    if int(split["n_rows"]) != len(y):  # the split's rows are the file's rows (no selection dropped any)
        raise SystemExit(f"{layout.splits}: {int(split['n_rows'])} rows split, {file} has {len(y)}")
    test = np.asarray(split["test"])
    train = np.setdiff1d(np.arange(len(y)), np.concatenate([test, np.asarray(split["val"])]))
    rows = []
    for n in particles:
        x = compute_jet_features(np.ascontiguousarray(const[:, :n]))
        aucs = {name: _auc(x[:, cols], y, train, test) for name, cols in SUBSETS.items()}
        logger.info("%d particles: %s", n, {k: round(v, 5) for k, v in aucs.items()})
        rows.append({"particles": n, "auc": aucs})
    metrics = json.loads(layout.metrics.read_text())
    models = {k: v["auc"] for k, v in metrics.items() if isinstance(v, dict) and "auc" in v}
    return {
        "run": str(run),
        "file": str(file),
        "n_train": len(train),
        "n_test": len(test),
        "bdt": BDT,
        "rows": rows,
        "run_models": models,
    }


def markdown(result: dict) -> str:
    """One row per N, one column per feature subset."""
    head = "| leading particles | " + " | ".join(f"BDT on {k}" for k in SUBSETS) + " |"
    lines = [head, "|---" * (len(SUBSETS) + 1) + "|"]
    for row in result["rows"]:
        lines.append(f"| {row['particles']} | " + " | ".join(f"{row['auc'][k]:.5f}" for k in SUBSETS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure, write the JSON, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "toptag_l1")
    ap.add_argument("--particles", type=int, nargs="+", default=[8, 16, 32, 200])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "set_ceiling.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = measure(args.run, args.particles)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
