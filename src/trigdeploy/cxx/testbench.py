"""A project's own testbench, built and run with g++ as Vitis/Vivado ``csim_design`` would.

The testbench (``myproject_test.cpp``) and the design sources listed in the project's build
script are compiled together into the cache (nothing is written into the project) and run in a
copy of the project (so the hand-off directory stays as generated): it reads
``tb_data/tb_input_features.dat`` and writes ``tb_data/csim_results.log``. Design objects
already built by the batched harness (same sources, same flags) are linked instead of being
compiled again; where that vendor build is not cached yet it is made while the testbench itself
compiles. conifer's testbench includes the tree tables (minutes of compile), so its vendor build
compiles it in the design's one unit (``harness.folds_testbench``): the testbench executable is a
``main`` that calls it there, and the tables compile once. The linked executable is cached beside
the harness builds, keyed by the design sources, the testbench and its defines, so a second
``csim`` of the same export runs it without compiling. Vitis compiles in debug mode (-O0) with its own ``ap_``
headers; here it is -O2 with the open-source copy of the same headers.

``build`` makes (or finds) that executable without running it: the export of a conifer project
calls it, so that the testbench is built with the vendor build the export checks with instead of
alone in ``csim``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.cxx import harness, hls_project
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import STOPPING, build_lock, partial_name, publish_build

PRINT_RTOL = 1e-5  # hls4ml prints ap_fixed values at the stream's default 6 significant digits


def _read_rows(path: Path) -> np.ndarray:
    rows = [list(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()]
    return np.asarray(rows, np.float64)


def _main_unit(project, bench: Path, out: Path) -> Path:
    """What the testbench compiles as its own unit: the testbench itself, or, where the vendor build compiled it
    in the design's unit (``harness.folds_testbench``), a ``main`` that calls it there."""
    if not harness.folds_testbench(project):
        return bench
    main = out / "td_testbench_main.cpp"
    entry = harness.TESTBENCH_ENTRY
    main.write_text(
        f'extern "C" int {entry}(int, char**);\nint main(int argc, char** argv) {{ return {entry}(argc, argv); }}\n'
    )
    return main


