"""The feature cache: one streaming pass writes features, labels and final split codes of every row
to ``<run>/cache/<key>/`` (memory-mapped ``.npy``), keyed by the files and the config that shape
them; ``Prepared`` is what trainers read, ``load_split`` what export, csim and bench read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trigdeploy.config import RunConfig
from trigdeploy.data.chunks import ChunkComputer, chunk_digest
from trigdeploy.data.featurecache import CODES, FEATURES, LABELS, META, FeatureCache
from trigdeploy.data.labels import BINARY
from trigdeploy.data.runner import ChunkRunner, Interrupted
from trigdeploy.data.scaling import Standardizer
from trigdeploy.data.splits import SPLITS, UNUSED, split_seed
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import host_tag, named_os_error, pid_alive, remove_stale_partials, sha256_file
from trigdeploy.layout import RunLayout
from trigdeploy.schema import to_dict

logger = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: τ_N axes and energy correlators in float64 (compiled, chunk-independent)
CACHE_MARKER = ".trigdeploy-cache"  # in every cache folder trigdeploy writes: only those are ever deleted


@dataclass
class Prepared:
    """The outcome of ``prepare``: what a trainer needs, with the cache it streams from."""

    run_dir: Path
    features: list[str]
    scaler: Standardizer
    n_rows: int
    codes: np.ndarray  # split code per row (UNUSED for rows dropped by selection/NaN)
    cache_dir: Path
    report: dict = field(default_factory=dict)
    cache_built: bool = False  # this call streamed the files (False: the cache was reused)
    build: dict = field(default_factory=dict)  # how that pass ran: seconds, rows computed, chunks resumed, workers

    @property
    def classes(self) -> tuple[str, ...]:
        """The label's classes, in the order of their indices (``background, signal`` when binary)."""
        return classes_of(self.report)

    @property
    def n_outputs(self) -> int:
        """A network's outputs for this label: one logit for two classes, K for K."""
        return 1 if len(self.classes) == 2 else len(self.classes)

    def open_cache(self) -> tuple[np.ndarray, np.ndarray]:
        """The cached features and labels of every row, memory-mapped (unscaled)."""
        cache = FeatureCache(self.cache_dir)
        return cache.features(), cache.labels()

    def rows(self, split: str) -> np.ndarray:
        """The cache rows of ``split`` (train, val or test), in file order."""
        return np.flatnonzero(self.codes == SPLITS[split])

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All rows of one split, scaled (fits in memory for the engineered feature sets)."""
        x, y = self.open_cache()
        rows = self.rows(split)
        return self.scaler.transform(np.asarray(x[rows])), np.asarray(y[rows])

    def batches(self, split: str, batch_rows: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(X scaled, y, global rows)`` of one split, in file order, ``batch_rows`` at a time."""
        x, y = self.open_cache()
        rows = self.rows(split)
        for i in range(0, len(rows), batch_rows):
            r = rows[i : i + batch_rows]
            yield self.scaler.transform(np.asarray(x[r])), np.asarray(y[r]), r


