"""The run layout: names that become paths are plain, and folders that leave the run tree are refused."""

from __future__ import annotations

import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.layout import RunLayout


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("project", "../../etc"),
        ("project", "/tmp/x"),
        ("csim_output", "../x"),
        ("csim_output", ".."),
        ("checkpoint", "a/b"),
        ("predictions", ""),
    ],
    ids=[
        "project-dotdot",
        "project-absolute",
        "csim-dotdot",
        "csim-parent",
        "checkpoint-separator",
        "predictions-empty",
    ],
)
def test_names_that_become_paths_are_plain(tmp_path, call, name):
    layout = RunLayout.of(tmp_path / "runs" / "r")
    with pytest.raises(TrigdeployError, match="is not a plain name") as info:
        getattr(layout, call)(name)
    assert "\n" not in str(info.value)


def test_plain_names_are_accepted(tmp_path):
    layout = RunLayout.of(tmp_path / "runs" / "r")
    assert layout.project("qmlp_vitis") == tmp_path / "firmware" / "r" / "qmlp_vitis"
    assert layout.csim_output("bdt_vhdl") == tmp_path / "runs" / "r" / "csim" / "bdt_vhdl.npz"


@pytest.mark.parametrize("folder", ["checkpoints", "csim", "predictions", "synth_logs"])
def test_a_folder_linked_outside_the_run_is_refused(tmp_path, folder):
    """A received run whose ``checkpoints/`` (or ``csim/``…) links elsewhere: train would delete and csim
    overwrite files there. Refused before anything is touched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.ckpt").write_text("keep me")
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / folder).symlink_to(outside)
    layout = RunLayout.of(run)
    access = {
        "checkpoints": lambda: layout.checkpoints,
        "csim": lambda: layout.csim_output("p"),
        "predictions": lambda: layout.predictions("mlp"),
        "synth_logs": lambda: layout.synth_logs,
    }[folder]
    with pytest.raises(TrigdeployError, match=f"{run / folder}.* leads outside {run}"):
        access()
    assert (outside / "precious.ckpt").read_text() == "keep me"


def test_a_link_that_stays_inside_is_accepted(tmp_path):
    run = tmp_path / "runs" / "r"
    (run / "elsewhere").mkdir(parents=True)
    (run / "checkpoints").symlink_to(run / "elsewhere")
    assert RunLayout.of(run).checkpoints == run / "checkpoints"


def test_a_project_linked_outside_the_firmware_tree_is_refused(tmp_path):
    layout = RunLayout.of(tmp_path / "runs" / "r")
    layout.firmware_dir.mkdir(parents=True)
    (layout.firmware_dir / "qmlp_vitis").symlink_to(tmp_path)
    with pytest.raises(TrigdeployError, match="leads outside"):
        layout.project("qmlp_vitis")


@pytest.mark.parametrize("given", [".", ".."], ids=["dot", "dotdot"])
def test_a_run_given_as_dot_is_named_by_its_folder(tmp_path, monkeypatch, given):
    """``--run .`` inside ``runs/toptag`` names the run ``toptag``: exports go to ``export/toptag``, never
    into the run folder, and results are ``toptag.json``, not ``.json``."""
    run = tmp_path / "runs" / "toptag"
    (run / "sub").mkdir(parents=True)
    monkeypatch.chdir(run if given == "." else run / "sub")
    layout = RunLayout.of(given)
    assert layout.name == "toptag" and layout.export_dir == tmp_path / "export" / "toptag"
    assert layout.result(".json") == tmp_path / "benchmarks" / "results" / "toptag.json"
    assert layout.export_dir.resolve() != layout.run_dir.resolve()
