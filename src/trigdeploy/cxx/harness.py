"""Batched C simulation: a generated project's own firmware C++, compiled once, run on whole arrays.

The harness adds one translation unit beside the project's sources (never inside the project):
a ``td_batch(x, y, n)`` loop that converts each event's doubles to the top function's input type
exactly as the project's own bridge/testbench does, calls the top function, and writes the
outputs back as doubles. The arithmetic is the project's C++ against the ``ap_`` headers, so it
is what Vitis/Vivado ``csim_design`` computes. Events are split over OpenMP threads after one
serial warm-up call (hls4ml initialises lookup tables in function statics on first use).

Two arithmetics build from the same sources. ``vendor``: the ``ap_`` headers hls4ml ships, the
code Vitis compiles. ``fast``: trigdeploy's ``fast_ap`` headers first on the include path, an
implementation of the same ``ap_fixed`` specification in 32/64-bit machine integers (checked
value by value against the vendor headers in tests/cxx/test_fast_ap.py), about 40× faster. Where the fast headers do not
cover a project (wider than 64 bits, unsupported modes) they fail to compile and ``load`` falls
back to the vendor build; the failure is cached too.

Builds are cached under ``cache_dir/<hash>/`` where the hash covers the compiler, its flags, the
arithmetic and the code itself: for hls4ml projects the preprocessed translation units (what the
compiler reads, wherever the project lies), for conifer projects the firmware files. hls4ml's C
simulation reads its weights from text files at run time (``td_weights.h``), so a build depends on the
layers and their types, not on the weights: export's check, csim, the testbench and a retrained
model of the same architecture share it. Each project loads its own copy of the library (the
firmware keeps the weights it loaded in function statics).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.cxx import pch
from trigdeploy.cxx.hls_project import Project, inspect
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import STOPPING, build_lock, partial_name, publish_build, remove_stale_partials

CXX = "g++"
FAST_AP = Path(__file__).resolve().parent / "fast_ap"
FLAGS = ("-O2", "-std=c++14", "-fPIC", "-fopenmp", "-w")
# -fwrapv: hls4ml indexes its weight and product arrays with `ii * CONFIG_T::n_out + jj`, where n_out
# is unsigned; gcc 12 then cannot prove the index affine and leaves every dense loop scalar. With
# signed overflow defined (which changes no well-defined program) it vectorizes them: 2-3x faster.
FAST_FLAGS = ("-O3", "-fwrapv", "-std=c++14", "-fPIC", "-fopenmp", "-w")
ARITHMETIC = {
    "vendor": "the ap_ headers shipped with hls4ml (what Vitis compiles)",
    "fast": "trigdeploy fast_ap headers (ap_fixed in machine integers, checked against the vendor headers)",
}


@functools.lru_cache(maxsize=8)
def compiler_id(cxx: str = CXX) -> str:
    """The first line of ``cxx --version``: what every build key of a C++ compile names its compiler by."""
    if shutil.which(cxx) is None:
        raise TrigdeployError(f"C simulation needs {cxx} on PATH")
    return subprocess.run([cxx, "--version"], check=True, capture_output=True, text=True).stdout.splitlines()[0]


def flags(project: Project, arithmetic: str = "vendor") -> tuple[str, ...]:
    """The compiler flags of ``project``'s build in ``arithmetic`` (the testbench links with the vendor ones)."""
    if arithmetic not in ARITHMETIC:
        raise TrigdeployError(f"C simulation: arithmetic must be one of {sorted(ARITHMETIC)}, got {arithmetic!r}")
    if arithmetic == "fast":
        return (*FAST_FLAGS, *project.flags)
    return (*FLAGS, *project.flags, *project.vendor_flags)  # gcc: the last -O wins


def precompiled(project: Project, cache_dir: Path, arithmetic: str = "vendor") -> Path | None:
    """The precompiled header of ``project``'s compiles in ``arithmetic`` (``cxx.pch``), found in or added to
    ``cache_dir``; None where it has none."""
    if not pch.applies(project, arithmetic):
        return None
    return pch.prepare(project, cache_dir, flags(project, arithmetic), CXX, compiler_id())


def _includes(project: Project, arithmetic: str) -> tuple[Path, ...]:
    return (FAST_AP, *project.includes) if arithmetic == "fast" else project.includes


