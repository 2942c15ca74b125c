"""CPU latency and throughput: ONNX Runtime and each model family's own engine, measured in one process.

Single-event latency: one event per call, ``blocks`` blocks of ``block`` calls after ``warmup``
calls, each call timed with ``perf_counter_ns``, in µs; the engines take turns block by block. Reported: p50/p99/mean over all calls and
the median of each block. Shared VMs switch between speed states for seconds at a time (here the
same ORT call takes ≈4.2 µs in one and ≈6.5 µs in the other), so the pooled p50 depends on which
state the run caught; the lowest block median (``p50_quiet_us``) is the figure that is stable
between runs, the way ``timeit`` reports the best repeat. Both are kept. Throughput: events/s at
batch sizes 1, 64 and 4096 (best of three passes). Every engine runs on one thread and the
process is pinned to one core while measuring (stated in the result), so that the figures compare
engines, not schedulers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable

import numpy as np

BATCHES = (1, 64, 4096)
# how long a measurement runs: warm-up calls, blocks of single-event calls, events per throughput pass
# (the test suite shortens them: it checks what the figures are and how they relate, not their precision)
WARMUP, BLOCKS, BLOCK = 200, 10, 1000
MIN_EVENTS = 20_000


@contextlib.contextmanager
def pinned(core: int | None):
    """Pin this process to one core for the measurement (restored afterwards)."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)


def _timed_block(fn: Callable[[np.ndarray], object], x: np.ndarray, start: int, calls: int) -> np.ndarray:
    n = len(x)
    times = np.empty(calls)
    for i in range(calls):
        row = x[(start + i) % n : (start + i) % n + 1]
        t0 = time.perf_counter_ns()
        fn(row)
        times[i] = time.perf_counter_ns() - t0
    return times / 1e3


def single_event(
    fns: dict[str, Callable[[np.ndarray], object]],
    x: np.ndarray,
    warmup: int | None = None,
    blocks: int | None = None,
    block: int | None = None,
) -> dict[str, dict]:
    """Latency (µs) of each ``fn`` on one event at a time: pooled p50/p99/mean and per-block medians.

    The engines take turns block by block, so each one's blocks are spread over the whole
    measurement and every engine sees the same mix of the VM's speed states."""
    n = len(x)
    warmup, blocks, block = (
        WARMUP if warmup is None else warmup,
        BLOCKS if blocks is None else blocks,
        BLOCK if block is None else block,
    )
    for fn in fns.values():
        for i in range(warmup):
            fn(x[i % n : i % n + 1])
    times = {name: [] for name in fns}
    for b in range(blocks):
        for name, fn in fns.items():
            times[name].append(_timed_block(fn, x, b * block, block))
    out = {}
    for name, t in times.items():
        t = np.stack(t)
        block_p50 = np.median(t, axis=1)
        out[name] = {
            "p50_us": float(np.percentile(t, 50)),
            "p99_us": float(np.percentile(t, 99)),
            "mean_us": float(t.mean()),
            "p50_quiet_us": float(block_p50.min()),
            "block_p50_us": [float(v) for v in block_p50],
            "calls": t.size,
            "warmup": warmup,
        }
    return out


