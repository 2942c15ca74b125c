"""Design scans as runs (``trigdeploy scan``): each point of a scan is an ordinary run inside its parent run.

A point (``ScanPoint``) is a model kind of the parent run at other settings: the uniform-bit QAT sweep
(``--sweep``: ``qmlp`` at ``b``-bit weights, ``b + 2``-bit activations and inputs), the resource-aware front
(``--pareto``: ``hgq`` at each cost weight β), or any grid of a kind's keys (``--grid hgq.beta=1e-6,2e-6``;
several keys of one kind: their product). ``run_point`` makes it a run in ``<run>/scan/<point>/``:

1. **train**: the parent's config with only that kind at the point's settings; its data stage is the
   parent's (linked, read as it is). A kind with ``init`` is fine-tuned (``init: float``) from the parent's
   float model it starts from (the float MLP; the float Deep Sets for ``qdeepsets``); a kind trained from the
   data alone (the BDT: ``--grid bdt.input_frac=2,3``) is trained from scratch. One torch thread
   (``train_run(reuse_data=True, models=[kind])``);
2. **export**: its RTL forms (and what they require; ``--forms``), each bit-exact on the whole test split (a
   form exported only because an RTL form requires it writes what that form reuses: conifer's quantized
   ensemble and its float C++ check, not its HLS or VHDL projects);
3. **csim**: every exported project simulated on the whole test split (Verilator), 0 mismatches or an error;
4. **synth**: Yosys counts of its RTL designs under synth's budget rule (``--max-lut-estimate``).

``point.json``, written last, marks a complete point and holds what bench reads: the point's physics, its
simulation and its designs' LUTs (Yosys where counted, alkaid's cost model elsewhere). Its fingerprint is
that of everything that shapes the point (the parent's data stage and float model, the point's config, the
target and budget rule, the versions): a point whose fingerprint is unchanged is not retrained,
re-exported, re-simulated or re-synthesized, and an interrupted scan resumes at the incomplete points.
Points run in parallel: ``workers`` local processes (default: the cores available), or as tasks on Dask
(``dask``: a ``LocalCluster`` of N workers, or the user's scheduler), each task a whole point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import yaml

from trigdeploy.bench.scanpoints import ScanPoint
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout

logger = logging.getLogger(__name__)

RECORD = "point.json"  # a scan point's summary, written last
RECORD_SCHEMA = 4  # what the summary holds; a record of another schema is summarized again from the point's run


@dataclasses.dataclass(frozen=True)
class ScanOptions:
    """How every point is exported and synthesized; the roots are the parent run's (None: its layout's)."""

    target: object  # an ExportTarget (its ``forms`` restrict what each point exports)
    max_lut_estimate: float
    export_root: Path | None = None
    firmware_root: Path | None = None
    # a point's csim threads and compilers at once (None: its worker's share of the cores, set by scan_run); not
    # in a point's fingerprint: the same outputs on any number
    threads: int | None = None


_ROOTS = ("export_root", "firmware_root")


def rtl_forms() -> tuple[str, ...]:
    """The forms whose projects are simulated as RTL (Verilator): what a scan point exports by default."""
    from trigdeploy.convert.forms import FORMS

    return tuple(f.name for f in FORMS.values() if "verilator" in f.simulators)


def scan_target(target, forms: list[str] | None):
    """What each point exports: ``forms`` (default: the target's ``forms``, else the RTL forms, with what they
    require), the hls4ml projects among them for the target's first backend only (a QAT point's RTL is
    checked against the QONNX reference its hls4ml form writes; one backend's project serves that)."""
    chosen = tuple(forms) if forms else (target.forms or rtl_forms())
    hls4ml = dataclasses.replace(target.hls4ml, Backends=target.hls4ml.Backends[:1])
    return dataclasses.replace(target, forms=chosen, hls4ml=hls4ml)