def _file_fingerprint(path: str) -> dict:
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(cfg: RunConfig, files: list[str]) -> str:
    """The feature cache's key: the input files' fingerprints and every setting that shapes the cached arrays."""
    payload = {
        "version": CACHE_VERSION,
        "files": [_file_fingerprint(f) for f in files],
        "data": {
            k: v for k, v in to_dict(cfg.data).items() if k not in ("files", "generate", "prefetch", "workers", "dask")
        },
        "label": to_dict(cfg.label),
        "features": to_dict(cfg.features),
        "leak_guard": to_dict(cfg.leak_guard),
        "split": to_dict(cfg.split),
        "seed": split_seed(cfg),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_prepared(run_dir: Path) -> Prepared:
    """The data stage's outcome read back from a run directory, writing nothing (``prepare``
    must have run there: it is how the other ranks of a distributed run see rank 0's cache)."""
    run_dir = Path(run_dir)
    try:
        layout = RunLayout.of(run_dir)
        report = json.loads(layout.features.read_text())
        scaler = Standardizer.load(layout.preprocess)
        cache_dir = Path(report["cache"])
        codes = FeatureCache(cache_dir).codes()
    except (OSError, KeyError, ValueError) as exc:
        raise TrigdeployError(f"{run_dir}: no complete data stage to read ({exc}); run prepare first") from None
    return Prepared(run_dir, list(report["features"]), scaler, len(codes), codes, cache_dir, report, False)


def _clear_stale(cache_dir: Path) -> Path:
    """Remove what earlier passes left beside ``cache_dir`` (caches of other keys, partial files, building
    folders no live pass owns; only what trigdeploy wrote); the building folder of this one."""
    parent = cache_dir.parent
    remove_stale_partials(parent)
    for old in parent.glob("*/" + CACHE_MARKER):  # other keys are stale: files or config changed
        if old.parent.name != cache_dir.name:
            shutil.rmtree(old.parent)  # only what trigdeploy wrote (it carries the marker)
    building = parent / f".{cache_dir.name}.building"
    for old in parent.glob(".*.building"):
        if old != building and _claimable(old):
            shutil.rmtree(old)
    return building


def _counts(building: Path, n_classes: int, done: dict) -> dict:
    """Rows per split and class, unused rows, and the NaN rows dropped and values imputed by the chunks."""
    cache = FeatureCache(building)
    final, y = cache.codes(), cache.labels()
    counts = {
        name: [int(((final == code) & (y == c)).sum()) for c in range(n_classes)] for name, code in SPLITS.items()
    }
    del y
    counts["unused"] = int((final == UNUSED).sum())
    counts["nan"] = {what: sum(r["nan"][what] for r in done.values()) for what in ("dropped", "imputed_values")}
    return counts


def build_cache(
    ds, cache_dir: Path, computer: ChunkComputer, codes: np.ndarray, runner: ChunkRunner, progress: bool
) -> tuple[dict, dict]:
    """Stream every row once into ``cache_dir`` (features, labels, final split codes); returns the
    counts and how the pass ran (``{}`` when the cache existed).

    The chunks run where ``runner`` runs them (this process, local worker processes, a Dask
    cluster); each writes only its own rows. The arrays are built in ``.<key>.building/`` beside ``cache_dir`` and
    moved into place when every chunk is done; a ``prepare`` that was killed finds that folder, keeps
    the chunks whose records match what is on disk and computes only the others.
    """
    cache = FeatureCache(cache_dir)
    if cache.complete:
        return cache.meta()["counts"], {}
    building = _clear_stale(cache_dir)
    ranges = ds.ranges()
    plan = {
        "version": CACHE_VERSION,
        "rows": ds.n_rows,
        "features": computer.builder.names,
        "ranges": ranges,
        "impute": None if computer.impute is None else hashlib.sha256(computer.impute.tobytes()).hexdigest(),
    }
    done = _claim(building, plan, codes, len(computer.builder.names))  # a refusal touches nothing of another's
    try:
        todo = [r for r in ranges if r[0] not in done]
        if done:
            logger.info("%s: resuming: %d of %d chunks already written", cache_dir, len(done), len(ranges))
        stats = _run_chunks(ds, computer, building, codes, runner, done, (todo, len(ranges)), progress)
        counts = _counts(building, computer.label.n_classes, done)
        shutil.rmtree(building / "chunks")
        for name in ("plan.json", OWNER):
            (building / name).unlink()
        (building / CACHE_MARKER).write_text("feature cache written by trigdeploy prepare; safe to delete\n")
        (building / META).write_text(json.dumps({"counts": counts, "features": computer.builder.names}))
        building.rename(cache_dir)
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C, SIGTERM, a lost worker: the chunks written are kept
        with contextlib.suppress(OSError):
            (building / OWNER).unlink()
        raise
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise named_os_error(exc, cache_dir) from exc
    except BaseException:  # bad input: starting again would meet it again
        shutil.rmtree(building, ignore_errors=True)
        raise
    return counts, stats


def _run_chunks(
    ds,
    computer: ChunkComputer,
    building: Path,
    codes: np.ndarray,
    runner: ChunkRunner,
    done: dict,
    work: tuple[list, int],
    progress: bool,
) -> dict:
    """Compute the chunks still to do (``work``: their ranges, and how many the cache has in all) into
    ``building``, recording each in ``done``: how the pass ran."""
    todo, n_chunks = work
    t0 = time.perf_counter()
    with tqdm(
        total=ds.n_rows,
        initial=sum(r["stop"] - r["start"] for r in done.values()),
        unit="row",
        desc="features",
        disable=not progress,
    ) as bar:
        for record in runner.run(ds, computer, building, codes, todo):
            done[record["start"]] = record
            bar.update(record["stop"] - record["start"])
    seconds = time.perf_counter() - t0
    computed = sum(b - a for a, b in todo)
    stats = {
        "seconds": seconds,
        "rows_computed": computed,
        "rows_per_s": computed / max(seconds, 1e-9),
        "chunks": n_chunks,
        "chunks_resumed": n_chunks - len(todo),
        "workers": runner.describe(),
    }
    logger.info(
        "feature cache: %d rows in %.1f s (%.0f rows/s, %s)",
        computed,
        seconds,
        stats["rows_per_s"],
        stats["workers"],
    )
    return stats


OWNER = "owner"


_OWNER_LINE = re.compile(r"(?P<pid>[0-9]{1,10})@(?P<host>[A-Za-z0-9_-]+)")


def _claimable(building: Path) -> bool:
    """Whether no live process on this host is writing ``building`` (another host's is never taken).
    An owner file that is not ``<pid>@<host>`` names no process: the folder is claimable."""
    try:
        m = _OWNER_LINE.fullmatch((building / OWNER).read_text(errors="replace").strip())
    except (FileNotFoundError, NotADirectoryError):
        return True
    if m is None:
        logger.warning("%s: unreadable owner file (expected <pid>@<host>); taking the build over", building)
        return True
    pid = int(m["pid"])
    return m["host"] == host_tag() and (pid == os.getpid() or not pid_alive(pid))


def _claim(building: Path, plan: dict, codes: np.ndarray, n_features: int) -> dict[int, dict]:
    """Claim ``building`` for this process, or refuse (one line) while another live process writes it;
    returns the verified records of the chunks already in it. Only the owner ever removes a build."""
    if building.exists() and not _claimable(building):
        owner = (building / OWNER).read_text(errors="replace").strip()
        raise TrigdeployError(
            f"{building}: another prepare ({owner}) is writing this feature cache; wait for it or stop it"
        )
    try:
        return _open_building(building, plan, codes, n_features)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise named_os_error(exc, building) from exc


def _valid_record(record, ranges: list) -> bool:
    """Whether a chunk record read back has the shape ``process_chunk`` writes, for a chunk of ``ranges``."""
    return (
        isinstance(record, dict)
        and type(record.get("start")) is int
        and type(record.get("stop")) is int
        and [record["start"], record["stop"]] in ranges
        and isinstance(record.get("sha256"), str)
        and isinstance(record.get("nan"), dict)
        and all(type(record["nan"].get(k)) is int for k in ("dropped", "imputed_values"))
    )


def _open_building(building: Path, plan: dict, codes: np.ndarray, n_features: int) -> dict[int, dict]:
    """Take ``building`` over and return the verified records of the chunks already in it, by start row
    (none when it is new or was written for another plan); a bad record's chunk is computed again."""
    done: dict[int, dict] = {}
    plan = json.loads(json.dumps(plan))  # as it reads back from plan.json (ranges as lists)
    if building.is_dir() and _read_json(building / "plan.json") == plan:
        (building / OWNER).write_text(f"{os.getpid()}@{host_tag()}")
        for path in sorted((building / "chunks").glob("*.json")):
            record = _read_json(path)
            if (
                _valid_record(record, plan["ranges"])
                and chunk_digest(building, record["start"], record["stop"]) == record["sha256"]
            ):
                done[record["start"]] = record
            else:
                logger.warning(
                    "%s: chunk record %s is malformed or does not match the arrays; computing it again",
                    building,
                    path.name,
                )
                path.unlink()
        return done
    if building.is_symlink() or building.is_file():
        building.unlink()
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    (building / OWNER).write_text(f"{os.getpid()}@{host_tag()}")
    (building / "chunks").mkdir()
    n = plan["rows"]
    arrays = {FEATURES: (np.float32, (n, n_features)), LABELS: (np.uint8, (n,)), CODES: (codes.dtype, (n,))}
    for name, (dtype, shape) in arrays.items():
        a = np.lib.format.open_memmap(building / name, mode="w+", dtype=dtype, shape=shape)
        if name == CODES:
            a[:] = codes
        a.flush()
        del a
        # reserve the blocks: a full disk is an error now, not a SIGBUS when a page is written later
        with open(building / name, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    (building / "plan.json").write_text(json.dumps(plan))  # last: a plan means the arrays are allocated
    return done


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None


def classes_of(report: dict) -> tuple[str, ...]:
    """The label classes named by a data-stage report (``features.json``), in index order; binary
    reports name none."""
    return tuple(report.get("label", {}).get("classes", BINARY))


def run_classes(run_dir: Path) -> tuple[str, ...]:
    """The label classes of a prepared run, in index order (``background, signal`` when binary)."""
    try:
        report = json.loads(RunLayout.of(Path(run_dir)).features.read_text())
    except (OSError, ValueError):
        raise TrigdeployError(f"{run_dir}: no readable features.json; run trigdeploy prepare or train first") from None
    return classes_of(report)


def load_split(run_dir: Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """One split of a finished run: scaled features (float32) and labels, from its feature cache."""
    run_dir = Path(run_dir)
    layout = RunLayout.of(run_dir)
    if not layout.metrics.is_file():
        raise TrigdeployError(f"run {run_dir} is incomplete (no metrics.json): run trigdeploy train first")
    splits = np.load(layout.splits)
    caches = [FeatureCache(p) for p in layout.feature_caches.iterdir() if FeatureCache(p).complete]
    if len(caches) != 1:
        raise TrigdeployError(
            f"run {run_dir}: expected one feature cache in {layout.feature_caches}, found {len(caches)}"
        )
    codes = caches[0].codes()
    if not np.array_equal(np.flatnonzero(codes == 2), splits["test"][codes[splits["test"]] == 2]):
        raise TrigdeployError(f"run {run_dir}: feature cache and splits.npz disagree; train the run again")
    rows = np.flatnonzero(codes == {"train": 0, "val": 1, "test": 2}[split])
    x = caches[0].features()[rows]
    y = caches[0].labels()[rows]
    return Standardizer.load(layout.preprocess).transform(x), np.asarray(y)


def data_stage_print(run_dir: Path) -> str:
    """A digest of a run's data stage as it is on disk (``features.json``, ``preprocess.json``, ``splits.npz``
    and the feature cache's ``meta.json``): what a run that reuses another's data stage depends on."""
    layout = RunLayout.of(run_dir)
    files = [layout.features, layout.preprocess, layout.splits, *sorted(layout.feature_caches.glob("*/meta.json"))]
    digest = [[f.name, sha256_file(f) if f.is_file() else None] for f in files]
    return hashlib.sha256(json.dumps(digest).encode()).hexdigest()[:16]
