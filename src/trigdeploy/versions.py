"""Provenance: the installed versions of the packages behind an artifact."""

from __future__ import annotations

import importlib.metadata as md
import platform


def package_versions(packages: tuple[str, ...], python: bool = False) -> dict[str, str]:
    """``{package: version}`` for those of ``packages`` that are installed (and Python's, if asked)."""
    out = {"python": platform.python_version()} if python else {}
    for pkg in packages:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
