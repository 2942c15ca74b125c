"""What bench reads of a run's design scan (``trigdeploy scan``): every complete point's record, checked to be made
from the run as it is now, as one flat row of the resource plot and the scan tables."""

from __future__ import annotations

import logging

import numpy as np

from trigdeploy.bench.scan import OWN, RECORD, own_data_stage, parent_print, read_record
from trigdeploy.errors import TrigdeployError
from trigdeploy.layout import RunLayout

logger = logging.getLogger(__name__)

GROUPS = ("front", "sweep", "grid")


def read_points(parent: RunLayout, quoted: float = 0.3, y: np.ndarray | None = None) -> list[dict]:
    """The complete scan points of ``parent`` (``<run>/scan/*/point.json``), flat, as bench reports them: front
    (by β), sweep (by weight width), grid (by name), each with 1/εB at signal efficiency ``quoted`` from its
    simulated outputs on the parent's test labels ``y`` (read from the parent where not given). A point made
    from another data stage or float model than the parent's now is left out with a line (``trigdeploy scan``
    again brings it up to date)."""
    from trigdeploy.bench.pareto import quoted_physics
    from trigdeploy.data.cache import load_split
    from trigdeploy.models import registry

    found, prints = [], {}  # the parent's digests, once per model the points start from
    folder = parent.scan_runs
    for record in sorted(folder.glob(f"*/{RECORD}")) if folder.is_dir() else []:
        r = read_record(record)
        if r is None or not isinstance(r.get("point"), dict) or not isinstance(r.get("parent"), dict):
            logger.warning("bench: %s is not a scan point's record (ignored)", record)
            continue
        own = own_data_stage(r["parent"])  # a point on a data stage of its own (a features.* key changed)
        taken = {k: v for k, v in r["parent"].items() if k not in OWN}  # digests of what it took from the run
        source = next((k for k in taken if k != "data"), None)  # None: from the data alone (or its own)
        if (source is None or source in {k.artifact for k in registry.KINDS.values()}) and source not in prints:
            prints[source] = parent_print(parent, source)
        if taken != prints.get(source):
            logger.warning(
                "bench: scan point %s was made from another training of %s; run trigdeploy scan again (left out)",
                record.parent.name,
                parent.run_dir,
            )
            continue
        point = RunLayout.of(record.parent, parent.export_root, parent.firmware_root)
        if own and not _same_events(parent, point):
            continue
        if y is None:
            y = load_split(parent.run_dir, "test")[1]
        found.append(_flat(record.parent.name, r, quoted_physics(point, r, quoted, y)))
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(
        found, key=lambda p: (order.get(p["group"], len(order)), p.get("beta", 0), p.get("weight_bits", 0), p["point"])
    )


def _same_events(parent: RunLayout, point: RunLayout) -> bool:
    """Does a point on its own data stage hold the parent's test events (its figures are read against the
    parent's labels)? A line where it does not."""
    from trigdeploy.bench.beside import same_events

    try:
        same_events(parent, point)
    except TrigdeployError as e:
        logger.warning("bench: scan point %s left out: %s", point.name, e)
        return False
    return True


def _flat(name: str, r: dict, physics: dict) -> dict:
    """A point's record as one row: label, group, settings, physics (``physics``: 1/εB at the quoted
    efficiency, or the accuracy for K classes: ``pareto.quoted_physics``), LUT (with source), simulation,
    training."""
    d, t = r.get("design") or {}, r.get("training", {})
    out = {"model": r["point"]["label"], "group": r["point"]["group"], "point": name, "kind": r["point"]["kind"]}
    out.update(r["point"]["changes"])
    out["auc"] = r["auc"]
    out.update({k: r[k] for k in ("model_auc", "physics_from") if k in r})
    out.update(physics)
    for k in ("lut", "ff", "dsp", "lut_source", "latency_ns", "latency_cycles", "ii", "alkaid_lut", "not_synthesized"):
        out[k] = d.get(k)
    out["csim"] = r.get("csim")
    out["side_by_side"] = [{**row, "design": f"{name}/{row['design']}"} for row in r.get("side_by_side", [])]
    out.update({k: t[k] for k in ("ebops", "weights_kept", "weights") if k in t})
    out["train_seconds"] = t.get("seconds")
    return out
