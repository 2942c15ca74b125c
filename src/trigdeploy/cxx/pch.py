"""A precompiled header of what an hls4ml project's C++ reads before its own code (compile speed only).

Every translation unit trigdeploy compiles of an hls4ml project with the vendor headers (the firmware, the
harness that includes its bridge, its testbench) first parses the same headers: ``td_weights.h``, the
standard library, the ``ap_`` types, ``hls_stream.h`` and the ``nnet_utils`` templates that its
``parameters.h`` names, about a fifth of each compile. ``prepare`` compiles them into a GCC precompiled
header in the build cache, keyed by the compiler, the flags, the defines, the list of headers and the bytes of
every file under the project's ``firmware/ap_types`` and ``firmware/nnet_utils`` (every model of one backend
and the same layers shares it, a retrained one too), the second time a compile asks for that key; the compile
then reads it first (``-include``). The code compiled is the same: the project's own headers still include
these files, whose include guards then skip them, and the objects are byte-identical to those built without
it (tests/cxx/test_pch.py compares them). The build keys of the harness and testbench ignore the header for
this reason.

The folder holds copies of the headers it was compiled from, under the project's own relative paths, and
``__FILE__`` is mapped to them as in a compile inside the project (``./firmware/nnet_utils/…``): where GCC
declines a precompiled header it reads ``td_pch.h`` as text from those copies, with the same result.
A header that does not compile is reported in the log and the project is compiled without it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from pathlib import Path

from trigdeploy import timing
from trigdeploy.io import build_lock, partial_name, publish_build, remove_stale_partials

logger = logging.getLogger(__name__)

HEADER = "td_pch.h"
GCH = HEADER + ".gch"
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_FOLDERS = ("ap_types", "nnet_utils")  # under the project's firmware/, copied into the header's folder


def applies(project, arithmetic: str) -> bool:
    """Whether ``project`` gets a precompiled header: an hls4ml project built with the vendor headers it ships."""
    if project.kind != "hls4ml" or arithmetic != "vendor":
        return False
    fw = Path(project.path) / "firmware"
    return all((fw / d).is_dir() for d in _FOLDERS) and all((fw / f).is_file() for f in _scanned(project))


def _scanned(project) -> tuple[str, ...]:
    """The project's files whose includes the header repeats, in the order a firmware unit reads them."""
    return (f"{project.top}.cpp", f"{project.top}.h", "defines.h", "parameters.h")


def includes(project) -> list[str]:
    """The ``#include`` lines of the header: the preincludes (``td_weights.h``), then the system, ``ap_``/``hls_``
    and ``nnet_utils`` headers the project's firmware includes, each once, in the order it first reads them.
    The project's own headers (``defines.h``, ``parameters.h``, ``weights/``) are not among them."""
    lines = [f'#include "{Path(p).name}"' for p in project.preincludes]
    fw = Path(project.path) / "firmware"
    for name in _scanned(project):
        for kind, inc in _INCLUDE.findall((fw / name).read_text(errors="replace")):
            if kind == "<":
                line = f"#include <{inc}>"
            elif inc.startswith("nnet_utils/"):
                line = f'#include "firmware/{inc}"'
            elif inc.startswith(("ap_", "hls_")) and "/" not in inc:
                line = f'#include "{inc}"'
            else:
                continue
            if line not in lines:
                lines.append(line)
    return lines


def _key(project, flags: tuple[str, ...], text: str, compiler: str) -> str:
    h = hashlib.sha256()
    for part in (compiler, *flags, *project.defines, text):
        h.update(part.encode() + b"\0")
    fw = Path(project.path) / "firmware"
    files = [(Path(p).name, Path(p)) for p in project.preincludes]
    for folder in _FOLDERS:
        files += [(str(p.relative_to(fw)), p) for p in sorted((fw / folder).rglob("*")) if p.is_file()]
    for name, p in files:
        h.update(name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:20]


def prepare(project, cache_dir: Path, flags: tuple[str, ...], cxx: str, compiler: str) -> Path | None:
    """The precompiled header's ``td_pch.h`` (its ``.gch`` beside it) for ``project`` compiled with ``flags`` by
    ``cxx`` (``compiler``: its version line), found in ``cache_dir`` or built there the second time its key is
    asked for (the first compile of a header set goes without: a cache that compiles it once, as a test's does,
    would spend 2-3 s and 90 MB to save 1); None then, or where it does not compile (logged: the project then
    compiles without it)."""
    text = "\n".join(includes(project)) + "\n"
    final = Path(cache_dir).resolve() / f"pch-{_key(project, flags, text, compiler)}"  # it compiles in its folder
    with build_lock(final):
        if (final / GCH).is_file():
            timing.add(f"precompiled header for {project.path.name}", 0.0, cached=True)
            return final / HEADER
        seen, failed = (final.with_name(f".{final.name}.{end}") for end in ("seen", "failed"))
        if failed.is_file():  # this key's header did not compile: not tried again
            return None
        if not seen.is_file():
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            seen.touch()
            return None
        with timing.step(f"precompiled header for {project.path.name}"):
            return _build(project, final, text, flags, cxx, failed)


def _build(project, final: Path, text: str, flags: tuple[str, ...], cxx: str, failed: Path) -> Path | None:
    """Copy the headers into this process's staging folder, compile ``td_pch.h`` there and publish it as ``final``
    (or, where it does not compile, write the compiler's error line to ``failed``; a killed compiler is not a
    failure of the header: the next compile asks again)."""
    Path(final).parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(Path(final).parent)
    staging = partial_name(final)
    shutil.rmtree(staging, ignore_errors=True)
    fw = Path(project.path) / "firmware"
    for folder in _FOLDERS:
        shutil.copytree(fw / folder, staging / "firmware" / folder)
    for p in project.preincludes:
        shutil.copyfile(p, staging / Path(p).name)
    (staging / HEADER).write_text(text)
    cmd = [cxx, *flags, f"-fmacro-prefix-map={staging}=.", f"-I{staging}", f"-I{staging / 'firmware' / 'ap_types'}"]
    cmd += [*(f"-D{d}" for d in project.defines), "-x", "c++-header", HEADER, "-o", GCH]
    done = subprocess.run(cmd, cwd=staging, capture_output=True, text=True)
    (staging / "build.log").write_text(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        line = next((ln for ln in lines if "error" in ln), lines[-1]).strip()
        logger.warning(
            f"{project.path}: no precompiled header ({cxx} exit {done.returncode}: {line}); compiled without"
        )
        shutil.rmtree(staging, ignore_errors=True)
        if done.returncode == 1:  # the compiler's error, not a killed compiler (a signal, SIGTERM): remembered
            failed.write_text(line + "\n")
        return None
    publish_build(staging, final, GCH)
    return final / HEADER


def compile_options(header: Path) -> list[str]:
    """The options that read ``header`` (from ``prepare``) first in a compile: its folder mapped in ``__FILE__``
    as the project is, so that a textual read of its copies names them as the project's own files."""
    return [f"-fmacro-prefix-map={header.parent}=.", f"-include{header}"]
