"""``bench.beside``: other runs benched beside this one, on the same test events.

A run config's ``bench.beside`` names runs (each a sibling of this run in its runs folder) trained on the same
data files and split by another features stage: e.g. the Deep Sets of ``configs/toptag_l1.yaml``, which take
the particles' L1 words, beside the jet-feature models of ``configs/toptag.yaml``. Each must hold the same test
events (the same data files, test rows, classes and labels: checked, one line otherwise) and be exported; its
models and designs join this run's physics, pairwise comparison, CPU latency, FPGA, resource, budget and
estimator tables and the ROC and resource plots, named ``<run>/<model>``. Its own design scan stays in its own
bench report. Reading a run beside this one writes nothing into it. A run named there that cannot be benched
beside it (not trained or exported, or on other events) is left out with a warning, and the report says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trigdeploy.bench.pareto import front_of
from trigdeploy.data.cache import classes_of
from trigdeploy.errors import TrigdeployError
from trigdeploy.layout import RunLayout


@dataclass(frozen=True)
class Measured:
    """What bench measures of one run's models and designs, before a report is written."""

    y: np.ndarray  # the test labels
    scores: dict  # model → form → test scores (probabilities)
    physics: dict  # model → form → figures (``physics.model_figures``)
    latency: dict  # ``latency.measure``'s result
    fpga: dict  # estimate label → figures (every exported form's cost model)
    points: list  # the resource plot's points (``pareto.pareto_entries``)
    rows: list  # open-synthesis counts with their estimators beside them (``run.side_by_side``)
    inputs: str  # what the designs' ports take (``run.inputs_given``)


def layout_beside(layout: RunLayout, name: str) -> RunLayout:
    """The layout of the run ``name`` (from ``bench.beside``: a sibling of ``layout``'s run, under the same export,
    firmware and results roots), checked to be trained and exported from the same data files and test rows as
    this run, with the same classes; one line naming the run and what differs otherwise."""
    run_dir = layout.run_dir.parent / name
    other = replace(layout, run_dir=run_dir)  # the same export, firmware, results and cache roots
    if run_dir.resolve() == layout.run_dir.resolve():
        raise TrigdeployError(f"bench.beside names the run itself ({name})")
    for path, how in ((other.metrics, "train"), (other.manifest, "export")):
        if not path.is_file():
            raise TrigdeployError(f"bench.beside: {path} not found: run trigdeploy {how} for {run_dir} first")
    same_events(layout, other)
    same_target(layout, other)
    return other


def same_target(layout: RunLayout, other: RunLayout) -> None:
    """Refuse, with one line, a run beside ``layout``'s exported for another part or budget: the budget table
    judges every design against this run's part and budget."""
    from trigdeploy.convert.manifest import Manifest

    mine, theirs = Manifest.load(layout.manifest), Manifest.load(other.manifest)
    for what, a, b in (("part", mine.device.part, theirs.device.part), ("budget", mine.budget, theirs.budget)):
        if a != b:
            raise TrigdeployError(
                f"bench.beside: {other.run_dir} was exported for another {what} ({b}) than {layout.run_dir} ({a}): "
                "export both with the same target"
            )


def _data_stage(layout: RunLayout) -> tuple[list, list, np.ndarray, int]:
    """(data files, classes, test rows, rows) of a prepared run, as its data stage wrote them."""
    try:
        report = json.loads(layout.features.read_text())
        with np.load(layout.splits) as splits:
            test, n_rows = np.asarray(splits["test"]), int(splits["n_rows"])
    except (OSError, ValueError, KeyError) as e:
        raise TrigdeployError(f"bench.beside: {layout.run_dir}: unreadable data stage ({e})") from None
    return [str(Path(f)) for f in report.get("files", [])], list(classes_of(report)), test, n_rows


def same_events(layout: RunLayout, other: RunLayout) -> None:
    """Refuse, with one line naming what differs, a run beside ``layout``'s whose test split is not the same
    events: other data files, classes, number of rows or test rows (the labels are compared once loaded)."""
    mine, theirs = _data_stage(layout), _data_stage(other)
    for what, a, b in zip(("data files", "classes", "test rows", "rows"), mine, theirs):
        same = np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
        if not same:
            raise TrigdeployError(
                f"bench.beside: {other.run_dir} has other {what} than {layout.run_dir}: a run beside it must be "
                "trained on the same data files and split (its own features stage is fine)"
            )


def check_labels(layout: RunLayout, other: RunLayout, y: np.ndarray, y_other: np.ndarray) -> None:
    """Refuse a run beside ``layout``'s whose test labels differ from ``y`` (another label definition)."""
    if not np.array_equal(y, y_other):
        raise TrigdeployError(
            f"bench.beside: {other.run_dir}'s test labels differ from {layout.run_dir}'s on the same rows "
            f"({int(np.sum(np.asarray(y) != np.asarray(y_other)))} of {len(y)}): another label definition"
        )


def prefixed(m: Measured, run: str) -> Measured:
    """``m`` with every model, form label, engine and design named ``<run>/<name>``."""

    def keys(d: dict) -> dict:
        return {f"{run}/{k}": v for k, v in d.items()}

    latency = {**m.latency, "engines": keys(m.latency.get("engines", {}))}
    points = [{**p, "model": f"{run}/{p['model']}", "beside": run} for p in m.points]
    rows = [{**r, "design": f"{run}/{r['design']}"} for r in m.rows]
    return replace(m, scores=keys(m.scores), physics=keys(m.physics), latency=latency, fpga=keys(m.fpga),
                   points=points, rows=rows)  # fmt: skip


def merged(own: Measured, others: list[Measured]) -> Measured:
    """This run's measurements with those of the runs beside it (already ``prefixed``): the resource plot's
    front taken again over every point."""
    if not others:
        return own
    engines = dict(own.latency.get("engines", {}))
    for o in others:
        engines.update(o.latency.get("engines", {}))
    points = [*own.points, *(p for o in others for p in o.points)]
    on_front = {id(p) for p in front_of(points)}
    for p in points:
        p["on_front"] = id(p) in on_front
    return replace(
        own,
        scores={**own.scores, **{k: v for o in others for k, v in o.scores.items()}},
        physics={**own.physics, **{k: v for o in others for k, v in o.physics.items()}},
        latency={**own.latency, "engines": engines},
        fpga={**own.fpga, **{k: v for o in others for k, v in o.fpga.items()}},
        points=points,
        rows=[*own.rows, *(r for o in others for r in o.rows)],
    )