def compile_args(project: Project, arithmetic: str = "vendor", header: Path | None = None) -> list[str]:
    """``g++`` and every option a translation unit of ``project`` is compiled with in ``arithmetic``, reading
    the precompiled ``header`` first where one is given (``precompiled``; the same objects).
    ``__FILE__`` (hls4ml's asserts) names files relative to the project, so that the code compiled
    does not depend on where the project lies, whether its path is given absolute or relative (export
    builds a project in its staging folder, csim where it was moved: both must find one cache entry)."""
    maps = dict.fromkeys((str(project.path.resolve()), str(project.path)))
    return [
        CXX,
        *flags(project, arithmetic),
        *[f"-fmacro-prefix-map={m}=." for m in maps],
        *(pch.compile_options(header) if header else [f"-include{p}" for p in project.preincludes]),
        *[f"-I{p}" for p in _includes(project, arithmetic)],
        *[f"-D{d}" for d in project.defines],
    ]


def _preprocessed(project: Project, arithmetic: str, harness_file: Path) -> list[bytes]:
    """The preprocessed text of every translation unit (harness first): what the compiler compiles."""
    out = []
    for src in (harness_file, *project.sources):
        done = subprocess.run([*compile_args(project, arithmetic), "-E", "-P", str(src)], capture_output=True)
        if done.returncode != 0:  # an error here is the compiler's to report, with its log, when it builds
            return [f"unpreprocessable {src}: {done.returncode}".encode()]
        out.append(done.stdout)
    return out


# digests of the preprocessed translation units, by ``_source_digest``: a build key is asked for several times
# per project and stage (export's check and testbench, csim's prebuild, choice, run and testbench, bench), and
# preprocessing an hls4ml project with the vendor headers takes about 0.5 s each time
_PREPROCESSED: dict[str, list[bytes]] = {}


