"""Third-party extensions: what installed distributions name in the ``trigdeploy.plugins`` entry-point group.

A plugin is an installed Python distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."trigdeploy.plugins"]
    my_kinds = "my_package.trigdeploy_kinds"         # a module: importing it registers
    my_forms = "my_package.forms:register"           # or a callable, called with no arguments

and registers what the built-ins register, the same way: model kinds (``models.registry.register``),
export forms (``convert.forms.register_form``) and project types (``simulators.register_simulator``),
each checked at its registration. ``load`` imports every plugin once per process, in the order of
their entry-point names; the CLI calls it before any command runs and ``config.load_config`` before
it parses a config, so a plugin's kind brings its ``train.<name>`` section. A plugin that fails to
load stops trigdeploy with one line naming the entry point, its distribution and the error.

Only installed distributions are plugins: nothing in a config, an input file or a run directory
names code to import.
"""

from __future__ import annotations

import importlib.metadata
import logging
import types

from trigdeploy.errors import TrigdeployError

logger = logging.getLogger(__name__)

GROUP = "trigdeploy.plugins"
_LOADED: dict[tuple[str, str], str] = {}  # (distribution, entry-point name) → its value, in this process


def _dist(ep: importlib.metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "an unnamed distribution"


def load() -> dict[tuple[str, str], str]:
    """Import (and call, where it names a callable) every ``trigdeploy.plugins`` entry point not loaded
    yet in this process; returns what is loaded. A failing plugin raises ``TrigdeployError`` (one line)
    and is not tried again in this process."""
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: (e.name, _dist(e))):
        key = (_dist(ep), ep.name)
        if key in _LOADED:
            continue
        _LOADED[key] = ep.value
        try:
            target = ep.load()
            if callable(target) and not isinstance(target, types.ModuleType):
                target()
        except Exception as exc:  # a plugin's own error, whatever it is: one line, the plugin named
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise TrigdeployError(
                f"plugin {ep.name!r} ({ep.value}, from {_dist(ep)}) failed to load: {type(exc).__name__}: {detail}"
            ) from None
        logger.debug(f"plugin {ep.name} ({ep.value}, from {_dist(ep)}) loaded")
    return dict(_LOADED)