def point_config(parent: RunLayout, point: ScanPoint) -> dict:
    """The point's run config (as data): the parent's, training only ``point.kind`` at the point's settings.
    A kind fine-tuned from another (``init``) starts from the parent's model of that kind (whose section stays:
    the kind starts from it); a kind trained from the data alone (the BDT, or ``init: scratch`` among the point's
    changes) starts from the parent's section of it, or its defaults. The point's name."""
    from trigdeploy.config import load_config
    from trigdeploy.models import registry
    from trigdeploy.schema import to_dict

    raw = to_dict(load_config(parent.config))
    train = raw["train"]
    if point.kind not in registry.KINDS:
        raise TrigdeployError(
            f"scan point {point.name}: {point.kind!r} is not a model kind ({', '.join(registry.KINDS)})"
        )
    kind = registry.kind(point.kind)
    data, changes = data_changes(point)
    raw["features"] = {**raw["features"], **data}  # a features.* key: the point's own data stage
    out = {k: v for k, v in train.items() if k not in registry.KINDS}
    if not _has_init(kind) or changes.get("init") == "scratch":  # trained from the run's data stage alone
        raw["train"] = {**out, point.kind: {**(train.get(point.kind) or {}), **changes}}
        raw["name"] = f"{raw['name']}.{point.name}"
        return raw
    source = kind.init_from(kind.config(init="float"))
    if source is None or train.get(source) is None:
        raise TrigdeployError(
            f"scan point {point.name}: {point.kind!r} is fine-tuned from a model the run does not train "
            f"({source}); the kinds a scan takes: those trained from the data alone, and "
            f"{', '.join(k.name for k in registry.KINDS.values() if _has_init(k))} where the run trains what "
            "they start from"
        )
    # a kind the run does not train yet starts with its source's shape (what its init: float requires)
    fields = {f.name for f in dataclasses.fields(kind.config)}
    shape = {k: v for k, v in train[source].items() if k in SHAPE_KEYS and k in fields}
    section = {**(train.get(point.kind) or shape), **changes, "init": "float"}
    # a point of another shape (layer widths) starts from a float model of its shape, trained in the point
    raw["train"] = {**out, source: {**train[source], **own_shape(point)}, point.kind: section}
    raw["name"] = f"{raw['name']}.{point.name}"
    return raw


# what a point's record of its parent (``parent_print``) says it made itself: a data stage, a model to start from
OWN_SOURCE = "own_source_model"  # its own model to start from, of its shape (``own_shape``)
OWN = ("own_data_stage", OWN_SOURCE)
SHAPE_KEYS = ("hidden", "phi", "particle_features")  # the keys a fine-tuned kind shares with its source
DATA_PREFIX = "features."  # a grid key under it changes the point's data stage (e.g. features.n_constituents)


def data_changes(point: ScanPoint) -> tuple[dict, dict]:
    """The point's changes to the run's ``features`` section (its own data stage; none for most points) and to
    its kind's ``train`` section."""
    changes = point.as_dict()["changes"]  # a list value (layer widths) as a list, as the config holds it
    data = {k[len(DATA_PREFIX) :]: v for k, v in changes.items() if k.startswith(DATA_PREFIX)}
    return data, {k: v for k, v in changes.items() if not k.startswith(DATA_PREFIX)}


def own_shape(point: ScanPoint) -> dict:
    """The point's changes to the shape its kind shares with the model it starts from (``SHAPE_KEYS``, e.g.
    ``hgq.hidden``): that model is trained again in the point, at this shape, on the parent's data stage."""
    return {k: v for k, v in data_changes(point)[1].items() if k in SHAPE_KEYS}


def own_data_stage(taken: dict) -> bool:
    """Was a point with this record of what it took from its parent (``parent``) trained on a data stage of its
    own (a ``features.*`` key of the grid), rather than on the parent's?"""
    return bool(taken.get("own_data_stage"))


def _has_init(kind) -> bool:
    return any(f.name == "init" for f in dataclasses.fields(kind.config))


