"""What a set of N particles misses on jets5: the jet's particle count, given beside the set (float, by hand).

    .venv/bin/python benchmarks/bench_set_count.py --run runs/jets5_sets [--particles 16] [--phi 64 64] \
        [--out benchmarks/results/set_count.json]

A Deep Sets on a jet's N leading particles cannot count the particles beyond N, and on jets5 the count is what
separates gluon from quark jets (the HLF MLP reads it as ``j_multiplicity``). This trains the float network of
``models.deepsets`` (φ per particle, the masked sum, ρ 64-32) twice on the run's own particle set, file and split
(``--run``: a prepared ``features.kind: constituents`` run on hls4ml's jet layout): as it is, and with
log(``j_multiplicity``) (standardized on the training rows) added to the pooled sum through one linear map ψ,
ρ unchanged. One torch thread, the same seed and training rules for both (Adam at 2e-3, batches of 512, the
learning rate halved after 8 epochs without a better validation accuracy, stopped after 30, the best epoch
kept). Test accuracy of each, as JSON (``--out``) and a Markdown line per network on standard output. It builds
no design: the set kinds take the count through ``features.jet_features`` (ψ into the pooled sum, as here).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_set_count")
COUNT = "j_multiplicity"


def _count(cfg, rows: dict) -> dict:
    """log(the jet's particle count) per split, standardized on the training rows, from the run's data file."""
    import h5py

    with h5py.File(REPO / cfg.data.files[0], "r") as f:
        names = [n.decode() for n in f["jetFeatureNames"][:]]
        count = np.log(np.asarray(f[cfg.data.hdf5_key][:, names.index(COUNT)], np.float64))
    mu, sd = count[rows["train"]].mean(), count[rows["train"]].std()
    return {s: ((count[r] - mu) / sd).astype(np.float32)[:, None] for s, r in rows.items()}


def _network(features: int, phi: list[int], with_count: bool, n_classes: int):
    """φ (Linear → ReLU per width), ρ 64-32 → logits, and ψ (count → φ's width) where ``with_count``."""
    import torch
    from torch import nn

    class Sets(nn.Module):
        def __init__(self):
            super().__init__()
            layers, d = [], features
            for w in phi:
                layers += [nn.Linear(d, w), nn.ReLU()]
                d = w
            self.phi = nn.Sequential(*layers)
            self.rho = nn.Sequential(
                nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, n_classes)
            )
            self.psi = nn.Linear(1, d) if with_count else None

        def forward(self, p: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
            pooled = (self.phi(p[..., :-1]) * p[..., -1:]).sum(1)
            return self.rho(pooled if self.psi is None else pooled + self.psi(count))

    return Sets()


def _fit(net, data: dict) -> tuple[float, int]:
    """Train on ``data['train']``, keep the epoch of the best validation accuracy; (test accuracy, epochs run)."""
    import torch

    opt = torch.optim.Adam(net.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "max", patience=8, factor=0.5)
    (p, c, y), best, state, stale, ran = data["train"], -1.0, None, 0, 0

    def accuracy(split: str) -> float:
        with torch.no_grad():
            sp, sc, sy = data[split]
            return float((net(sp, sc).argmax(1) == sy).float().mean())

    for _ in range(300):
        ran += 1
        net.train()
        for b in torch.randperm(len(p)).split(512):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(p[b], c[b]), y[b]).backward()
            opt.step()
        net.eval()
        acc = accuracy("val")
        sched.step(acc)
        if acc > best:
            best, stale, state = acc, 0, {k: v.clone() for k, v in net.state_dict().items()}
        elif (stale := stale + 1) >= 30:
            break
    net.load_state_dict(state)
    return accuracy("test"), ran


def measure(run: Path, particles: int, phi: list[int], seed: int = 0) -> dict:
    """Test accuracy of the set model on ``particles`` particles without and with the jet's count beside it."""
    import torch

    from trigdeploy.config import load_config
    from trigdeploy.data.cache import load_prepared
    from trigdeploy.layout import RunLayout

    torch.set_num_threads(1)
    cfg, prepared = load_config(RunLayout.of(run).config), load_prepared(run)
    width = len(cfg.features.particles(stored=True)) + 1  # a particle's features and its mask
    rows = {s: prepared.rows(s) for s in ("train", "val", "test")}
    counts, data = _count(cfg, rows), {}
    for s in rows:
        x, y = prepared.arrays(s)
        stored = cfg.features.n_constituents * width  # the set (a run with features.jet_features: then its jet's)
        sets = np.asarray(x, np.float32)[:, :stored].reshape(len(x), -1, width)[:, :particles]
        labels = np.asarray(y).argmax(1) if np.ndim(y) == 2 else np.asarray(y)
        data[s] = (torch.tensor(sets), torch.tensor(counts[s]), torch.tensor(labels, dtype=torch.long))
    out = {"run": str(run), "particles": particles, "phi": phi, "test_rows": len(rows["test"]), "accuracy": {}}
    for with_count in (False, True):
        torch.manual_seed(seed)  # the same initial φ and ρ, the same batches, for both
        net = _network(width - 1, phi, with_count, len(prepared.classes))
        acc, epochs = _fit(net, data)
        out["accuracy"]["with count" if with_count else "set only"] = {"test": acc, "epochs": epochs}
        logger.info("%s: %.4f (%d epochs)", "with count" if with_count else "set only", acc, epochs)
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure, write the JSON, print the Markdown lines."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs/jets5_sets")
    ap.add_argument("--particles", type=int, default=16)
    ap.add_argument("--phi", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/set_count.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    result = measure(args.run, args.particles, args.phi)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    phi = "-".join(map(str, args.phi))
    for name, r in result["accuracy"].items():
        sys.stdout.write(f"| {args.particles} | {phi} / 64-32 | {name} | {r['test']:.4f} | {r['epochs']} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
