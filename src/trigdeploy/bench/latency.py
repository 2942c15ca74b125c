"""CPU latency and throughput: ONNX Runtime, PyTorch eager and XGBoost, measured in one process.

Single-event latency: one event per call, ``repeat`` calls after ``warmup`` calls, each call
timed with ``perf_counter_ns``, p50/p99 in µs. Throughput: events/s at batch sizes 1, 64 and
4096 (best of three passes). Every engine runs on one thread and the process is pinned to one
core while measuring (stated in the result), so that the figures compare engines, not
schedulers.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable

import numpy as np

BATCHES = (1, 64, 4096)


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


def single_event(fn: Callable[[np.ndarray], object], x: np.ndarray, warmup: int = 200, repeat: int = 2000) -> dict:
    """p50/p99/mean latency (µs) of ``fn`` on one event at a time."""
    n = len(x)
    for i in range(warmup):
        fn(x[i % n: i % n + 1])
    times = np.empty(repeat)
    for i in range(repeat):
        row = x[i % n: i % n + 1]
        t0 = time.perf_counter_ns()
        fn(row)
        times[i] = time.perf_counter_ns() - t0
    times /= 1e3
    return {"p50_us": float(np.percentile(times, 50)), "p99_us": float(np.percentile(times, 99)),
            "mean_us": float(times.mean()), "calls": repeat, "warmup": warmup}


def throughput(fn: Callable[[np.ndarray], object], x: np.ndarray, batch: int, min_events: int = 20_000) -> float:
    """Events/s of ``fn`` called on consecutive batches (best of three passes over ≥ ``min_events``)."""
    n = max(min_events, batch)
    idx = np.arange(n) % len(x)
    data = np.ascontiguousarray(x[idx])
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for s in range(0, n - batch + 1, batch):
            fn(data[s: s + batch])
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
        self._in = np.zeros((1, n_in), np.float32)
        self._y = ort.OrtValue.ortvalue_from_shape_and_type([1, 1], np.float32)
        self._binding = self.sess.io_binding()
        self._binding.bind_input(self.name, "cpu", 0, np.float32, list(self._in.shape), self._in.ctypes.data)
        self._binding.bind_ortvalue_output(self.out, self._y)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 1:
            np.copyto(self._in, batch)
            self.sess.run_with_iobinding(self._binding)
            return self._y.numpy().copy()
        return self.sess.run([self.out], {self.name: batch})[0]


def engines(run_dir, export_dir, x: np.ndarray) -> dict[str, Callable[[np.ndarray], object]]:
    """Single-threaded predict functions for the run's float MLP (torch, ORT) and BDT (XGBoost)."""
    import torch

    from trigdeploy.train.run import load_torch_model

    out = {}
    torch.set_num_threads(1)
    if (run_dir / "mlp.pt").is_file():
        model, _ = load_torch_model(run_dir / "mlp.pt")

        def torch_eager(batch, model=model):
            with torch.inference_mode():
                return model(torch.from_numpy(batch)).numpy()

        out["mlp: PyTorch eager"] = torch_eager
    if (export_dir / "mlp.onnx").is_file():
        out["mlp: ONNX Runtime"] = OrtEngine(export_dir / "mlp.onnx")
    if (run_dir / "bdt.json").is_file():
        from trigdeploy.convert.export import load_booster

        booster = load_booster(run_dir / "bdt.json")
        booster.set_param({"nthread": 1})
        out["bdt: XGBoost inplace_predict"] = lambda batch: booster.inplace_predict(batch)
    return out


def measure(run_dir, export_dir, x: np.ndarray, core: int | None = 0) -> dict:
    """All engines, single-event latency and batch throughput, in one process."""
    x = np.ascontiguousarray(x, np.float32)
    fns = engines(run_dir, export_dir, x)
    out: dict = {"threads_per_engine": 1, "pinned_core": core, "engines": {}}
    with pinned(core):
        for name, fn in fns.items():
            out["engines"][name] = {"single_event": single_event(fn, x),
                                    "events_per_s": {str(b): throughput(fn, x, b) for b in BATCHES}}
    e = out["engines"]
    if "mlp: ONNX Runtime" in e and "mlp: PyTorch eager" in e:
        out["ort_speedup_vs_torch_batch1"] = (e["mlp: PyTorch eager"]["single_event"]["p50_us"]
                                              / e["mlp: ONNX Runtime"]["single_event"]["p50_us"])
    return out
