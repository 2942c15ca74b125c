"""The generated Top Quark Tagging files the data benchmarks share (written once, kept in ``--dir``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

SIZES = [300_000, 1_211_000]  # a mid-size file and the public training file's size


def toptag_file(directory: Path, jets: int) -> Path:
    """``<directory>/toptag_<jets>.h5`` (absolute), generated with ``trigdeploy data toptag`` if missing."""
    path = (Path(directory) / f"toptag_{jets}.h5").resolve()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "trigdeploy.cli",
                "data",
                "toptag",
                "--out",
                str(path),
                "--jets",
                str(jets),
                "--quiet",
            ],
            check=True,
        )
    return path


def best_of(repeat: int, modes: Iterable[str], measure: Callable[[str], dict]) -> dict[str, dict]:
    """The fastest of ``repeat`` runs of each mode (by ``seconds``), the modes interleaved so that
    no mode always meets a cold page cache."""
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for mode in modes:
            r = measure(mode)
            if mode not in best or r["seconds"] < best[mode]["seconds"]:
                best[mode] = r
    return best
