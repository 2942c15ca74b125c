"""Multi-process training with ``torch.distributed`` (DDP), launched by ``torchrun``.

``trigdeploy train --config C`` is unchanged under ``torchrun``; the launcher's environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) turns it on:

* backend ``nccl`` when training on GPUs (one per local rank), ``gloo`` on CPU;
* rank 0 runs the data stage (building the feature cache once), the others wait for it and
  open the cache read-only: the run directory must be on storage every node sees;
* each rank trains on its own disjoint shard of the training rows (``shard``: the rows cut into
  ``world × CHUNKS_PER_RANK`` contiguous chunks, dealt round-robin), streamed from the cache;
  validation and test splits are the same on every rank; every rank takes the same number of
  optimizer steps per epoch (the smallest shard's), so DDP's gradient all-reduce never waits
  for a rank that has finished;
* ``batch_size`` is per process: the global batch is ``world × batch_size``;
* training loss, row counts and validation predictions are reduced across ranks, so the
  learning-rate schedule and early stopping take the same decision everywhere; after training,
  the ranks compare a hash of their weights and stop with an error if they differ;
* only rank 0 writes checkpoints and the run directory; tree models train on rank 0 only;
* QAT: Brevitas quantizers that set their scale from runtime statistics would start from each
  rank's own batches; rank 0's state is copied to all ranks until that initialisation is done
  (``stats_steps``);
* a process that joined a job ends without the interpreter's shutdown (``end_process``, called by
  the CLI): torch 2.13's gloo worker threads outlive ``destroy_process_group`` once a DDP model was
  built (its C++ reducer keeps the process group), and one of them may free a finished
  collective's tensors while the interpreter shuts down; that needs the GIL, which a shutting-down
  interpreter refuses by ending the thread, and ending it inside a C++ destructor is
  ``std::terminate`` (SIGABRT: "terminate called without an active exception", after every file
  was written; measured in 2 of 24 launches on a loaded 2-core machine).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import sys
from dataclasses import dataclass

import numpy as np

from trigdeploy.errors import TrigdeployError

CHUNKS_PER_RANK = 8
TIMEOUT = datetime.timedelta(hours=6)  # the other ranks wait for rank 0's data stage
_joined: list[bool] = []  # one entry once this process joined a process group (see end_process)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Is this rank 0 (the one that writes)?"""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Is this a DDP run (more than one rank)?"""
        return self.world > 1


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    text = os.environ.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise TrigdeployError(
            f"environment variable {name}={text[:40]!r}: expected an integer from {lo} to {hi} "
            "(torchrun sets it; unset it to train in one process)"
        )
    return value


def context() -> Context:
    """This process's place in the job, from torchrun's environment (a single process without it).
    Checked before anything is written: a ``WORLD_SIZE``/``RANK`` left in the environment without
    torchrun's rendezvous (``MASTER_ADDR``, ``MASTER_PORT``) is one line, not a hang or a traceback."""
    world = _env_int("WORLD_SIZE", 1, 1, 65536)
    rank = _env_int("RANK", 0, 0, world - 1)
    local = _env_int("LOCAL_RANK", 0, 0, world - 1)
    if world > 1:
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise TrigdeployError(
                f"WORLD_SIZE={world} is set but {' and '.join(missing)} not: start the job with "
                "torchrun, or unset WORLD_SIZE and RANK to train in one process"
            )
        _env_int("MASTER_PORT", 0, 1, 65535)
    return Context(rank, world, local)


def init(ctx: Context, device) -> None:
    """Join the process group (``nccl`` for CUDA devices, ``gloo`` otherwise)."""
    import torch.distributed as dist

    if ctx.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        _joined.append(True)


def finish(ctx: Context) -> None:
    """End the process group (after a last barrier) where one was started."""
    import torch.distributed as dist

    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def end_process(status: int) -> None:
    """End this process with ``status`` now, its output flushed, if it joined a process group
    (``init``); return otherwise. Skips the interpreter's shutdown, where the backend's worker
    threads, still running, can abort the process (the module's docstring): every file of the
    run is written and closed before ``finish`` returns, and nothing is left for shutdown to do."""
    if not _joined:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def barrier(ctx: Context) -> None:
    """Wait for every rank (nothing without DDP)."""
    import torch.distributed as dist

    if ctx.enabled:
        dist.barrier()


def shard(rows: np.ndarray, ctx: Context) -> np.ndarray:
    """This rank's disjoint share of ``rows``: contiguous chunks dealt round-robin (all ranks together cover every row)."""
    if not ctx.enabled:
        return rows
    chunks = np.array_split(rows, ctx.world * CHUNKS_PER_RANK)
    return np.concatenate(chunks[ctx.rank :: ctx.world])


def all_min(ctx: Context, value: int) -> int:
    """The smallest ``value`` over the ranks."""
    import torch
    import torch.distributed as dist

    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def all_sum(ctx: Context, *values: float) -> list[float]:
    """Each of ``values`` summed over the ranks."""
    import torch
    import torch.distributed as dist

    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def gather_strided(ctx: Context, part: np.ndarray, n: int) -> np.ndarray:
    """Reassemble an array whose rank r computed elements r, r + world, … (rank-strided split)."""
    if not ctx.enabled:
        return part
    part = np.asarray(part)
    out = np.empty((n, *part.shape[1:]), dtype=part.dtype)
    for r, p in enumerate(gather_objects(ctx, np.asarray(part))):
        out[r :: ctx.world] = p
    return out


def weights_hash(model) -> str:
    """SHA-256 of the model's state, tensor by tensor in name order."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_objects(ctx: Context, obj) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` without DDP)."""
    import torch.distributed as dist

    if not ctx.enabled:
        return [obj]
    out: list = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def sync_from_rank0(ctx: Context, model) -> None:
    """Copy rank 0's parameters and buffers to every rank (in place)."""
    import torch.distributed as dist

    if not ctx.enabled:
        return
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=0)


def stats_steps(model) -> int:
    """Training steps during which Brevitas quantizers initialise their scale from runtime statistics.

    Those statistics come from each rank's own batches, so the scales would start different on
    every rank (DDP keeps parameters equal only through averaged gradients). ``fit`` copies rank
    0's state to all ranks after each of these steps and the one that initialises the scale.
    """
    return max((int(getattr(m, "collect_stats_steps", 0)) for m in model.modules()), default=0)
