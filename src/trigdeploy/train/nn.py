"""Training loop for the float and QAT MLPs, streaming from the run's feature cache.

Batches come from the memory-mapped cache in shuffled blocks: each epoch permutes the blocks
of ``shuffle_block_rows`` training rows and the rows inside each block, from a generator seeded
by (seed, epoch), so memory stays at one block while small splits are fully shuffled. AdamW,
``BCEWithLogitsLoss`` with ``pos_weight`` (default n_background / n_signal on the training
rows), ReduceLROnPlateau and early stopping on the validation AUC, the best epoch's weights kept.

Checkpoints (every ``checkpoint_every`` batches and at each epoch end) hold the model, optimizer,
scheduler, torch RNG state, epoch and batch position, so that a killed run resumed with
``resume=True`` replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from trigdeploy.config import MLPConfig
from trigdeploy.data.prepare import Prepared
from trigdeploy.io import atomic_path
from trigdeploy.train.metrics import balance_weight, roc_auc

logger = logging.getLogger(__name__)

@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_auc: float = float("nan")
    rows_seen: int = 0
    seconds: float = 0.0
    pos_weight: float = 1.0
    resumed_from: dict | None = None
    distributed: dict | None = None


def epoch_batches(rows: np.ndarray, cfg: MLPConfig, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """Global row indices of every batch of one epoch (block shuffle, deterministic)."""
    rng = np.random.default_rng([seed, epoch])
    blocks = [rows[i : i + cfg.shuffle_block_rows] for i in range(0, len(rows), cfg.shuffle_block_rows)]
    for b in rng.permutation(len(blocks)):
        block = blocks[b][rng.permutation(len(blocks[b]))]
        for i in range(0, len(block), cfg.batch_size):
            yield block[i : i + cfg.batch_size]


def n_batches(n_rows: int, cfg: MLPConfig) -> int:
    full, rest = divmod(n_rows, cfg.shuffle_block_rows)
    per_block = -(-cfg.shuffle_block_rows // cfg.batch_size)
    return full * per_block + (-(-rest // cfg.batch_size))


def _resident(prepared: Prepared, x_all, y_all, rows: np.ndarray, cfg: MLPConfig, device: torch.device):
    """This rank's scaled training rows as GPU tensors, when they fit in ``gpu_resident_gb``.

    The GPU then gathers each batch itself instead of waiting for the CPU to gather and scale it
    from the memory-mapped cache: that CPU work, not the GPU, bounds a small trigger MLP
    (BENCHMARKS.md). The batches and their order are those of the streaming path.
    """
    if device.type != "cuda" or len(rows) * x_all.shape[1] * 4 > cfg.gpu_resident_gb * 2**30:
        return None
    x = torch.empty((len(rows), x_all.shape[1]), dtype=torch.float32, device=device)
    step = 262_144
    for i in range(0, len(rows), step):  # chunked, so host memory stays at one chunk
        x[i: i + step] = torch.from_numpy(prepared.scaler.transform(np.asarray(x_all[rows[i: i + step]])))
    y = torch.from_numpy(np.asarray(y_all[rows], np.float32))[:, None].to(device)
    return x, y


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: torch.device, batch: int = 65536) -> np.ndarray:
    """Sigmoid scores (float64) of ``x``."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        logits = model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch])).to(device))
        out.append(torch.sigmoid(logits.float()).squeeze(1).cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _runtime_stats_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Brevitas' scales initialised from runtime statistics (the QAT twin's activation quantizers)."""
    standalone = sys.modules.get("brevitas.core.scaling.standalone")  # no brevitas model, no such module
    if standalone is None:
        return {}
    return {n: m for n, m in model.named_modules() if isinstance(m, standalone.ParameterFromRuntimeStatsScaling)}


def runtime_stats(model: nn.Module) -> dict:
    """What Brevitas' ``state_dict`` leaves out while it collects scale statistics (its first
    ``collect_stats_steps`` steps): the step counter, the running statistic and the raw parameter.
    Its ``state_dict`` stores the statistic *as* the parameter, and loading it ends the collection,
    so a checkpoint without these would resume to a different model."""
    return {n: {"counter": int(m.counter), "buffer": m.buffer.detach().clone(), "value": m.value.detach().clone()}
            for n, m in _runtime_stats_modules(model).items()}


@torch.no_grad()
def restore_runtime_stats(model: nn.Module, saved: dict) -> None:
    """Put back what ``runtime_stats`` saved, after ``load_state_dict``."""
    modules = _runtime_stats_modules(model)
    for name, s in saved.items():
        m = modules[name]
        m.counter = s["counter"]
        m.buffer.copy_(s["buffer"])
        m.value.copy_(s["value"])


def fit(
    name: str,
    model: nn.Module,
    prepared: Prepared,
    cfg: MLPConfig,
    val: tuple[np.ndarray, np.ndarray],
    *,
    seed: int,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train ``model`` on the training split of ``prepared``; returns with the best weights loaded.

    ``val`` is the scaled validation split (features, labels) that drives the LR schedule and
    early stopping.

    ``on_batch(epoch, batch)`` is called after every optimizer step (tests use it to interrupt).
    """
    from trigdeploy.train import distributed as ddp

    ctx = ddp.context()
    x_all, y_all = prepared.open_cache()
    all_train = prepared.rows("train")
    train_rows = ddp.shard(all_train, ctx)
    x_val, y_val = val
    n_sig = int(y_all[all_train].sum())
    pos_weight = balance_weight(cfg.pos_weight, len(all_train), n_sig)
    model.to(device)
    net = model
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight], device=device))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience)
    amp = device.type == "cuda"
    result = FitResult(pos_weight=float(pos_weight))
    start_epoch, start_batch, best_state, bad_epochs, elapsed = 0, 0, None, 0, 0.0
    if resume and checkpoint.exists():
        ck = torch.load(checkpoint, map_location=device, weights_only=True)  # never unpickles code
        model.load_state_dict(ck["model"])
        restore_runtime_stats(model, ck["runtime_stats"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, start_batch = ck["epoch"], ck["batch"]
        best_state, bad_epochs, elapsed = ck["best_state"], ck["bad_epochs"], ck["elapsed"]
        result.history, result.best_epoch, result.best_val_auc = ck["history"], ck["best_epoch"], ck["best_val_auc"]
        result.rows_seen = ck["rows_seen"]
        result.resumed_from = {"epoch": start_epoch, "batch": start_batch}

    def save(epoch: int, batch: int) -> None:
        if not ctx.main:
            return
        with atomic_path(checkpoint) as tmp:
            torch.save({
                "model": model.state_dict(), "runtime_stats": runtime_stats(model), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(), "epoch": epoch, "batch": batch, "best_state": best_state,
                "bad_epochs": bad_epochs, "elapsed": elapsed + time.perf_counter() - t0, "history": result.history,
                "best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc, "rows_seen": result.rows_seen,
            }, tmp)

    resident = _resident(prepared, x_all, y_all, train_rows, cfg, device)
    sync_steps = ddp.stats_steps(model) + 1 if ctx.enabled else 0
    t0 = time.perf_counter()
    total = ddp.all_min(ctx, n_batches(len(train_rows), cfg))
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t_epoch, loss_n, rows_epoch = time.perf_counter(), 0, 0
        loss_acc = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync per step
        first = start_batch if epoch == start_epoch else 0
        bar = tqdm(total=total, initial=first, unit="batch", desc=f"{name} epoch {epoch + 1}/{cfg.epochs}",
                   disable=not progress, leave=False, mininterval=0.1 if sys.stderr.isatty() else 10.0)
        for b, rows in enumerate(epoch_batches(train_rows, cfg, seed, epoch)):
            if b >= total:
                break
            if b < first:
                continue
            if resident is not None:
                idx = torch.from_numpy(np.searchsorted(train_rows, rows)).to(device, non_blocking=True)
                xb, yb = resident[0][idx], resident[1][idx]
            else:
                xb = torch.from_numpy(prepared.scaler.transform(x_all[np.sort(rows)][np.argsort(np.argsort(rows))]))
                yb = torch.from_numpy(np.asarray(y_all[rows], np.float32))[:, None]
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(net(xb).float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if epoch * total + b < sync_steps:
                ddp.sync_from_rank0(ctx, model)
            loss_acc += loss.detach().double() * len(rows)
            loss_n += len(rows)
            rows_epoch += len(rows)
            result.rows_seen += len(rows)
            if progress:
                bar.update(1)
            if progress and b % 25 == 0:  # reading the loss waits for the device: not every step
                bar.set_postfix(loss=f"{float(loss_acc) / loss_n:.4f}",
                                rows_s=f"{rows_epoch / max(time.perf_counter() - t_epoch, 1e-9):,.0f}",
                                refresh=False)
            if (b + 1) % cfg.checkpoint_every == 0:
                save(epoch, b + 1)
            if on_batch is not None:
                on_batch(epoch, b)
        bar.close()
        loss_sum, loss_n, rows_epoch = ddp.all_sum(ctx, float(loss_acc), loss_n, rows_epoch)
        scores = ddp.gather_strided(ctx, predict(model, x_val[ctx.rank:: ctx.world], device), len(x_val))
        val_auc = roc_auc(y_val, scores)
        sched.step(val_auc)
        seconds = time.perf_counter() - t_epoch
        result.history.append({
            "epoch": epoch + 1, "train_loss": loss_sum / max(loss_n, 1), "val_auc": val_auc,
            "lr": opt.param_groups[0]["lr"], "rows": rows_epoch, "seconds": seconds,
            "rows_per_s": rows_epoch / max(seconds, 1e-9),
        })
        if val_auc > result.best_val_auc or result.best_epoch < 0:
            result.best_val_auc, result.best_epoch, best_state, bad_epochs = val_auc, epoch + 1, _state(model), 0
        else:
            bad_epochs += 1
        if progress:
            logger.info(f"{name} epoch {epoch + 1}: loss {result.history[-1]['train_loss']:.4f} val AUC {val_auc:.5f} "
                       f"({result.history[-1]['rows_per_s']:,.0f} rows/s)")
        save(epoch + 1, 0)
        if bad_epochs >= cfg.early_stopping_patience:
            break
    result.seconds = elapsed + time.perf_counter() - t0
    model.load_state_dict(best_state)
    if ctx.enabled:
        hashes = ddp.gather_objects(ctx, ddp.weights_hash(model))
        shards = ddp.gather_objects(ctx, int(len(train_rows)))
        if len(set(hashes)) != 1:
            raise RuntimeError(f"{name}: DDP ranks finished with different weights ({hashes})")
        result.distributed = {"world_size": ctx.world, "backend": "nccl" if device.type == "cuda" else "gloo",
                              "train_rows_per_rank": shards, "steps_per_epoch": total,
                              "global_batch": ctx.world * cfg.batch_size, "weights_sha256": hashes[0],
                              "identical_weights_on_all_ranks": True}
    return result
