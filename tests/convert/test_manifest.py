"""The typed manifest: projects and saved references read back, old or damaged manifests refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trigdeploy.convert.manifest import Manifest, Project
from trigdeploy.errors import TrigdeployError

PROJECT = {"name": "qmlp_vitis", "model": "qmlp", "form": "hls4ml Vitis csim", "reference": "QONNX execution",
           "reference_file": "references/qmlp.npz", "reference_form": "QONNX", "exact": True, "simulator": "hls"}


def _write(tmp_path, **changes):
    raw = {"run": "runs/x", "target": "t.yaml", "test_events": 3, "models": {"qmlp": {}}, "projects": [PROJECT]}
    raw.update(changes)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    return path


def test_projects_and_references_read_back(tmp_path):
    path = _write(tmp_path)
    (tmp_path / "references").mkdir()
    np.savez(tmp_path / "references" / "qmlp.npz", inputs=np.eye(3, dtype=np.float32), logits=np.arange(3.0))
    m = Manifest.load(path)
    assert m.projects == (Project(**PROJECT),) and m.test_events == 3 and len(m.sha256) == 64
    inputs, logits = m.reference(m.projects[0])
    np.testing.assert_array_equal(inputs, np.eye(3))
    np.testing.assert_array_equal(logits, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"projects": None}, "not a manifest of this trigdeploy version"),
     ({"projects": [{**PROJECT, "bogus": 1}]}, "not a manifest of this trigdeploy version")],
    ids=["older-export", "unknown-project-key"],
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
    path = _write(tmp_path)
    (tmp_path / "references").mkdir()
    np.savez(tmp_path / "references" / "qmlp.npz", inputs=np.array([{"a": 1}], dtype=object), logits=np.zeros(1))
    with pytest.raises(TrigdeployError, match="reference of qmlp_vitis unreadable"):
        Manifest.load(path).reference(Manifest.load(path).projects[0])


def test_missing_manifest(tmp_path):
    with pytest.raises(TrigdeployError, match="not found: run trigdeploy export first"):
        Manifest.load(tmp_path / "manifest.json")
