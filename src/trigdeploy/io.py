"""Atomic file writing: an artifact is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trigdeploy.errors import TrigdeployError


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only if the block succeeds.

    The temporary name keeps the suffix so that libraries that dispatch on it still work.
    On any exception (including KeyboardInterrupt) the temporary file is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.partial-{os.getpid()}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def require_input_file(path: Path, kind: str) -> Path:
    """``path`` as a Path if it is a non-empty file; otherwise a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise TrigdeployError(f"data file not found: {path}")
    if not path.is_file():
        raise TrigdeployError(f"data path is a directory, expected {kind}: {path}")
    if path.stat().st_size == 0:
        raise TrigdeployError(f"{path}: file is empty, expected {kind}")
    return path
