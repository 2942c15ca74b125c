"""Atomic writes, partial files of dead processes, signals and full disks: nothing half-written stays."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.io import atomic_path, remove_stale_partials, write_json_atomic


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def test_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".data.partial-{dead}.h5"
    stale_dir = tmp_path / f".run.partial-{dead}"
    live = tmp_path / f".other.partial-{os.getppid()}.h5"  # our parent is alive
    mine = tmp_path / "keep.h5"
    for p in (stale_file, live, mine):
        p.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "f").write_text("x")
    assert sorted(remove_stale_partials(tmp_path)) == sorted([stale_file, stale_dir])
    assert live.exists() and mine.exists() and not stale_file.exists() and not stale_dir.exists()


def test_atomic_path_names_the_file_on_an_os_error_without_one(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(OSError) as info, atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")  # as HDF5 flushes report it: no file name
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_full_disk_during_data_is_one_line_naming_the_file(run_cli, tmp_path, monkeypatch):
    from trigdeploy.data.generate import writers

    def full(self, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers.ToptagWriter, "append", full)
    out = tmp_path / "x.h5"
    status, stdout, stderr = run_cli("data", "toptag", "--out", str(out), "--jets", "10", "--quiet")
    assert status == 2 and stdout == ""
    assert stderr.strip() == f"trigdeploy: error: {out}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_table_that_did_not_reach_the_disk_is_refused(tmp_path):
    """HDF5 may lose a flush on close without raising: the re-read check catches the corrupt file."""
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.data.generate.writers import check_rows
    from trigdeploy.generators import ToptagGenConfig

    good = tmp_path / "good.h5"
    write_toptag(ToptagGenConfig(jets=300, chunk_size=300), good, progress=False)
    check_rows(good, good, 300)
    with pytest.raises(OSError, match="expected 301 rows") as info:
        check_rows(good, tmp_path / "final.h5", 301)
    assert info.value.filename == str(tmp_path / "final.h5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(OSError, match="incomplete or unreadable"):
        check_rows(cut, cut, 300)


def _start(args: list[str], cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trigdeploy", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_partial(directory, proc, timeout=60.0) -> None:
    t0 = time.monotonic()
    while not any(p.name.startswith(".") and ".partial-" in p.name for p in directory.iterdir()):
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no partial file appeared (exit {proc.poll()}): {proc.communicate()}")
        time.sleep(0.05)


def test_sigterm_during_data_cleans_up_and_says_so(tmp_path):
    proc = _start(
        ["data", "toptag", "--out", str(tmp_path / "big.h5"), "--jets", "2000000", "--chunk-size", "2000", "--quiet"],
        tmp_path,
    )
    _wait_for_partial(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert stderr.strip() == "trigdeploy: terminated (SIGTERM); partial outputs removed"
    assert list(tmp_path.iterdir()) == []


def test_partial_of_a_killed_run_is_removed_by_the_next(tmp_path):
    proc = _start(
        ["data", "toptag", "--out", str(tmp_path / "big.h5"), "--jets", "2000000", "--chunk-size", "2000", "--quiet"],
        tmp_path,
    )
    _wait_for_partial(tmp_path, proc)
    proc.kill()  # SIGKILL: no handler runs, the partial file stays
    proc.communicate(timeout=60)
    assert [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    again = _start(["data", "toptag", "--out", str(tmp_path / "small.h5"), "--jets", "50", "--quiet"], tmp_path)
    again.communicate(timeout=120)
    assert again.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.h5"]


def test_cache_folders_trigdeploy_did_not_write_are_never_deleted(tmp_path):
    from conftest import run_config
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.data.prepare import prepare
    from trigdeploy.generators import ToptagGenConfig

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1500, chunk_size=1500), data, progress=False)
    run = tmp_path / "run"
    mine = run / "cache" / "my-notes"
    mine.mkdir(parents=True)
    (mine / "keep.txt").write_text("precious")
    sections = {"features": {"kind": "toptag_jet"}, "scaling": {"sample_rows": 500}}
    first = prepare(run_config([data], **sections), run, progress=False)
    second = prepare(run_config([data], "split.seed=9", **sections), run, progress=False)  # another key: stale
    assert not first.cache_dir.exists() and second.cache_dir.exists()
    assert (mine / "keep.txt").read_text() == "precious"
    assert np.asarray(second.open_cache()[0]).shape[0] == 1500


def test_expression_failures_in_prepare_are_one_line(tmp_path):
    from trigdeploy.config import parse_config
    from trigdeploy.data.generate import write_toptag
    from trigdeploy.generators import ToptagGenConfig

    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=50, chunk_size=50), data, progress=False)
    with pytest.raises(TrigdeployError, match=r"data.derived.x: refers to itself \(x → x\)"):
        parse_config({"name": "c", "data": {"format": "hdf5", "files": [str(data)], "derived": {"x": "x + 1"}}})


def test_partials_of_other_hosts_are_left_alone(tmp_path):
    """On a shared file system a dead-looking pid may be a live process on another node."""
    dead = _dead_pid()
    other = tmp_path / f".data.partial-{dead}@another-node.h5"
    here = tmp_path / f".data.partial-{dead}@{_local_host()}.h5"
    for p in (other, here):
        p.write_text("x")
    assert remove_stale_partials(tmp_path) == [here]
    assert other.exists()


def _local_host() -> str:
    from trigdeploy.io import partial_name

    return partial_name(Path("x.h5")).name.split("@", 1)[1][: -len(".h5")]


def _strict(text: str):
    """json.loads as RFC 8259 reads JSON: NaN, Infinity and -Infinity are not JSON."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (float("inf"), None),
        (-float("inf"), None),
        (float("nan"), None),
        (np.float64("inf"), None),
        (2.5, 2.5),
        (np.float64(0.25), 0.25),
        (7, 7),
        ("inf", "inf"),
        (None, None),
    ],
    ids=["inf", "-inf", "nan", "numpy-inf", "float", "numpy-float", "int", "string", "none"],
)
def test_json_artifacts_are_strict_json(tmp_path, value, written):
    # a 1/eps_B where no background passes is inf: written as null, nested in dicts, lists and tuples
    path = tmp_path / "m.json"
    write_json_atomic(path, {"rejection": {"eff_S=0.3": value}, "points": [value, (value, 1)]})
    assert _strict(path.read_text()) == {"rejection": {"eff_S=0.3": written}, "points": [written, [written, 1]]}


