"""Where a stage's time goes: its named steps, their wall seconds and cache hits.

A stage opens one record (``with timing.stage("export") as rec``); anything it calls adds steps to
it (``with timing.step("compile qmlp_vitis (vendor)"):``, or ``timing.add`` for a duration measured
elsewhere) without the record being passed down. The stage writes ``rec.report()`` into its own
output (``run.json``, the manifest, ``csim.json``, ``synth.json``, bench's report):
``{"wall_seconds", "steps": [{"step", "seconds", "cached"}…], "top": the ten longest}``.
``benchmarks/bench_loop.py`` reads them. Steps may nest (a compile inside a project's check): each
is reported with its own wall time, so the steps of a record need not add up to its wall time.
Outside a stage, ``step`` and ``add`` record nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

TOP = 10


@dataclass
class Record:
    """The steps of one stage, in the order they ended."""

    stage: str
    started: float = field(default_factory=time.perf_counter)
    steps: list[dict] = field(default_factory=list)

    def add(self, name: str, seconds: float, cached: bool = False) -> None:
        """One step of ``seconds``; ``cached``: its work was found done (a build cache hit)."""
        self.steps.append({"step": name, "seconds": round(float(seconds), 3), "cached": bool(cached)})

    def report(self) -> dict:
        """The stage's wall time so far, every step, and the ten longest."""
        top = sorted(self.steps, key=lambda s: -s["seconds"])[:TOP]
        return {
            "stage": self.stage,
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "steps": list(self.steps),
            "top": top,
            "cache_hits": sum(s["cached"] for s in self.steps),
        }


_CURRENT: contextvars.ContextVar[Record | None] = contextvars.ContextVar("trigdeploy_timing", default=None)


@contextlib.contextmanager
def stage(name: str) -> Iterator[Record]:
    """The record of the stage ``name`` for the duration of the block (the enclosing one is restored after)."""
    rec = Record(name)
    token = _CURRENT.set(rec)
    try:
        yield rec
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def step(name: str, cached: bool = False) -> Iterator[None]:
    """Time the block as step ``name`` of the current stage (recorded when the block succeeds)."""
    t0 = time.perf_counter()
    yield
    add(name, time.perf_counter() - t0, cached)


def add(name: str, seconds: float, cached: bool = False) -> None:
    """Record a step measured elsewhere in the current stage (nothing outside a stage)."""
    rec = _CURRENT.get()
    if rec is not None:
        rec.add(name, seconds, cached)
