"""The HLS project type (hls4ml, conifer C++): its own testbench, then the batched harness on every event.

``simulate`` gives what the vendor headers compute. With ``fast``, the whole split runs on the fast
arithmetic (``harness``) where it covers the project; the vendor-header build, which the testbench
uses anyway, re-simulates ``CROSS_CHECK_EVENTS`` events spread over the split, and any difference
sends the whole split through the vendor build instead (recorded), so the report always states
what the vendor headers compute. ``auto`` first times the vendor build (export's, already compiled)
on ``PROBE_EVENTS`` events: where it would run the whole split within ``VENDOR_SPLIT_BUDGET_S`` (a
fast build takes longer than that to compile here), the vendor build runs every event and no fast
build is compiled; otherwise, or where the fast build is cached already, it is ``fast``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trigdeploy.cxx import harness, hls_project, testbench

CROSS_CHECK_EVENTS = 4096
PROBE_EVENTS = 512
VENDOR_SPLIT_BUDGET_S = 10.0  # an hls4ml project's fast build compiles in 5-10 s on 2 cores, a conifer one in 15-30 s


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(k, n)).astype(np.int64))


def choose_arithmetic(
    project: Path, cache: Path, x: np.ndarray, threads: int | None
) -> tuple[str, str, tuple[harness.Harness, harness.Build] | None]:
    """``auto``'s arithmetic for ``project`` on ``x``, why, and the vendor harness it loaded to time (None
    where it loaded none): ``fast`` where its build is cached, else ``vendor`` where the vendor build, timed
    on a spread sample, runs all of ``x`` within the budget."""
    if harness.is_built(hls_project.inspect(project), cache, "fast"):
        return "fast", "auto: the fast build is cached", None
    vendor = harness.load(project, cache, threads, "vendor")
    sample = x[_spread(len(x), PROBE_EVENTS)]
    t0 = time.perf_counter()
    vendor[0].run(sample)
    estimate = len(x) * (time.perf_counter() - t0) / max(len(sample), 1)
    if estimate <= VENDOR_SPLIT_BUDGET_S:
        return (
            "vendor",
            f"auto: the vendor build runs the split in about {estimate:.1f} s, no fast build compiled",
            vendor,
        )
    return "fast", f"auto: the vendor build would take about {estimate:.0f} s on the split", vendor


def simulate(
    project: Path, cache: Path, x: np.ndarray, threads: int | None = None, arithmetic: str = "fast"
) -> tuple[np.ndarray, dict]:
    """Outputs of ``project`` on ``x`` as the vendor headers compute them, and how they were obtained.

    With ``fast``: the fast build runs every event, the vendor build a spread sample of them; on
    any difference the vendor build runs every event. ``auto``: see ``choose_arithmetic``."""
    choice, vendor = None, None
    if arithmetic == "auto":  # the vendor harness it loads serves the run or the cross-check below
        arithmetic, choice, vendor = choose_arithmetic(project, cache, x, threads)

    def timed(h: harness.Harness) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        out = h.run(x)
        return out, len(x) / max(time.perf_counter() - t0, 1e-9)

    h, b = vendor if vendor and arithmetic == "vendor" else harness.load(project, cache, threads, arithmetic)
    y, rate = timed(h)
    info = {
        "arithmetic": b.arithmetic,
        "arithmetic_detail": harness.ARITHMETIC[b.arithmetic],
        "compile_seconds": b.compile_seconds,
        "build_cached": b.cached,
        "events_per_s": rate,
    }
    if choice:
        info["arithmetic_choice"] = choice
    if b.fallback:
        info["fast_fallback"] = b.fallback
    if b.arithmetic == "fast":
        hv, bv = vendor or harness.load(project, cache, threads, "vendor")
        idx = _spread(len(x), CROSS_CHECK_EVENTS)
        differ = int((hv.run(x[idx]) != y[idx]).any(axis=1).sum())
        info["vendor_cross_check"] = {
            "events": int(len(idx)),
            "differ": differ,
            "vendor_compile_seconds": bv.compile_seconds,
        }
        if differ:
            y, rate = timed(hv)
            info.update(arithmetic="vendor", arithmetic_detail=harness.ARITHMETIC["vendor"], events_per_s=rate)
    return y, info


def simulate_hls(
    project: Path, cache: Path, x: np.ndarray, exact: bool, threads: int | None, arithmetic: str
) -> tuple[np.ndarray, dict, dict]:
    """An HLS project (hls4ml, conifer): its own testbench, then the batched harness on ``x``."""
    tb = testbench.check(project, cache, exact)  # first: it builds the vendor harness alongside its own code
    y, info = simulate(project, cache, x, threads, arithmetic)
    return y, info, tb