def throughput(fn: Callable[[np.ndarray], object], x: np.ndarray, batch: int, min_events: int | None = None) -> float:
    """Events/s of ``fn`` called on consecutive batches (best of three passes over ≥ ``min_events``, default
    ``MIN_EVENTS``)."""
    n = max(MIN_EVENTS if min_events is None else min_events, batch)
    idx = np.arange(n) % len(x)
    data = np.ascontiguousarray(x[idx])
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for s in range(0, n - batch + 1, batch):
            fn(data[s : s + batch])
        best = min(best, time.perf_counter() - t0)
    return (n // batch) * batch / best


class OrtEngine:
    """ONNX Runtime on one thread. Single events go through a pre-bound input/output buffer
    (``IOBinding``), which is how a latency-critical caller drives ORT: it saves the per-call
    allocation and name lookup of ``InferenceSession.run``. Batches use ``run``."""

    def __init__(self, path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.name, self.out = self.sess.get_inputs()[0].name, self.sess.get_outputs()[0].name
        n_in = self.sess.get_inputs()[0].shape[1]
        n_out = self.sess.get_outputs()[0].shape[1]
        self._in = np.zeros((1, n_in), np.float32)
        self._y = np.zeros((1, n_out), np.float32)
        self._binding = self.sess.io_binding()
        self._binding.bind_input(self.name, "cpu", 0, np.float32, list(self._in.shape), self._in.ctypes.data)
        self._binding.bind_output(self.out, "cpu", 0, np.float32, list(self._y.shape), self._y.ctypes.data)

        # the pybind session's own run: the public wrapper adds ~0.5 µs of WebGPU graph-capture
        # checks per call (onnxruntime 1.32), a tenth of the whole single-event budget
        native = getattr(self.sess, "_sess", None)
        self._run = (
            functools.partial(native.run_with_iobinding, self._binding._iobinding, None)
            if hasattr(native, "run_with_iobinding") and hasattr(self._binding, "_iobinding")
            else functools.partial(self.sess.run_with_iobinding, self._binding)
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 1:
            self._in[...] = batch
            self._run()
            return self._y.copy()
        return self.sess.run([self.out], {self.name: batch})[0]


def engines(run_dir, export_dir, x: np.ndarray) -> dict[str, Callable[[np.ndarray], object]]:
    """Single-threaded predict functions of the run's CPU forms: each kind's own family engine where its
    family has one for it (``models.families``: PyTorch eager for the kinds with an ONNX form, XGBoost's
    ``inplace_predict``, scikit-learn's ``predict_proba``), and ONNX Runtime for each exported ONNX model."""
    import torch

    from trigdeploy.models import registry
    from trigdeploy.models.families import family_of

    out = {}
    torch.set_num_threads(1)
    for kind in registry.KINDS.values():
        artifact = run_dir / kind.artifact
        if not artifact.is_file():
            continue
        fam = family_of(kind)
        if not fam.on_cpu(kind):
            continue
        label, fn = fam.engine(fam.load(artifact))
        out[f"{kind.name}: {label}"] = fn
        if "onnx" in kind.forms and (export_dir / f"{kind.name}.onnx").is_file():
            out[f"{kind.name}: ONNX Runtime"] = OrtEngine(export_dir / f"{kind.name}.onnx")
    return out


def measure(run_dir, export_dir, x: np.ndarray, core: int | None = 0) -> dict:
    """All engines, single-event latency and batch throughput, in one process."""
    x = np.ascontiguousarray(x, np.float32)
    fns = engines(run_dir, export_dir, x)
    out: dict = {"threads_per_engine": 1, "pinned_core": core, "engines": {}}
    with pinned(core):
        single = single_event(fns, x)
        for name, fn in fns.items():
            out["engines"][name] = {
                "single_event": single[name],
                "events_per_s": {str(b): throughput(fn, x, b) for b in BATCHES},
            }
    e = out["engines"]
    both = [
        n[: -len(": ONNX Runtime")]
        for n in e
        if n.endswith(": ONNX Runtime") and n.replace(": ONNX Runtime", ": PyTorch eager") in e
    ]
    if both:  # the first model with both engines (the trigger MLP where the run has one)
        ort_s, torch_s = e[f"{both[0]}: ONNX Runtime"]["single_event"], e[f"{both[0]}: PyTorch eager"]["single_event"]
        out["ort_speedup_vs_torch_batch1"] = torch_s["p50_us"] / ort_s["p50_us"]
        out["ort_speedup_vs_torch_batch1_quiet"] = torch_s["p50_quiet_us"] / ort_s["p50_quiet_us"]
    return out
