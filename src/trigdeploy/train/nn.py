"""Training loop for the float and QAT MLPs, streaming from the run's feature cache.

Batches come from the memory-mapped cache in shuffled blocks: each epoch permutes the blocks
of ``shuffle_block_rows`` training rows and the rows inside each block, from a generator seeded
by (seed, epoch), so memory stays at one block while small splits are fully shuffled. AdamW,
``BCEWithLogitsLoss`` with ``pos_weight`` (default n_background / n_signal on the training
rows), or for K classes softmax cross-entropy with balanced class weights, ReduceLROnPlateau and
early stopping on the validation AUC (K classes: the mean one-vs-rest AUC), the best epoch's
weights kept.

Checkpoints (every ``checkpoint_every`` batches and at each epoch end) hold the model, optimizer,
scheduler, torch RNG state, epoch and batch position, so that a killed run resumed with
``resume=True`` replays exactly what the uninterrupted run would have done.
"""

from __future__ import annotations

import dataclasses
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
from trigdeploy.data.cache import Prepared
from trigdeploy.io import atomic_path
from trigdeploy.models.families import torch_predict
from trigdeploy.models.protocols import Calibrated, Costed, TrainingHooks
from trigdeploy.train.epochs import EpochPoint, epoch_rule, selection_record
from trigdeploy.train.metrics import auc_any, balance_weight, class_weights

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_val_auc: float = float("nan")
    rows_seen: int = 0
    seconds: float = 0.0
    pos_weight: float = 1.0
    class_weights: list[float] | None = None  # K classes: the cross-entropy's weights
    resumed_from: dict | None = None
    distributed: dict | None = None
    epoch_selection: dict | None = None  # a front-selected model: the rule, the epoch front, the choice