def _link_data_stage(parent: RunLayout, point: RunLayout, source_artifact: str | None) -> None:
    """The parent's data stage and the model the point starts from (if any) in the point's run directory, as
    hard links (copies where links cannot be made): the point reads them as they are. The point's feature caches
    are the parent's alone: those of an earlier data stage of the parent (another key) go first."""
    files = [parent.features, parent.preprocess, parent.splits]
    files += [parent.run_dir / source_artifact] if source_artifact else []
    caches = (
        sorted(p for p in parent.feature_caches.glob("*/*") if p.is_file()) if parent.feature_caches.is_dir() else []
    )
    shutil.rmtree(point.feature_caches, ignore_errors=True)
    for src in files + caches:
        dst = point.run_dir / src.relative_to(parent.run_dir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def parent_print(parent: RunLayout, source_artifact: str | None) -> dict:
    """What a point takes from its parent run: its data stage and the model it starts from, if any (digests)."""
    from trigdeploy.data.cache import data_stage_print
    from trigdeploy.io import sha256_file

    out = {"data": data_stage_print(parent.run_dir)}
    if source_artifact:
        path = parent.run_dir / source_artifact
        out[source_artifact] = sha256_file(path) if path.is_file() else None
    return out


def _fingerprint(parent: dict, raw: dict, opts: ScanOptions) -> str:
    """A digest of what shapes a point: what it takes from its parent run (``parent_print``), the point's
    config, the export target, synth's budget rule and the versions of the tools that train and check it."""
    from trigdeploy.schema import to_dict
    from trigdeploy.versions import package_versions

    shaping = {k: v for k, v in raw.items() if k not in ("bench", "source")}
    parts = [
        parent,
        shaping,
        to_dict(opts.target),
        opts.max_lut_estimate,
        package_versions(
            ("trigdeploy", "torch", "brevitas", "numpy", "alkaid", "hls4ml", "qonnx", "xgboost", "conifer")
        ),
        shutil.which("yosys") is not None,
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def run_point(parent_dir: Path, point: ScanPoint, opts: ScanOptions) -> dict:
    """One point as a run: trained, exported, simulated and synthesized (each skipped as a whole when the
    point's ``point.json`` has the fingerprint of what shapes it now); returns its record."""
    import torch

    from trigdeploy.models import registry

    parent = RunLayout.of(parent_dir, opts.export_root, opts.firmware_root)
    layout = RunLayout.of(parent.scan_run(point.name), opts.export_root, opts.firmware_root)
    raw = point_config(parent, point)
    source = next((registry.kind(k) for k in raw["train"] if k in registry.KINDS and k != point.kind), None)
    artifact = source.artifact if source is not None else None  # None: trained from the data stage alone
    if data_changes(point)[0]:  # its own data stage, and its own model to start from: only the parent's data
        artifact, taken = None, {**parent_print(parent, None), "own_data_stage": True}
    elif artifact and own_shape(point):  # its own model to start from, of its shape, on the parent's data stage
        artifact, taken = None, {**parent_print(parent, None), OWN_SOURCE: True}
    else:
        taken = parent_print(parent, artifact)
    fp = _fingerprint(taken, raw, opts)
    record = layout.run_dir / RECORD
    found = read_record(record)
    if found is not None and found.get("fingerprint") == fp:
        logger.info("scan: %s read back (nothing that shapes it changed)", point.label)
        named = point.as_dict()
        stale = found.get("schema") != RECORD_SCHEMA  # an older summary of the same run: read its files again
        if stale:
            found.update(schema=RECORD_SCHEMA, **summary(layout, point))
        if stale or found.get("point") != named:  # the same run asked for as another group (--pareto, --grid)
            found["point"] = named
            write_json_atomic(record, found)
        return found
    record.unlink(missing_ok=True)  # incomplete from here until the new record is written
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same figures in a worker and in-process, whatever the machine's cores
    try:
        seconds = _stages(parent, layout, point, raw, opts, (artifact, taken))
    finally:
        torch.set_num_threads(threads)
    out = {"fingerprint": fp, "schema": RECORD_SCHEMA, "point": point.as_dict(), "run": str(layout.run_dir)}
    out.update(summary(layout, point))
    out["parent"] = taken
    out["seconds"] = seconds
    write_json_atomic(record, out)
    return out


def _stages(parent: RunLayout, layout: RunLayout, point: ScanPoint, raw: dict, opts: ScanOptions, start: tuple) -> dict:
    """train → export → csim → synth of one point; the seconds of each (``start``: the artifact it is fine-tuned
    from, None for none, and what it takes from its parent: ``parent_print``, with whether it has a data stage of
    its own or a model to start from of its own)."""
    from trigdeploy.bench.synth import open_synth_run
    from trigdeploy.config import load_config
    from trigdeploy.convert.export import export_run
    from trigdeploy.csim.run import csim_run
    from trigdeploy.train.run import train_run

    source, taken = start
    own = own_data_stage(taken)
    seconds = {}
    t0 = time.perf_counter()
    if not own:
        _link_data_stage(parent, layout, source)
    config = layout.config
    write_text_atomic(config, yaml.safe_dump(raw, sort_keys=False))
    cfg = load_config(config)  # validated like any run's (train.run saves it resolved)
    if own:  # its data stage and every model it needs (the one it starts from too), as a run of its own
        logger.info("scan: %s: training (its own data stage and the models it starts from)", point.label)
        train_run(cfg, layout.run_dir, progress=False)
    else:
        own_source = bool(taken.get(OWN_SOURCE))
        how = "fine-tuned from the run's float model" if source else "from the run's data stage"
        how = "the float model it starts from at its shape, then fine-tuned from it" if own_source else how
        logger.info("scan: %s: training (%s)", point.label, how)
        models = [k for k in raw["train"] if cfg.train.model(k) is not None] if own_source else [point.kind]
        train_run(cfg, layout.run_dir, progress=False, reuse_data=True, models=models)
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    export_run(layout.run_dir, _own_forms(opts.target, point.kind), opts.export_root, opts.firmware_root)
    seconds["export"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    csim_run(layout.run_dir, opts.export_root, opts.firmware_root, threads=opts.threads or 1)
    seconds["csim"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    open_synth_run(layout, jobs=1, max_lut_estimate=opts.max_lut_estimate)
    seconds["synth"] = time.perf_counter() - t0
    return seconds


def _own_forms(target, kind: str):
    """``target`` restricted to ``kind``'s forms (and what they require): a point exports its kind alone, not the
    float model it trained to start from."""
    from trigdeploy.models import registry

    own = registry.kind(kind).forms
    return dataclasses.replace(target, forms=tuple(f for f in (target.forms or own) if f in own))


def read_record(path: Path) -> dict | None:
    """A point's record (``point.json``), or None where it is missing or unreadable."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def summary(layout: RunLayout, point: ScanPoint) -> dict:
    """What bench reads of a finished point: its test physics (its design's simulated outputs on the whole test
    split where csim saved them, with the model's AUC beside them; the model's elsewhere), the training summary (EBOPs, weights kept), its simulation, its RTL design's
    LUT/FF/latency (the Yosys count where synthesized, alkaid's cost model elsewhere, with why) and the count
    beside each estimator of it (bench's estimator errors)."""
    from trigdeploy.bench.pareto import simulation_of
    from trigdeploy.bench.run import fpga_estimates, open_csim, open_synthesis, side_by_side
    from trigdeploy.bench.synthreport import DesignCount
    from trigdeploy.convert.manifest import Manifest
    from trigdeploy.train.results import RunMetrics

    manifest = Manifest.load(layout.manifest)
    m = RunMetrics.load(layout.metrics)[point.kind]
    raw = json.loads(layout.metrics.read_text())[point.kind]
    est, _ = fpga_estimates(layout, manifest.models, manifest.device.clock_ns, manifest.device.reuse)
    alkaid = next((e for label, e in est.items() if "alkaid" in label), None)
    synth = open_synthesis(layout, manifest)
    keep = ("lut", "ff", "dsp", "latency_cycles", "latency_ns", "ii")
    design = {**{k: alkaid[k] for k in keep}, "lut_source": "alkaid"} if alkaid else None
    for d in synth.designs.values() if synth else ():  # a point's kind has one RTL design
        if isinstance(d, DesignCount):
            design = {**(design or {}), "lut": d.lut, "ff": d.ff, "dsp": d.dsp, "lut_source": "yosys", "design": d.name}
            design["alkaid_lut"] = alkaid["lut"] if alkaid else None
        elif design is not None:
            design["not_synthesized"] = d.why
    csim = open_csim(layout, manifest)
    out = {"auc": m.auc, "design": design, "csim": simulation_of(csim, point.kind)}
    out["side_by_side"] = side_by_side(synth, est, manifest.models)  # its count beside each estimator
    simulated = _simulated_physics(layout, manifest, csim, (design or {}).get("design"), m)
    if simulated is not None:  # the design's own physics (a BDT's leaves on a coarser grid than XGBoost's)
        out.update(model_auc=m.auc, physics_from=simulated.pop("design"), **simulated)
    training = raw.get("training", {})
    out["training"] = {k: training[k] for k in ("seconds", "best_epoch", "epochs_run") if k in training}
    cost = training.get("summary", {})  # a resource-aware model: its EBOPs and the weights it kept
    out["training"].update({k: cost[k] for k in ("ebops", "weights_kept", "weights") if k in cost})
    return out


def _simulated_physics(layout: RunLayout, manifest, csim, design: str | None, m) -> dict | None:
    """The AUC (K classes: macro) of the point's design as csim simulated it on the test split (the counted
    ``design``, else the model's first exact project) and that project's name; None where none was simulated.
    (bench computes 1/εB at the efficiency it quotes, or for K classes the accuracy, from the same outputs:
    ``pareto.quoted_physics``.)"""
    from trigdeploy.csim.run import simulated_logits
    from trigdeploy.data.cache import load_split
    from trigdeploy.logits import probabilities
    from trigdeploy.train.metrics import auc_any

    names = [p.name for p in csim.of_model(m.name)] if csim else []
    name = design if design in names else next(iter(names), None)
    logits = simulated_logits(layout, manifest, name) if name else None
    if logits is None:
        return None
    _, y = load_split(layout.run_dir, "test")
    return {"auc": auc_any(y, probabilities(logits)), "design": name}  # bench's figure of the same probabilities


def _worker_logging(level: int) -> None:
    """A scan worker logs its points' lines to stderr at the parent's level."""
    root = logging.getLogger("trigdeploy")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def expected_work(parent: RunLayout, point: ScanPoint) -> tuple[bool, bool, int]:
    """How long the point trains, to order a parallel scan (the longest first, so that no long point is left
    running alone at the end): a data stage of its own, a float model of its own shape to start from, then its
    epochs (the kind's default where its section sets none; 0 for a kind without epochs, e.g. the BDT)."""
    from trigdeploy.models import registry

    section = point_config(parent, point)["train"][point.kind]
    default = getattr(registry.kind(point.kind).config(), "epochs", 0)
    return bool(data_changes(point)[0]), bool(own_shape(point)), int(section.get("epochs", default) or 0)


def point_threads(cores: int, workers: int, on_dask: bool) -> int:
    """A point's share of the cores: its csim's threads and the compilers its builds run at once. One on Dask
    (a LocalCluster's worker is one thread; a user's cluster is taken to be the same), else the cores over the
    local workers: a lone point uses them all, two points on two cores one each (not two compilers each)."""
    return 1 if on_dask else max(1, cores // max(1, workers))


def scan_run(
    parent_dir: Path, points: list[ScanPoint], opts: ScanOptions, workers: int | None = None, dask=None
) -> list[dict]:
    """Every point's record, in order: complete points read back, the others run (train → export → csim →
    synth) in up to ``workers`` local processes (default: the cores available) or, with ``dask`` (a
    ``DaskClusterConfig``), as tasks on that cluster; a point's csim and its compilers use its worker's share of
    the cores (one on Dask). A point is recorded when it is done, so a failure or a stop loses only the points
    still running; the first failure is raised after the running ones finish."""
    names = [p.name for p in points]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:  # e.g. --pareto 1e-5 and --grid hgq.beta=1e-5: one run folder for two points
        same = " and ".join(f"{p.label} ({p.group})" for p in points if p.name == dup)
        raise TrigdeployError(f"scan: point {dup} is given twice: {same} are one run")
    # absolute paths: a Dask worker may run elsewhere (it must see the run's folder at the same path)
    parent_dir = Path(parent_dir).resolve()
    opts = dataclasses.replace(opts, **{k: Path(getattr(opts, k)).resolve() for k in _ROOTS if getattr(opts, k)})
    parent = RunLayout.of(parent_dir, opts.export_root, opts.firmware_root)
    if not parent.metrics.is_file():
        raise TrigdeployError(f"{parent.metrics} not found: train the run first (trigdeploy train)")
    found: list[dict | None] = [None] * len(points)
    cores = len(os.sched_getaffinity(0))
    n = max(1, min(len(points), workers or cores))
    opts = dataclasses.replace(opts, threads=opts.threads or point_threads(cores, n, dask is not None))
    if dask is None and n == 1:
        return [run_point(parent_dir, p, opts) for p in points]
    logger.info("scan: %d points, %s", len(points), "on Dask" if dask is not None else f"{n} at a time")
    order = sorted(range(len(points)), key=lambda i: expected_work(parent, points[i]), reverse=True)
    with _executor(dask, n) as (submit, wait):  # the longest first: the last to finish are the short ones
        futures = {submit(run_point, parent_dir, points[i], opts): i for i in order}
        error = None
        for fut in wait(futures):
            i = futures[fut]
            try:
                found[i] = fut.result()
            except Exception as exc:  # the others keep running; their work is kept
                error = error or exc
                continue
            logger.info("scan: %s done", points[i].label)
    if error is not None:
        raise error
    return found


@contextlib.contextmanager
def _executor(dask, n: int) -> Iterator[tuple]:
    """``(submit, as_completed)`` of a spawn process pool of ``n`` workers, or of a Dask client for ``dask``."""
    if dask is None:
        level = logging.getLogger("trigdeploy").getEffectiveLevel()
        with ProcessPoolExecutor(n, multiprocessing.get_context("spawn"), _worker_logging, (level,)) as pool:
            yield pool.submit, as_completed
        return
    from distributed import as_completed as dask_completed

    from trigdeploy.cluster import dask_client

    with dask_client(dask, "scan.dask") as client:
        yield (lambda fn, *args: client.submit(fn, *args, pure=False)), dask_completed