def _source_digest(project: Project, arithmetic: str) -> str:
    """Digest of everything the preprocessor of ``project`` reads that can change while this process runs: its
    arguments, the harness, every file of the project (names and bytes) and trigdeploy's own headers. The
    vendor and system headers are the installation's, named by their paths in the arguments."""
    h = hashlib.sha256()
    for part in (compiler_id(), *compile_args(project, arithmetic), project.harness, *map(str, project.sources)):
        h.update(part.encode() + b"\0")
    roots = (project.path, *project.preincludes, *((FAST_AP,) if arithmetic == "fast" else ()))
    for root in roots:
        files = sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).is_dir() else [Path(root)]
        for p in files:
            h.update(str(p).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def project_hash(project: Project, arithmetic: str = "vendor") -> str:
    """Hash of everything the build depends on: compiler, flags, harness, arithmetic and the code: the
    preprocessed translation units of an hls4ml project, the firmware files of a conifer one."""
    h = hashlib.sha256()
    for part in (
        compiler_id(),
        " ".join(flags(project, arithmetic)),
        arithmetic,
        project.harness,
        *project.defines,
        *(["unity"] if project.unity else []),
        *(["testbench in the unit"] if folds_testbench(project, arithmetic) else []),
    ):
        h.update(part.encode() + b"\0")
    if project.kind == "hls4ml":
        source = _source_digest(project, arithmetic)
        if source not in _PREPROCESSED:
            with tempfile.TemporaryDirectory(prefix="td-pp-") as tmp:
                (Path(tmp) / "td_harness.cpp").write_text(project.harness)
                _PREPROCESSED[source] = [
                    hashlib.sha256(text).digest()
                    for text in _preprocessed(project, arithmetic, Path(tmp) / "td_harness.cpp")
                ]
        for digest in _PREPROCESSED[source]:
            h.update(digest)
        return h.hexdigest()[:20]
    if arithmetic == "fast":
        for p in sorted(FAST_AP.glob("*.h")):
            h.update(p.read_bytes())
    files = sorted(
        p for p in (project.path / "firmware").rglob("*") if p.is_file() and p.suffix in (".h", ".cpp", ".hpp", ".txt")
    )
    files += [p for p in project.path.glob("*_bridge.cpp")]
    files += [project.testbench_unit] if folds_testbench(project, arithmetic) else []
    for p in files:
        h.update(str(p.relative_to(project.path)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


@dataclass
class Build:
    library: Path
    objects: list[Path]  # the project's firmware object files, for linking its testbench
    compile_seconds: float
    cached: bool
    log: str
    arithmetic: str = "vendor"
    fallback: str = ""  # why the fast arithmetic was not used, when it was asked for


class Unsupported(TrigdeployError):
    """The fast headers do not cover this project (it does not compile against them)."""


def _collect(procs: list) -> tuple[list[str], list[tuple]]:
    """Wait for every compiler of ``procs`` (source, Popen): their logs, and (source, exit, error line) of each failure."""
    logs, failed = [], []
    for src, p in procs:
        text, _ = p.communicate()
        logs.append(f"$ {CXX} … -c {src}\n{text}")
        if p.returncode != 0:
            lines = text.strip().splitlines() or ["no output"]
            failed.append((src, p.returncode, next((ln for ln in lines if "error" in ln), lines[-1])))
    return logs, failed


def _design_units(project: Project, staging: Path) -> tuple[Path, ...]:
    """The design's translation units as built in ``staging``: its sources, or (``unity``) one file there
    that includes them all. conifer's BDT.cpp and top-level .cpp each include parameters.h, whose tree
    tables would compile twice; the second copy is never used (BDT.cpp's tree_scores reads its own)."""
    return (staging / "td_unity.cpp",) if project.unity else project.sources


LIBRARY = "libtdcsim.so"
# the entry point of a testbench compiled in the design's unit (``folds_testbench``): its ``main``, renamed
TESTBENCH_ENTRY = "td_testbench"


def folds_testbench(project: Project, arithmetic: str = "vendor") -> bool:
    """Whether ``project``'s vendor build compiles its testbench in the design's one unit (``main`` renamed,
    reached through ``TESTBENCH_ENTRY``): a conifer testbench includes the tree tables, which then compile once
    for the harness and the testbench instead of twice. The testbench executable links that unit's object."""
    return project.unity and project.testbench_unit is not None and arithmetic == "vendor"


def _unity_text(project: Project, arithmetic: str) -> str:
    """The one translation unit of a ``unity`` build: every design source, then (``folds_testbench``) the
    testbench with its ``main`` renamed and a C entry point that calls it."""
    text = "".join(f'#include "{src.resolve()}"\n' for src in project.sources)
    if folds_testbench(project, arithmetic):
        text += (
            f'#define main td_testbench_main\n#include "{project.testbench_unit.resolve()}"\n#undef main\n'
            f'extern "C" int {TESTBENCH_ENTRY}(int argc, char** argv) {{ return td_testbench_main(argc, argv); }}\n'
        )
    return text


def _entry(project: Project, cache_dir: Path, arithmetic: str) -> Path:
    """The cache folder of ``project``'s build in ``arithmetic`` (named by ``project_hash``)."""
    return Path(cache_dir) / project_hash(project, arithmetic)


def is_built(project: Project, cache_dir: Path, arithmetic: str = "vendor") -> bool:
    """Whether ``build`` would find ``project``'s library in ``arithmetic`` in the cache (compile nothing)."""
    return (_entry(project, cache_dir, arithmetic) / LIBRARY).is_file()


def build(project: Project, cache_dir: Path, arithmetic: str = "vendor") -> Build:
    """Compile (or reuse) the harness library of ``project``; each object file is built in parallel.
    Threads of one process building one key take turns (the later one finds the build cached)."""
    out = _entry(project, cache_dir, arithmetic)
    with build_lock(out):
        return _build(project, cache_dir, out, arithmetic)


def _build(project: Project, cache_dir: Path, out: Path, arithmetic: str) -> Build:
    lib = out / LIBRARY
    objects = [out / f"{i + 1}_{src.stem}.o" for i, src in enumerate(_design_units(project, out))]
    what = f"compile {project.path.name} ({arithmetic})"
    if lib.is_file():
        timing.add(what, 0.0, cached=True)
        return Build(
            lib,
            objects,
            0.0,
            True,
            (out / "build.log").read_text() if (out / "build.log").is_file() else "",
            arithmetic,
        )
    refused = out.with_name(out.name + ".unsupported")
    if refused.is_file():
        raise Unsupported(refused.read_text())
    if STOPPING.is_set():  # this process is being stopped (SIGTERM): no compiler is started any more
        raise TrigdeployError(f"C simulation of {project.path}: stopping, not compiled")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    remove_stale_partials(Path(cache_dir))
    staging = partial_name(out)  # this process's own: two csim of one export build side by side
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "td_harness.cpp").write_text(project.harness)
    if project.unity:
        (staging / "td_unity.cpp").write_text(_unity_text(project, arithmetic))
    t0 = time.perf_counter()
    base = compile_args(project, arithmetic, precompiled(project, cache_dir, arithmetic))
    logs, objs = _compile_units(project, staging, base, arithmetic, refused)
    linked = subprocess.run(
        [*base, "-shared", "-Wl,-Bsymbolic", *map(str, objs), "-o", str(staging / lib.name)],
        capture_output=True,
        text=True,
    )
    logs.append(f"$ {CXX} … -shared -o {lib.name}\n{linked.stdout}{linked.stderr}")
    (staging / "build.log").write_text("\n".join(logs))
    if linked.returncode != 0:
        raise TrigdeployError(
            f"C simulation of {project.path}: {CXX} failed linking the harness (exit "
            f"{linked.returncode}); full log: {staging / 'build.log'}"
        )
    publish_build(staging, out, lib.name)
    timing.add(what, time.perf_counter() - t0)
    return Build(lib, objects, time.perf_counter() - t0, False, "\n".join(logs), arithmetic)


def _compile_units(project: Project, staging: Path, base: list[str], arithmetic: str, refused: Path):
    """Compile the harness and the design units in ``staging`` side by side: (logs, objects). A failure of
    the fast headers is ``Unsupported`` (remembered in ``refused``), any other a ``TrigdeployError``."""
    procs, objs = [], []
    for i, src in enumerate((staging / "td_harness.cpp", *_design_units(project, staging))):
        obj = staging / f"{i}_{src.stem}.o"
        objs.append(obj)
        procs.append(
            (
                src,
                subprocess.Popen(
                    [*base, "-c", str(src), "-o", str(obj)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                ),
            )
        )
    try:
        logs, failed = _collect(procs)
    except BaseException:  # interrupted: stop the compilers, keep nothing of this build
        for _, p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if failed:
        src, code, line = failed[0]
        if arithmetic == "fast":
            reason = f"the fast ap_ headers do not cover {project.path.name}: {line.strip()}"
            if code == 1:  # a compile error, not a killed compiler: remember it
                refused.write_text(reason)
            shutil.rmtree(staging, ignore_errors=True)
            raise Unsupported(reason)
        (staging / "build.log").write_text("\n".join(logs))
        raise TrigdeployError(
            f"C simulation of {project.path}: {CXX} failed compiling {src.name} (exit {code}): "
            f"{line.strip()}; full log: {staging / 'build.log'}"
        )
    return logs, objs


def _own_copy(library: Path) -> ctypes.CDLL:
    """``library`` loaded from a private copy: the dynamic loader hands out one instance per file, and an
    hls4ml firmware keeps the weights of the first project it ran in function statics."""
    fd, tmp = tempfile.mkstemp(prefix="td-harness-", suffix=".so")
    os.close(fd)
    try:
        shutil.copyfile(library, tmp)
        return ctypes.CDLL(tmp)
    finally:
        os.unlink(tmp)  # mapped already: the file is not needed any more


class Harness:
    """The compiled batch function of one project; ``weights_dir``: where an hls4ml firmware reads its
    weights (``Project.weights_dir``), the library then loaded from a copy of its own."""

    def __init__(self, library: Path, threads: int | None = None, weights_dir: Path | None = None):
        if weights_dir is None:
            self._lib = ctypes.CDLL(str(library))
        else:
            self._lib = _own_copy(library)
            self._lib.td_set_weights_dir(str(weights_dir).encode())
        self._lib.td_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_int]
        self._lib.td_batch.restype = ctypes.c_long
        self.n_in = int(self._lib.td_n_in())
        self.n_out = int(self._lib.td_n_out())
        self.threads = threads or self.default_threads()

    @staticmethod
    def default_threads() -> int:
        """The cores this process may run on (OpenMP threads by default)."""
        return len(os.sched_getaffinity(0))

    def run(self, x: np.ndarray) -> np.ndarray:
        """Outputs (n, n_out) as doubles for inputs (n, n_in), converted to the port type by the C++."""
        x = np.ascontiguousarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise TrigdeployError(f"C simulation: expected inputs of shape (n, {self.n_in}), got {x.shape}")
        y = np.zeros((len(x), self.n_out), np.float64)
        self._lib.td_batch(x.ctypes.data, y.ctypes.data, len(x), self.threads)
        return y


def load(
    project_dir: Path, cache_dir: Path, threads: int | None = None, arithmetic: str = "vendor"
) -> tuple[Harness, Build]:
    """Build (or reuse) and load the batched harness of a project; ``fast`` falls back to ``vendor``
    where the fast headers do not cover the project (``Build.fallback`` says why)."""
    project = inspect(project_dir)
    try:
        b = build(project, cache_dir, arithmetic)
    except Unsupported as e:
        b = build(project, cache_dir, "vendor")
        b.fallback = str(e)
    return Harness(b.library, threads, project.weights_dir), b
