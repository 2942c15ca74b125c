"""The typed manifest: projects and saved references read back, old or damaged manifests refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trigdeploy.convert.manifest import SCHEMA, Device, Manifest, Project
from trigdeploy.errors import TrigdeployError

PROJECT = {
    "name": "qmlp_vitis",
    "model": "qmlp",
    "form": "hls4ml Vitis csim",
    "reference": "QONNX execution",
    "reference_file": "references/qmlp.npz",
    "reference_form": "QONNX",
    "exact": True,
    "simulator": "hls",
    "device": {"part": "xcvu13p-flga2577-2-e", "clock_ns": 5.0, "reuse": 2},
}
DEVICE = {"part": "xcvu13p-flga2577-2-e", "clock_ns": 5.0, "reuse": 1}


def _write(tmp_path, **changes):
    raw = {
        "schema": SCHEMA,
        "run": "runs/x",
        "target": "t.yaml",
        "device": DEVICE,
        "test_events": 3,
        "models": {"qmlp": {}},
        "projects": [PROJECT],
    }
    raw.update(changes)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    return path


def _reference(tmp_path, inputs=None) -> dict:
    """Save the reference npz and return PROJECT with its hash."""
    from trigdeploy.convert.manifest import sha256_file

    (tmp_path / "references").mkdir(exist_ok=True)
    np.savez(
        tmp_path / "references" / "qmlp.npz",
        inputs=np.eye(3, dtype=np.float32) if inputs is None else inputs,
        logits=np.arange(3.0),
    )
    return {**PROJECT, "reference_sha256": sha256_file(tmp_path / "references" / "qmlp.npz")}


def test_projects_and_references_read_back(tmp_path):
    project = _reference(tmp_path)
    path = _write(tmp_path, projects=[project])
    m = Manifest.load(path)
    assert m.projects == (Project(**project),) and m.test_events == 3 and len(m.sha256) == 64
    assert m.projects[0].device == Device("xcvu13p-flga2577-2-e", 5.0, 2) and m.device == Device(**DEVICE)
    inputs, logits = m.reference(m.projects[0])
    np.testing.assert_array_equal(inputs, np.eye(3))
    np.testing.assert_array_equal(logits, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"projects": None}, "not a manifest of this trigdeploy version"),
        ({"projects": [{**PROJECT, "bogus": 1}]}, "not a manifest of this trigdeploy version"),
        ({"schema": 2}, "manifest schema 2, this trigdeploy reads schema 3"),
        ({"schema": None}, "manifest schema None, this trigdeploy reads schema 3"),
        ({"device": {**DEVICE, "clock_ns": 0}}, "device clock_ns must be a positive number"),
        ({"projects": [{**PROJECT, "device": {**DEVICE, "reuse": 0.5}}]}, "device reuse must be an integer"),
        ({"projects": [{**PROJECT, "device": {**DEVICE, "part": ""}}]}, "device part must be a part name"),
        ({"projects": [{**PROJECT, "device": None}]}, "project device must be a Device"),
    ],
    ids=[
        "older-export",
        "unknown-project-key",
        "schema-1",
        "schema-null",
        "zero-clock",
        "fractional-reuse",
        "empty-part",
        "no-device",
    ],
)
def test_old_or_damaged_manifest_is_one_line(tmp_path, changes, message):
    raw = _write(tmp_path, **changes)
    if changes.get("projects", []) is None:
        data = json.loads(raw.read_text())
        del data["projects"]
        raw.write_text(json.dumps(data))
    with pytest.raises(TrigdeployError, match=message) as info:
        Manifest.load(raw)
    assert "export again" in str(info.value) and "\n" not in str(info.value)


def test_a_pickled_reference_is_refused(tmp_path):
    path = _write(tmp_path, projects=[_reference(tmp_path, inputs=np.array([{"a": 1}], dtype=object))])
    with pytest.raises(TrigdeployError, match="reference of qmlp_vitis unreadable"):
        Manifest.load(path).reference(Manifest.load(path).projects[0])


def test_missing_manifest(tmp_path):
    with pytest.raises(TrigdeployError, match="not found: run trigdeploy export first"):
        Manifest.load(tmp_path / "manifest.json")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "/tmp/evil"}, "manifest project '/tmp/evil' is not a plain name"),
        ({"name": "../../x"}, "manifest project '../../x' is not a plain name"),
        ({"name": ".."}, "manifest project '..' is not a plain name"),
        ({"reference_file": "../../outside.npz"}, "reference path component '..' is not a plain name"),
        ({"reference_file": "/etc/passwd"}, "reference path component '/' is not a plain name"),
        ({"model": "a/b"}, "manifest model 'a/b' is not a plain name"),
    ],
    ids=["absolute-name", "dotdot-name", "dotdot", "dotdot-reference", "absolute-reference", "model-path"],
)
def test_names_that_would_be_paths_outside_are_refused(tmp_path, changes, message):
    path = _write(tmp_path, projects=[{**PROJECT, **changes}])
    with pytest.raises(TrigdeployError, match=message) as info:
        Manifest.load(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_reference_changed_after_export_is_refused(tmp_path):
    path = _write(tmp_path, projects=[_reference(tmp_path)])
    m = Manifest.load(path)
    np.savez(tmp_path / "references" / "qmlp.npz", inputs=np.eye(3, dtype=np.float32), logits=np.arange(3.0) + 1)
    with pytest.raises(TrigdeployError, match="qmlp.npz: changed since export"):
        m.reference(m.projects[0])


@pytest.mark.parametrize("change", ["edit", "add", "remove", "symlink"])
def test_verify_finds_any_change_to_a_project(tmp_path, change):
    from trigdeploy.convert.manifest import file_hashes

    folder = tmp_path / "qmlp_vitis"
    (folder / "firmware").mkdir(parents=True)
    (folder / "firmware" / "w2.h").write_text("weight_t w2[4] = {1, 2, 3, 4};\n")
    (folder / "README.md").write_text("project\n")
    project = {**_reference(tmp_path), "files": file_hashes(folder)}
    m = Manifest.load(_write(tmp_path, projects=[project]))
    m.verify(m.projects[0], folder)  # as written: accepted
    if change == "edit":
        (folder / "firmware" / "w2.h").write_text("weight_t w2[4] = {1, 2, 3, 5};\n")
    elif change == "add":
        (folder / "open_synth").mkdir()
        (folder / "open_synth" / "x.v").write_text("module x; endmodule\n")
    elif change == "remove":
        (folder / "README.md").unlink()
    else:
        (folder / "README.md").unlink()
        (folder / "README.md").symlink_to("/etc/hostname")
    with pytest.raises(TrigdeployError, match="(changed|added|missing) since export") as info:
        m.verify(m.projects[0], folder)
    assert "\n" not in str(info.value)