def epoch_batches(rows: np.ndarray, cfg: MLPConfig, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """Global row indices of every batch of one epoch (block shuffle, deterministic)."""
    rng = np.random.default_rng([seed, epoch])
    blocks = [rows[i : i + cfg.shuffle_block_rows] for i in range(0, len(rows), cfg.shuffle_block_rows)]
    for b in rng.permutation(len(blocks)):
        block = blocks[b][rng.permutation(len(blocks[b]))]
        for i in range(0, len(block), cfg.batch_size):
            yield block[i : i + cfg.batch_size]


def n_batches(n_rows: int, cfg: MLPConfig) -> int:
    """Batches per epoch over ``n_rows`` rows (shuffled in blocks; each block's last batch may be short)."""
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
        x[i : i + step] = torch.from_numpy(prepared.scaler.transform(np.asarray(x_all[rows[i : i + step]])))
    return x, _targets(np.asarray(y_all[rows]), prepared.n_outputs).to(device)


def _targets(y: np.ndarray, n_outputs: int) -> torch.Tensor:
    """What the loss compares with: ``(n, 1)`` float 0/1 for one logit, ``(n,)`` class indices for K."""
    return (
        torch.from_numpy(np.asarray(y, np.float32))[:, None]
        if n_outputs == 1
        else torch.from_numpy(np.asarray(y, np.int64))
    )


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
    return {
        n: {"counter": int(m.counter), "buffer": m.buffer.detach().clone(), "value": m.value.detach().clone()}
        for n, m in _runtime_stats_modules(model).items()
    }


@torch.no_grad()
def restore_runtime_stats(model: nn.Module, saved: dict) -> None:
    """Put back what ``runtime_stats`` saved, after ``load_state_dict``."""
    modules = _runtime_stats_modules(model)
    for name, s in saved.items():
        m = modules[name]
        m.counter = s["counter"]
        m.buffer.copy_(s["buffer"])
        m.value.copy_(s["value"])


class BatchSource:
    """This rank's training batches: gathered and scaled from the memory-mapped cache, or indexed from
    the scaled rows kept on the GPU (``_resident``); the same batches in the same order either way."""

    def __init__(self, prepared: Prepared, rows: np.ndarray, cfg: MLPConfig, device: torch.device):
        self.prepared, self.rows, self.cfg, self.device = prepared, rows, cfg, device
        self.x_all, self.y_all = prepared.open_cache()
        self.resident = _resident(prepared, self.x_all, self.y_all, rows, cfg, device)

    def epoch(self, seed: int, epoch: int) -> Iterator[np.ndarray]:
        """This epoch's batches (row numbers), shuffled by ``seed`` and ``epoch``."""
        return epoch_batches(self.rows, self.cfg, seed, epoch)

    def tensors(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled features and targets of ``rows`` on the device."""
        if self.resident is not None:
            idx = torch.from_numpy(np.searchsorted(self.rows, rows)).to(self.device, non_blocking=True)
            return self.resident[0][idx], self.resident[1][idx]
        x = self.prepared.scaler.transform(self.x_all[np.sort(rows)][np.argsort(np.argsort(rows))])
        y = _targets(np.asarray(self.y_all[rows]), self.prepared.n_outputs)
        return (torch.from_numpy(x).to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))


@dataclass
class _Progress:
    """Where training stands: what a checkpoint restores besides the modules' own state."""

    epoch: int = 0
    batch: int = 0
    best_state: dict | None = None
    bad_epochs: int = 0
    elapsed: float = 0.0
    front: dict = field(default_factory=dict)  # epoch → weights of the epochs on the (AUC, cost) front


class Checkpoint:
    """The model, optimizer, scheduler, Brevitas' statistics, torch RNG and training progress in one
    file (rank 0 writes it), so that a resumed run replays exactly what the killed one would have."""

    def __init__(self, path: Path, model: nn.Module, opt, sched, main: bool):
        self.path, self.model, self.opt, self.sched, self.main = path, model, opt, sched, main

    def save(self, result: FitResult, at: _Progress, elapsed: float) -> None:
        """Rank 0: model, optimizer, scheduler, progress and results so far, written atomically."""
        if not self.main:
            return
        with atomic_path(self.path) as tmp:
            torch.save(
                {
                    "model": self.model.state_dict(),
                    "runtime_stats": runtime_stats(self.model),
                    "optimizer": self.opt.state_dict(),
                    "scheduler": self.sched.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "epoch": at.epoch,
                    "batch": at.batch,
                    "best_state": at.best_state,
                    "front_states": at.front,
                    "epoch_selection": result.epoch_selection,
                    "bad_epochs": at.bad_epochs,
                    "elapsed": elapsed,
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "best_val_auc": result.best_val_auc,
                    "rows_seen": result.rows_seen,
                },
                tmp,
            )

    def load(self, result: FitResult, device: torch.device) -> _Progress:
        """Restore a run from the checkpoint (no pickled code is read); where to resume."""
        ck = torch.load(self.path, map_location=device, weights_only=True)  # never unpickles code
        self.model.load_state_dict(ck["model"])
        restore_runtime_stats(self.model, ck["runtime_stats"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        result.history, result.best_epoch, result.best_val_auc = ck["history"], ck["best_epoch"], ck["best_val_auc"]
        result.rows_seen, result.epoch_selection = ck["rows_seen"], ck["epoch_selection"]
        result.resumed_from = {"epoch": ck["epoch"], "batch": ck["batch"]}
        return _Progress(
            ck["epoch"], ck["batch"], ck["best_state"], ck["bad_epochs"], ck["elapsed"], ck["front_states"]
        )


@dataclass
class _Step:
    """One optimizer step's machinery."""

    model: nn.Module
    net: nn.Module  # the model, or its DDP wrapper
    loss_fn: nn.Module
    opt: torch.optim.Optimizer
    amp: bool
    sync_steps: int  # under DDP: steps after which rank 0's state is copied (Brevitas' statistics)
    regularizer: Callable[[], torch.Tensor] | None = None  # the model's own loss term, if it has one
    after_step: Callable[[], None] | None = None  # the model's own update after each step (bit ranges)


@dataclasses.dataclass
class _Loop:
    """What every epoch of one ``fit`` shares."""

    name: str
    total: int  # batches per epoch (the smallest shard's, under DDP)
    source: BatchSource
    step: _Step
    ctx: object
    seed: int
    cfg: MLPConfig
    result: FitResult
    save: Callable[[int, int], None]
    progress: bool
    on_batch: Callable[[int, int], None] | None
    selection: tuple | None  # the epoch rule, window, val class counts, noise sigmas (train.epochs); None: best AUC


def _train_step(step: _Step, xb: torch.Tensor, yb: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One optimizer step on a batch (and the model's own update after it); the batch's loss, on the device."""
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=step.amp):
        loss = step.loss_fn(step.net(xb).float(), yb)
    if step.regularizer is not None:  # a resource-aware model's cost term (beta · EBOPs)
        loss = loss + step.regularizer()
    step.opt.zero_grad(set_to_none=True)
    loss.backward()
    step.opt.step()
    if step.after_step is not None:
        step.after_step()
    return loss


def _one_epoch(loop: _Loop, epoch: int, first: int) -> tuple[torch.Tensor, int, int]:
    """Batches ``first`` … ``loop.total - 1`` of one epoch; returns (summed loss on the device, rows, rows)."""
    from trigdeploy.train import distributed as ddp

    step, source, cfg, total = loop.step, loop.source, loop.cfg, loop.total
    step.model.train()
    t_epoch, loss_n, rows_epoch = time.perf_counter(), 0, 0
    loss_acc = torch.zeros((), dtype=torch.float64, device=source.device)  # summed on the device: no sync per step
    bar = tqdm(
        total=total,
        initial=first,
        unit="batch",
        desc=f"{loop.name} epoch {epoch + 1}/{cfg.epochs}",
        disable=not loop.progress,
        leave=False,
        mininterval=0.1 if sys.stderr.isatty() else 10.0,
    )
    for b, rows in enumerate(source.epoch(loop.seed, epoch)):
        if b >= total:
            break
        if b < first:
            continue
        loss = _train_step(step, *source.tensors(rows), source.device)
        if epoch * total + b < step.sync_steps:
            ddp.sync_from_rank0(loop.ctx, step.model)
        loss_acc += loss.detach().double() * len(rows)
        loss_n += len(rows)
        rows_epoch += len(rows)
        loop.result.rows_seen += len(rows)
        bar.update(1)
        if loop.progress and b % 25 == 0:  # reading the loss waits for the device: not every step
            bar.set_postfix(
                loss=f"{float(loss_acc) / loss_n:.4f}",
                rows_s=f"{rows_epoch / max(time.perf_counter() - t_epoch, 1e-9):,.0f}",
                refresh=False,
            )
        if (b + 1) % cfg.checkpoint_every == 0:
            loop.save(epoch, b + 1)
        if loop.on_batch is not None:
            loop.on_batch(epoch, b)
    bar.close()
    return loss_acc, loss_n, rows_epoch


def calibrate(model: nn.Module, prepared: Prepared) -> None:
    """A fixed-point model's integer bits from its ``calibration_rows`` training rows, spread over the
    split and scaled as the model sees them; models without ``calibrate`` are left as they are."""
    if not isinstance(model, Calibrated):
        return
    rows = prepared.rows("train")
    rows = rows[np.linspace(0, len(rows) - 1, min(model.calibration_rows, len(rows))).astype(int)]
    x_all, _ = prepared.open_cache()
    model.calibrate(torch.from_numpy(prepared.scaler.transform(np.asarray(x_all[rows]))))


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
    all_train = prepared.rows("train")
    source = BatchSource(prepared, ddp.shard(all_train, ctx), cfg, device)
    loss_fn, pos_weight, weights = _loss(source, all_train, len(prepared.classes), cfg, device)
    step = _step(model, loss_fn, cfg, ctx, device)
    opt = step.opt
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience)
    result = FitResult(pos_weight=float(pos_weight), class_weights=None if weights is None else weights.tolist())
    ckpt = Checkpoint(checkpoint, model, opt, sched, ctx.main)
    at = ckpt.load(result, device) if resume and checkpoint.exists() else _Progress()
    t0 = time.perf_counter()

    def save(epoch: int, batch: int) -> None:
        ckpt.save(result, dataclasses.replace(at, epoch=epoch, batch=batch), at.elapsed + time.perf_counter() - t0)

    total = ddp.all_min(ctx, n_batches(len(source.rows), cfg))
    start_epoch, start_batch = at.epoch, at.batch
    selection = epoch_rule(cfg, val[1]) if isinstance(model, Costed) else None
    loop = _Loop(name, total, source, step, ctx, seed, cfg, result, save, progress, on_batch, selection)
    for epoch in range(start_epoch, cfg.epochs):
        t_epoch = time.perf_counter()
        loss_acc, loss_n, rows_epoch = _one_epoch(loop, epoch, start_batch if epoch == start_epoch else 0)
        loss_sum, loss_n, rows_epoch = ddp.all_sum(ctx, float(loss_acc), loss_n, rows_epoch)
        val_auc = _validate(model, val, ctx, device)
        sched.step(val_auc)
        seconds = time.perf_counter() - t_epoch
        lr = opt.param_groups[0]["lr"]
        _end_epoch(loop, model, at, epoch, (val_auc, lr), (loss_sum, loss_n, rows_epoch, seconds))
        save(epoch + 1, 0)
        if at.bad_epochs >= cfg.early_stopping_patience:
            break
    result.seconds = at.elapsed + time.perf_counter() - t0
    model.load_state_dict(at.best_state)
    if ctx.enabled:
        result.distributed = _ranks_agree(name, model, ctx, device, len(source.rows), total, cfg)
    return result


def _validate(model: nn.Module, val: tuple[np.ndarray, np.ndarray], ctx, device: torch.device) -> float:
    """The validation AUC (K classes: the mean one-vs-rest AUC), each rank scoring every ``world``-th row."""
    from trigdeploy.train import distributed as ddp

    x_val, y_val = val
    scores = ddp.gather_strided(ctx, torch_predict(model, x_val[ctx.rank :: ctx.world], device), len(x_val))
    return auc_any(y_val, scores)


def _step(model: nn.Module, loss_fn: nn.Module, cfg: MLPConfig, ctx, device: torch.device) -> _Step:
    """The model on ``device`` (wrapped for DDP under torchrun), AdamW on its parameter groups, and its hooks."""
    from trigdeploy.train import distributed as ddp

    model.to(device)
    net = model
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    hooks = isinstance(model, TrainingHooks)
    groups = model.param_groups(cfg) if hooks else model.parameters()
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return _Step(
        model,
        net,
        loss_fn,
        opt,
        device.type == "cuda",
        ddp.stats_steps(model) + 1 if ctx.enabled else 0,
        model.regularizer if hooks else None,
        model.after_step if hooks else None,
    )


def _loss(
    source: BatchSource, all_train: np.ndarray, n_classes: int, cfg: MLPConfig, device: torch.device
) -> tuple[nn.Module, float, np.ndarray | None]:
    """The training loss, the positive-class weight and the class weights: two classes, BCE on the logit with
    ``pos_weight``; K classes, softmax cross-entropy, each class weighted n / (K · n_c) on the training rows."""
    if n_classes == 2:
        pos_weight = balance_weight(cfg.pos_weight, len(all_train), int(source.y_all[all_train].sum()))
        return nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight], device=device)), pos_weight, None
    weights = class_weights(np.asarray(source.y_all[all_train]), n_classes)
    return nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device)), 1.0, weights


def _end_epoch(loop: _Loop, model: nn.Module, at: _Progress, epoch: int, figures: tuple, sums: tuple) -> None:
    """An epoch's history entry (with a resource-aware model's cost) and its log line, the weights kept so far
    (by the loop's epoch rule), patience. ``figures``: the validation AUC and the learning rate; ``sums``: the
    summed training loss, the rows it sums over, the rows seen, the epoch's seconds."""
    result, name = loop.result, loop.name
    val_auc, lr = figures
    loss_sum, loss_n, rows_epoch, seconds = sums
    result.history.append(
        {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(loss_n, 1),
            "val_auc": val_auc,
            "lr": lr,
            "rows": rows_epoch,
            "seconds": seconds,
            "rows_per_s": rows_epoch / max(seconds, 1e-9),
        }
    )
    if isinstance(model, Costed):  # a resource-aware model: its cost at this epoch
        result.history[-1]["ebops"] = float(model.ebops().detach())
    _select(model, (result, at), epoch, val_auc, loop.selection)
    logger.info(
        f"{name} epoch {epoch + 1}: loss {result.history[-1]['train_loss']:.4f} val AUC {val_auc:.5f} "
        f"({result.history[-1]['rows_per_s']:,.0f} rows/s)"
    )


def _select(model: nn.Module, state: tuple[FitResult, _Progress], epoch: int, val_auc: float, selection) -> None:
    """Keep the weights of the epoch the rule chooses (``train.epochs``; None: the best validation AUC); patience
    counts the epochs that did not change the choice."""
    result, at = state
    if selection is None:
        if val_auc > result.best_val_auc or result.best_epoch < 0:
            result.best_val_auc, result.best_epoch, at.best_state, at.bad_epochs = val_auc, epoch + 1, _state(model), 0
        else:
            at.bad_epochs += 1
        return
    points = [EpochPoint(h["epoch"], h["val_auc"], h["ebops"]) for h in result.history]
    record = selection_record(points, *selection)
    front = {f["epoch"] for f in record["front"]}
    if epoch + 1 in front:
        at.front[epoch + 1] = _state(model)
    at.front = {e: s for e, s in at.front.items() if e in front}
    chosen = record["chosen_epoch"]
    at.bad_epochs = 0 if chosen != result.best_epoch else at.bad_epochs + 1
    auc = next(p.val_auc for p in points if p.epoch == chosen)
    result.best_epoch, result.best_val_auc, at.best_state = chosen, auc, at.front[chosen]
    result.epoch_selection = record


def _ranks_agree(
    name: str, model: nn.Module, ctx, device: torch.device, n_rows: int, total: int, cfg: MLPConfig
) -> dict:
    """Under DDP: every rank finished with the same weights (else ``RuntimeError``); what the run records of it."""
    from trigdeploy.train import distributed as ddp

    hashes = ddp.gather_objects(ctx, ddp.weights_hash(model))
    shards = ddp.gather_objects(ctx, int(n_rows))
    if len(set(hashes)) != 1:
        raise RuntimeError(f"{name}: DDP ranks finished with different weights ({hashes})")
    return {
        "world_size": ctx.world,
        "backend": "nccl" if device.type == "cuda" else "gloo",
        "train_rows_per_rank": shards,
        "steps_per_epoch": total,
        "global_batch": ctx.world * cfg.batch_size,
        "weights_sha256": hashes[0],
        "identical_weights_on_all_ranks": True,
    }
