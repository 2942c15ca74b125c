"""A plugin found through the ``trigdeploy.plugins`` entry-point group registers a kind before the config is parsed.

The test plugin is an installed distribution in miniature: a ``*.dist-info`` folder with its
``entry_points.txt`` and one module, on ``sys.path`` (the child process's ``PYTHONPATH``). It registers a
logistic-regression kind with the ONNX form; a config with that kind's ``train.<name>`` section is an
unknown key without the plugin and a trained model with it, through the real CLI in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trigdeploy.data.generate import write_toptag
from trigdeploy.generators import ToptagGenConfig

PLUGIN = """
from torch import nn

from trigdeploy.config import MLPConfig
from trigdeploy.models import registry

registry.register(registry.ModelKind("pluglr", MLPConfig, "pluglr.pt", "torch", "PyTorch",
                                     build=lambda n, cfg: nn.Sequential(nn.Linear(n, 1)), forms=("onnx",)))
"""


def _site(tmp_path: Path, module: str, value: str = "td_testplugin") -> Path:
    """A folder that holds one installed distribution ``td-testplugin`` with a ``trigdeploy.plugins`` entry point."""
    site = tmp_path / "site"
    info = site / "td_testplugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: td-testplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[trigdeploy.plugins]\ntoy = {value}\n")
    (site / "td_testplugin.py").write_text(module)
    return site


def _cli(site: Path | None, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(site)] * (site is not None) + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "trigdeploy.cli", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def config(tmp_path) -> Path:
    data = tmp_path / "t.h5"
    write_toptag(ToptagGenConfig(jets=1200, seed=3, chunk_size=1200), data, progress=False)
    cfg = {
        "name": "plug",
        "data": {"format": "hdf5", "files": [str(data)], "workers": 1},
        "features": {"kind": "toptag_jet"},
        "scaling": {"sample_rows": 800},
        "train": {"device": "cpu", "threads": 1, "pluglr": {"epochs": 4, "batch_size": 64, "lr": 0.02}},
    }
    path = tmp_path / "plug.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


@pytest.mark.integration
def test_a_plugin_kind_is_known_to_the_config_and_trained_by_the_cli(tmp_path, config):
    bare = _cli(None, tmp_path, "train", "--config", str(config), "--run-dir", str(tmp_path / "runs" / "plug"))
    assert bare.returncode == 2 and "pluglr" in bare.stderr  # without the plugin: an unknown key, one line
    assert len(bare.stderr.strip().splitlines()) == 1

    site = _site(tmp_path, PLUGIN)
    done = _cli(
        site, tmp_path, "train", "--config", str(config), "--run-dir", str(tmp_path / "runs" / "plug"), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "runs" / "plug" / "metrics.json").read_text())
    assert set(metrics) == {"pluglr"} and metrics["pluglr"]["auc"] > 0.7
    assert (tmp_path / "runs" / "plug" / "pluglr.pt").is_file()


@pytest.mark.parametrize(
    ("module", "value", "message"),
    [
        ("raise RuntimeError('no licence\\nfor this')\n", "td_testplugin", "RuntimeError: no licence for this"),
        ("x = 1\n", "td_testplugin:register", "AttributeError"),
        ("def register():\n    raise ValueError('form twice')\n", "td_testplugin:register", "ValueError: form twice"),
    ],
    ids=["import-fails", "no-such-callable", "callable-fails"],
)
def test_a_plugin_that_fails_to_load_is_one_line_naming_it(tmp_path, config, module, value, message):
    site = _site(tmp_path, module, value)
    done = _cli(site, tmp_path, "train", "--config", str(config), "--run-dir", str(tmp_path / "runs" / "plug"))
    assert done.returncode == 2 and not (tmp_path / "runs").exists()
    (line,) = done.stderr.strip().splitlines()
    assert f"plugin 'toy' ({value}, from td-testplugin) failed to load: " in line and message in line


def test_load_imports_each_plugin_once(tmp_path, monkeypatch):
    from trigdeploy import plugins

    site = _site(
        tmp_path, "import builtins\nbuiltins.td_plugin_imports = getattr(builtins, 'td_plugin_imports', 0) + 1\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.delitem(sys.modules, "td_testplugin", raising=False)
    import builtins

    monkeypatch.setattr(builtins, "td_plugin_imports", 0, raising=False)
    own = {("trigdeploy", "kinds"): "trigdeploy.models.registry"}  # trigdeploy's own kinds are entry points too
    assert plugins.load() == {("td-testplugin", "toy"): "td_testplugin", **own}
    assert plugins.load() == {("td-testplugin", "toy"): "td_testplugin", **own}
    assert builtins.td_plugin_imports == 1
    sys.modules.pop("td_testplugin", None)
