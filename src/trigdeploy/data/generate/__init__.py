"""Offline data generators writing the exact public file layouts.

Each ``write_*`` function is the file wrapper of one generator: typed parameters in, one file
out (atomically), a small summary dict back. ``generate_config_data`` writes the files a run
config names, so ``trigdeploy data --config C`` and ``make data`` need no other arguments.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from tqdm import tqdm

from trigdeploy.config import RunConfig
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import AtlasMiniGenConfig, PythiaGenConfig, ToptagGenConfig


def _check_common(jets: int, chunk_size: int, signal_fraction: float | None = None) -> None:
    if jets <= 0:
        raise TrigdeployError(f"number of jets/events must be positive, got {jets}")
    if chunk_size <= 0:
        raise TrigdeployError(f"chunk_size must be positive, got {chunk_size}")
    if signal_fraction is not None and not 0.0 <= signal_fraction <= 1.0:
        raise TrigdeployError(f"signal_fraction must be within [0, 1], got {signal_fraction}")


def _check_out(out: Path) -> Path:
    out = Path(out)
    if out.is_dir():
        raise TrigdeployError(f"output path is a directory, expected a file: {out}")
    return out


def write_toptag(params: ToptagGenConfig, out: Path, progress: bool = True) -> dict:
    """Write ``params.jets`` jets in the Top Quark Tagging layout to ``out``.

    Rows are shuffled within each chunk; the same parameters give a byte-identical table.
    """
    from trigdeploy.data.generate import toptag
    from trigdeploy.data.generate.writers import split_counts, toptag_writer, write_jet_chunks

    out = _check_out(out)
    _check_common(params.jets, params.chunk_size, params.signal_fraction)
    if params.n_constituents <= 0:
        raise TrigdeployError(f"n_constituents must be positive, got {params.n_constituents}")
    start = time.perf_counter()
    chunks = split_counts(params.jets, params.chunk_size, params.signal_fraction)
    with (
        toptag_writer(out, params.n_constituents, params.ttv, params.jets) as writer,
        tqdm(total=params.jets, unit="jet", desc=f"toptag → {out.name}", disable=not progress) as bar,
    ):
        write_jet_chunks(
            writer,
            chunks,
            params.seed,
            lambda rng, n, signal: toptag.generate_chunk(rng, n, signal, params.n_constituents),
            bar.update,
        )
    return {"file": str(out), "rows": params.jets, "seconds": time.perf_counter() - start}


def write_pythia(params: PythiaGenConfig, out: Path, progress: bool = True) -> dict:
    """Generate jets with Pythia8 + FastJet (extra ``[gen]``) into the Top Quark Tagging layout."""
    from trigdeploy.data.generate import pythia

    out = _check_out(out)
    _check_common(params.jets, params.chunk_size, params.signal_fraction)
    return pythia.write(params, out, progress=progress)


def write_atlas_mini(params: AtlasMiniGenConfig, out: Path, progress: bool = True) -> dict:
    """Write ``params.events`` events as an ATLAS Open Data 8 TeV ``mini`` tree to ``out``."""
    from trigdeploy.data.generate import atlas_mini

    out = _check_out(out)
    _check_common(params.events, params.chunk_size)
    return atlas_mini.write(params, out, progress=progress)


WRITERS = {"toptag": write_toptag, "pythia": write_pythia, "atlas_mini": write_atlas_mini}


def generate_config_data(cfg: RunConfig, force: bool = False, progress: bool = True) -> list[dict]:
    """Generate every file in ``cfg.data.files`` from ``cfg.data.generate``.

    Files that exist are kept unless ``force``; file ``i`` uses seed ``seed + i`` so that several
    files of one config are independent samples.
    """
    if cfg.data.generate is None:
        raise TrigdeployError(f"{cfg.source}: no 'data.generate' section: this config reads existing files")
    name, params = cfg.data.generate.chosen()
    results: list[dict | None] = []
    jobs = []
    for i, file in enumerate(cfg.data.files):
        path = Path(file)
        if path.exists() and not force:
            results.append({"file": str(path), "skipped": "exists (use --force to regenerate)"})
            continue
        jobs.append((len(results), dataclasses.replace(params, seed=params.seed + i), path))
        results.append(None)
    if cfg.data.generate.dask is None:
        for k, file_params, path in jobs:
            results[k] = WRITERS[name](file_params, path, progress=progress)
    elif jobs:
        for (k, _, _), result in zip(jobs, _on_dask(cfg.data.generate.dask, WRITERS[name], jobs)):
            results[k] = result
    return results


def _on_dask(cluster_cfg, writer, jobs: list) -> list[dict]:
    """Run one writer call per file on a Dask cluster (the files must be on storage the workers share)."""
    from trigdeploy.cluster import dask_client

    with dask_client(cluster_cfg, "data.generate.dask") as client:
        futures = [client.submit(writer, p, path.resolve(), False, pure=False) for _, p, path in jobs]
        return client.gather(futures)