def _build_testbench(project, bench: Path, out: Path, cache_dir: Path):
    """Compile the testbench into ``out/csim.exe``, linked with the design objects of the vendor harness
    build, which compiles meanwhile if it is not cached; returns that build."""
    obj = out / "testbench.o"
    unit = _main_unit(project, bench, out)
    header = harness.precompiled(project, cache_dir)
    tu = subprocess.Popen(
        [
            *harness.compile_args(project, header=header),
            f"-I{project.path / 'firmware'}",
            "-c",
            str(unit),
            "-o",
            str(obj),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        b = harness.build(project, cache_dir)
    finally:
        log, _ = tu.communicate()
    built = (
        subprocess.run(
            [harness.CXX, *harness.flags(project), str(obj), *map(str, b.objects), "-o", str(out / "csim.exe")],
            capture_output=True,
            text=True,
        )
        if tu.returncode == 0
        else None
    )
    if built is None or built.returncode != 0:
        text = log if built is None else built.stderr
        last = (text.strip().splitlines() or ["no output"])[-1]
        raise TrigdeployError(f"{project.path}: testbench {bench.name} does not build: {last}")
    obj.unlink()
    if unit != bench:
        unit.unlink()
    return b


def _bench(project) -> Path:
    bench = hls_project.testbench_file(project.path, project.top)
    if not bench.is_file():
        raise TrigdeployError(f"{project.path}: no testbench {bench.name}")
    return bench


def _cached_exe(project, bench: Path, cache_dir: Path) -> Path:
    # the executable depends on the design sources (the harness build's key), the testbench and the defines;
    # tb_data is read when it runs, so a cached build serves every re-simulation of the same project
    key = hashlib.sha256(
        "\n".join([harness.project_hash(project, "vendor"), bench.read_text(), *project.defines]).encode()
    ).hexdigest()[:20]
    # absolute: the executable runs with its working directory in a copy of the project
    return Path(cache_dir).resolve() / f"tb-{key}" / "csim.exe"


def _build(project, cache_dir: Path) -> tuple[harness.Build, Path]:
    """The vendor harness build and the project's testbench executable in the cache (compiled into a
    staging folder that becomes the cache entry where it is not cached yet)."""
    bench = _bench(project)
    exe = _cached_exe(project, bench, cache_dir)
    with build_lock(exe.parent):  # threads of this process building one testbench take turns
        return _build_locked(project, bench, exe, cache_dir)


def _build_locked(project, bench: Path, exe: Path, cache_dir: Path) -> tuple[harness.Build, Path]:
    how = "in the vendor build's unit" if harness.folds_testbench(project) else "beside the vendor build"
    what = f"testbench {project.path.name}: compile and link ({how})"
    if exe.is_file():
        timing.add(what, 0.0, cached=True)
        return harness.build(project, cache_dir), exe
    if STOPPING.is_set():  # this process is being stopped (SIGTERM): no compiler is started any more
        raise TrigdeployError(f"{project.path}: stopping, testbench not compiled")
    t0 = time.perf_counter()
    staging = partial_name(exe.parent)  # this process's own (stale ones are cleared by harness.build)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        b = _build_testbench(project, bench, staging, cache_dir)
    except KeyboardInterrupt:  # stopped (Ctrl-C, SIGTERM): nothing of this build is kept
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish_build(staging, exe.parent, exe.name)
    timing.add(what, time.perf_counter() - t0)
    return b, exe


def build(project_dir: Path, cache_dir: Path) -> harness.Build:
    """The vendor harness build of a project with its testbench executable cached beside it (both
    compiled at once where neither is cached); returns the harness build."""
    return _build(hls_project.inspect(Path(project_dir)), cache_dir)[0]


def run(project_dir: Path, cache_dir: Path) -> dict:
    """Build and run the project's testbench on its ``tb_data``; returns its outputs, timings and the harness build."""
    project = hls_project.inspect(Path(project_dir))
    t0 = time.perf_counter()
    b, exe = _build(project, cache_dir)
    compile_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="td-tb-") as tmp:
        work = Path(tmp) / project.path.name  # the executable writes tb_data/csim_results.log where it runs
        shutil.copytree(project.path, work, ignore=shutil.ignore_patterns("*.so", "*.o", "*_prj", "solution*"))
        (work / "tb_data" / "csim_results.log").unlink(missing_ok=True)
        t1 = time.perf_counter()
        ran = subprocess.run([str(exe)], cwd=work, capture_output=True, text=True, check=True)
        run_s = time.perf_counter() - t1
        results = work / "tb_data" / "csim_results.log"
        if not results.is_file():
            raise TrigdeployError(f"{project.path}: testbench ran but wrote no tb_data/csim_results.log")
        out = _read_rows(results)
        expected = _read_rows(project.path / "tb_data" / "tb_output_predictions.dat")
        inputs = _read_rows(project.path / "tb_data" / "tb_input_features.dat")
    return {
        "outputs": out,
        "expected": expected,
        "inputs": inputs,
        "build": b,
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "stdout_tail": ran.stdout.strip().splitlines()[-1:] if ran.stdout.strip() else [],
    }


def check(project_dir: Path, cache_dir: Path, exact: bool) -> dict:
    """Run the testbench and compare what it printed with the harness on the same inputs and with ``tb_data``.

    ``exact``: the project must reproduce ``tb_output_predictions.dat`` (QAT, BDT); otherwise
    (PTQ) the difference to the float reference is reported, not judged.
    """
    tb = run(project_dir, cache_dir)
    h = harness.Harness(tb["build"].library, weights_dir=hls_project.inspect(Path(project_dir)).weights_dir)
    # the hls4ml testbench parses inputs as float: feed the harness the same float32 values
    ref_h = h.run(tb["inputs"].astype(np.float32).astype(np.float64))
    out, expected = tb["outputs"], tb["expected"]
    if out.shape != ref_h.shape:
        raise TrigdeployError(f"{project_dir}: testbench printed {out.shape} outputs for {ref_h.shape} expected")
    tol = PRINT_RTOL * np.maximum(np.abs(ref_h), 1e-3)
    vs_harness = np.abs(out - ref_h)
    vs_expected = np.abs(out - expected)
    # an event differs when any of its outputs does (K logits per row for K classes)
    report = {
        "n_events": int(len(out)),
        "n_differ_from_harness": int((vs_harness > tol).any(axis=1).sum()),
        "max_abs_diff_harness": float(vs_harness.max()),
        "max_abs_diff_expected": float(vs_expected.max()),
        "print_rtol": PRINT_RTOL,
        "compile_seconds": tb["compile_seconds"],
        "run_seconds": tb["run_seconds"],
        "vendor_build_seconds": tb["build"].compile_seconds,
    }  # within compile_seconds: built alongside
    report["n_differ_from_expected"] = int(
        (vs_expected > PRINT_RTOL * np.maximum(np.abs(expected), 1e-3)).any(axis=1).sum()
    )
    report["ok"] = report["n_differ_from_harness"] == 0 and (not exact or report["n_differ_from_expected"] == 0)
    return report
