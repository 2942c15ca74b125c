"""Stages import only downward: data, models ← train ← convert ← csim ← bench ← api ← cli.

Shared machinery (config, schema, generators, targets, plugins, simulators, errors, io, layout, fixed, fpga, expr, logits, cluster,
cxx, hdl, versions) sits below every stage and imports none. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trigdeploy"
RANK = {"data": 1, "models": 1, "train": 2, "convert": 3, "csim": 4, "bench": 5, "api": 6, "cli": 7, "__main__": 8}


def _layer(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if parts[0] != "trigdeploy" or len(parts) < 2:
        return None
    return parts[1], RANK.get(parts[1], 0)


def violations(root: Path) -> list[str]:
    """Every import of a module at the same or a higher layer than the importing stage's (other stage)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("trigdeploy", *path.relative_to(root).with_suffix("").parts))
        here, rank = _layer(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                there = _layer(target)
                if there is None or there[0] == here:
                    continue
                if there[1] > rank or (there[1] == rank and rank > 0):
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {here} imports {target} ({there[0]})")
    return out


def test_stages_import_only_downward():
    assert violations(SRC) == []


@pytest.mark.parametrize(
    ("file", "source"),
    [
        ("convert/x.py", "from trigdeploy.csim import harness\n"),
        ("config.py", "from trigdeploy.data import expr\n"),
        ("data/y.py", "def f():\n    import trigdeploy.train.run\n"),
        ("data/z.py", "from trigdeploy.models import mlp\n"),
        ("api.py", "def f():\n    from trigdeploy.cli import main\n"),
    ],
    ids=["convert-to-csim", "shared-to-stage", "lazy-upward", "sideways", "api-to-cli"],
)
def test_the_check_catches_an_upward_import(tmp_path, file, source):
    path = tmp_path / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    assert len(violations(tmp_path)) == 1
