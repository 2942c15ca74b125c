"""The precompiled header of an hls4ml project's compiles: the same objects, a key that follows the headers."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from trigdeploy.convert import to_hls4ml, to_qonnx
from trigdeploy.cxx import harness, pch
from trigdeploy.cxx.hls_project import inspect
from trigdeploy.targets import HLS4MLTarget


@pytest.fixture(scope="module")
def project(tiny_qat, tmp_path_factory) -> Path:
    """The tiny QAT model's hls4ml Vitis project (written, not compiled)."""
    model, _, m, _ = tiny_qat
    out = tmp_path_factory.mktemp("pch") / "prj"
    to_hls4ml.convert(m, HLS4MLTarget(Backends=("Vitis",)), "Vitis", out, to_qonnx.input_quantizer(model), None, [])
    return out


def _compile(project, unit: Path, header: Path | None, obj: Path) -> str:
    """Compile ``unit`` of ``project`` as the harness and testbench do; GCC's include trace (``-H``)."""
    args = [*harness.compile_args(project, header=header), f"-I{project.path / 'firmware'}", "-H"]
    done = subprocess.run([*args, "-c", str(unit), "-o", str(obj)], capture_output=True, text=True, check=True)
    return done.stderr


def _twice(p, cache: Path) -> Path | None:
    """The header as the second compile of its key gets it (the first goes without)."""
    assert harness.precompiled(p, cache) is None
    return harness.precompiled(p, cache)


UNITS = {
    "firmware": lambda p, tmp: p.path / "firmware" / f"{p.top}.cpp",
    "testbench": lambda p, tmp: p.path / f"{p.top}_test.cpp",
    "harness": lambda p, tmp: (tmp / "td_harness.cpp", (tmp / "td_harness.cpp").write_text(p.harness))[0],
}


@pytest.mark.parametrize("unit", list(UNITS), ids=list(UNITS))
def test_objects_are_byte_identical_with_the_header(project, unit, tmp_path):
    """Each unit trigdeploy compiles of the project: the header is read (GCC marks a used .gch with ``!``) and the
    object is the same, byte for byte, as without it (so the build keys may ignore it)."""
    p = inspect(project)
    header = _twice(p, tmp_path / "cache")
    assert header is not None and (header.parent / pch.GCH).is_file()
    src = UNITS[unit](p, tmp_path)
    trace = _compile(p, src, header, tmp_path / "with.o")
    _compile(p, src, None, tmp_path / "without.o")
    assert f"! {header.parent / pch.GCH}" in trace.splitlines()
    assert (tmp_path / "with.o").read_bytes() == (tmp_path / "without.o").read_bytes()


def test_the_key_follows_the_headers_bytes_not_the_folder(project, tmp_path):
    """A copy of the project elsewhere finds the same header; one changed byte in an ``nnet_utils`` header (or in
    its list of includes) makes another, so a header compiled from other code is never read."""
    cache = tmp_path / "cache"
    first = _twice(inspect(project), cache)
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    assert harness.precompiled(inspect(copy), cache) == first
    dense = copy / "firmware" / "nnet_utils" / "nnet_dense.h"
    dense.write_text(dense.read_text() + "\n// one more line\n")
    changed = _twice(inspect(copy), cache)
    assert changed is not None and changed != first
    assert sorted(d.name for d in cache.iterdir() if d.name.startswith("pch-")) == sorted(
        {first.parent.name, changed.parent.name}
    )


def test_the_includes_are_the_projects_library_headers_in_order(project):
    """The header repeats the firmware's system, ``ap_``/``hls_`` and ``nnet_utils`` includes, first-read order,
    each once, after ``td_weights.h``; never the project's own ``defines.h``, ``parameters.h`` or weights."""
    lines = pch.includes(inspect(project))
    assert lines[0] == '#include "td_weights.h"'
    assert lines.index('#include "ap_fixed.h"') < lines.index('#include "firmware/nnet_utils/nnet_dense.h"')
    assert len(lines) == len(set(lines))
    assert not [x for x in lines if "defines.h" in x or "parameters.h" in x or "weights/" in x]


def test_a_header_that_does_not_compile_leaves_the_compile_without_it(project, tmp_path, monkeypatch, caplog):
    """Where the header fails (here: an include that does not exist), one warning, no header cached nor tried
    again for that key, and the project's harness still builds and runs without it."""
    monkeypatch.setattr(pch, "includes", lambda p: ['#include "td_no_such_header.h"'])
    p = inspect(project)
    with caplog.at_level(logging.WARNING, logger="trigdeploy.cxx.pch"):
        assert _twice(p, tmp_path / "cache") is None
    assert "no precompiled header" in caplog.text and "td_no_such_header.h" in caplog.text
    assert not list((tmp_path / "cache").glob("pch-*"))
    caplog.clear()
    assert harness.precompiled(p, tmp_path / "cache") is None and not caplog.text  # not tried again
    h, b = harness.load(project, tmp_path / "cache")
    assert not b.cached and h.n_in == 6


def test_no_header_for_a_conifer_project_or_the_fast_arithmetic(project, tmp_path):
    """Only the vendor build of an hls4ml project reads one (the fast headers, conifer's tables: none)."""
    p = inspect(project)
    assert pch.applies(p, "vendor") and not pch.applies(p, "fast")
    assert not pch.applies(dataclasses.replace(p, kind="conifer"), "vendor")
    assert harness.precompiled(p, tmp_path / "cache", "fast") is None


def test_the_first_compile_of_a_key_goes_without_the_second_builds_it(project, tmp_path):
    """A cache that compiles a header set once pays nothing for it: the first request only marks the key, the
    second compiles the header, later ones find it (and a fresh cache starts over)."""
    p = inspect(project)
    cache = tmp_path / "cache"
    assert harness.precompiled(p, cache) is None
    assert not list(cache.glob("pch-*")) and len(list(cache.glob(".pch-*.seen"))) == 1
    built = harness.precompiled(p, cache)
    assert built is not None and harness.precompiled(p, cache) == built
    assert harness.precompiled(p, tmp_path / "other") is None


def test_a_project_and_cache_named_by_relative_paths_get_the_header(project, tmp_path, monkeypatch):
    """As make runs it (``firmware/…`` from the clone's root): the header compiles in its own folder, so a
    relative cache path must not reach its include paths (it did: every compile then went without)."""
    shutil.copytree(project, tmp_path / "firmware" / "prj")
    monkeypatch.chdir(tmp_path)
    p = inspect(Path("firmware/prj"))
    header = _twice(p, Path("firmware/.csim-cache"))
    assert header is not None and header.is_absolute() and (header.parent / pch.GCH).is_file()
    trace = _compile(p, p.path / "firmware" / f"{p.top}.cpp", header, tmp_path / "rel.o")
    assert f"! {header.parent / pch.GCH}" in trace.splitlines()


def test_a_killed_compiler_is_not_remembered_as_a_failed_header(project, tmp_path, monkeypatch):
    """A compile stopped by a signal (exit -9, as ``subprocess`` reports it) says nothing about the header: no
    header then, but the next request tries again and builds it."""
    p = inspect(project)
    cache = tmp_path / "cache"
    assert harness.precompiled(p, cache) is None  # the first request of the key
    real = subprocess.run
    monkeypatch.setattr(pch.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a[0], -9, "", "Killed"))
    assert harness.precompiled(p, cache) is None and not list(cache.glob(".pch-*.failed"))
    monkeypatch.setattr(pch.subprocess, "run", real)
    assert harness.precompiled(p, cache) is not None