def test_the_strict_reader_refuses_python_s_infinity():
    # the check above can fail: Python's default json.dumps writes Infinity, which the strict reader refuses
    with pytest.raises(ValueError, match="not JSON: Infinity"):
        _strict(json.dumps({"r": float("inf")}))


@pytest.mark.parametrize("final_state", ["absent", "published-by-another", "incomplete"])
def test_publish_build_never_removes_another_process_entry(tmp_path, final_state):
    """Two processes building one cache key: the second to finish keeps the first's entry (its caller
    may have the library loaded from it) and drops its own staging."""
    from trigdeploy.io import partial_name, publish_build

    final = tmp_path / "key"
    staging = partial_name(final)
    staging.mkdir()
    (staging / "lib.so").write_text("mine")
    if final_state != "absent":
        final.mkdir()
        (final / ("lib.so" if final_state == "published-by-another" else "half.o")).write_text("theirs")
    publish_build(staging, final, "lib.so")
    assert not staging.exists()
    expected = "theirs" if final_state == "published-by-another" else "mine"
    assert (final / "lib.so").read_text() == expected and not (final / "half.o").exists()


def test_staging_names_are_per_process(tmp_path):
    import subprocess
    import sys

    from trigdeploy.io import partial_name

    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trigdeploy.io import partial_name; import sys; "
            f"print(partial_name(__import__('pathlib').Path({str(tmp_path / 'k')!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert other != str(partial_name(tmp_path / "k"))
