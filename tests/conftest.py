"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def run_cli(capsys):
    """Run ``trigdeploy.cli.main`` and return (status, stdout, stderr)."""
    from trigdeploy.cli import main

    def _run(*argv: str) -> tuple[int, str, str]:
        status = main([*argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    return _run
