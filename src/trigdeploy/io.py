"""Atomic file writing: an artifact is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from trigdeploy.errors import TrigdeployError

# what atomic_path and the export leave while they work: ``.<name>.partial-<pid>@<host><suffix>``. The
# host keeps a process on another node of a shared file system (Dask generation, DDP) from taking a
# live partial file there for a dead one.
_PARTIAL = re.compile(r"\.(?P<name>.+)\.partial-(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9_-]+))?(?P<suffix>(?:\..*)?)")


def host_tag() -> str:
    """This machine's name as it may appear in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this machine?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partial_name(final: Path) -> Path:
    """The temporary name beside ``final`` that this process writes before moving it into place."""
    final = Path(final)
    return final.with_name(f".{final.stem}.partial-{os.getpid()}@{host_tag()}{final.suffix}")


_BUILD_LOCKS: dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def build_lock(final: Path) -> Iterator[None]:
    """Held by one thread of this process at a time per cache entry ``final``: the staging folder of a
    build is this process's (``partial_name``), so two of its threads building one key take turns, and
    the second finds the entry published. Other processes stage in folders of their own."""
    with _BUILD_LOCKS_GUARD:
        lock = _BUILD_LOCKS.setdefault(str(Path(final).resolve()), threading.Lock())
    with lock:
        yield


def remove_stale_partials(directory: Path) -> list[Path]:
    """Remove the ``.partial-<pid>@<host>`` files and folders in ``directory`` written on this host by a
    process that is gone (a SIGKILL, a power cut): they are never complete. Returns what was removed."""
    removed = []
    host = host_tag()
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in Path(directory).iterdir():
            m = _PARTIAL.fullmatch(entry.name)
            if m and m["host"] in (None, host) and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


STOPPING = threading.Event()  # set once this process is being stopped: no new tool is started


def stop_children(grace: float = 3.0) -> None:
    """Stop every process this one started (compilers, Yosys, GHDL, worker pools), so that a SIGTERM is
    honoured now rather than when the running tools finish; then nothing new is started (``STOPPING``)."""
    import psutil

    STOPPING.set()
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def publish_build(staging: Path, final: Path, complete: str) -> None:
    """Move this process's finished ``staging`` folder to ``final``, a cache entry keyed by its inputs.
    When another process published the same key first (``final/complete`` exists), its entry is kept
    (it may be in use) and ``staging`` is dropped: concurrent builds of one key never remove each other's."""
    try:
        os.rename(staging, final)  # succeeds when final is absent (or an empty folder)
        return
    except OSError:
        if (Path(final) / complete).exists():
            shutil.rmtree(staging, ignore_errors=True)
            return
    shutil.rmtree(final, ignore_errors=True)  # an incomplete entry nobody can use
    os.replace(staging, final)


def named_os_error(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its file name when the OS gave none (ENOSPC from a flush, …)."""
    if exc.filename is not None:
        return exc
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or os.strerror(code) or str(exc), str(path))


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only if the block succeeds.

    The temporary name keeps the suffix so that libraries that dispatch on it still work.
    On any exception (including KeyboardInterrupt and SIGTERM, see ``cli``) the temporary file is
    removed; temporary files of dead processes beside it are removed first. An OS error without a
    file name (a full disk during a flush) is re-raised naming ``final``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final.parent)
    tmp = partial_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        raise named_os_error(exc, final) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # companions a library wrote beside the temporary file (ONNX external data: "<tmp>.data")
        for extra in tmp.parent.glob(f"{tmp.name}.*"):
            extra.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float as None: JSON (RFC 8259) has no inf or NaN, and jq, browsers
    and Go refuse Python's ``Infinity``. A 1/εB is infinite when no background event passes: null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, strictly valid JSON to ``path`` atomically (non-finite floats: null)."""
    write_text_atomic(path, json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


T = TypeVar("T")


def read_json_as(path: Path, parse: Callable[[Any], T], what: str, again: str) -> T:
    """``parse`` of the JSON at ``path``, for the typed readers of what one stage writes and another reads:
    a file that is not JSON, or that ``parse`` cannot read (a key missing, a value of another type), is one
    line naming it and ``what`` it should be, and what to run ``again``."""
    try:
        return parse(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrigdeployError(
            f"{path}: not a {what} of this trigdeploy ({type(exc).__name__}: {exc}); {again}"
        ) from None


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
