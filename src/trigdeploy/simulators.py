"""Project types: how a firmware project is simulated and what of it is synthesized, one registration each.

Every firmware project an export form writes names its project type (the manifest's ``simulator``);
a ``Simulator`` registered under that name says how ``csim`` (and ``bench``, when csim has not run)
runs the project, what it compiles ahead, which HDL tool it needs and what Yosys synthesizes of it:

* ``run(project, cache, x, exact, threads, arithmetic) -> (outputs, info, testbench)``: the project's
  outputs on every row of ``x`` (one row per event, the logits as the design gives them), how they were
  obtained (``info``: at least ``arithmetic``, ``compile_seconds``, ``build_cached``, ``events_per_s``)
  and its own testbench's check (a dict with ``n_events`` and ``ok``: the project's saved test vectors
  reproduced exactly). ``cache`` is the run's build cache; ``arithmetic`` is csim's ``--arithmetic``
  (only the HLS type has a choice; others ignore it).
* ``prebuild(project, cache)``: compiles the project's build ahead; csim runs these side by side (one
  per core) before simulating the projects one after the other. None: nothing to compile ahead.
* ``tool``: the HDL tool (``hdl.tools``) the type needs: without it its projects are skipped with one
  line (csim, bench) instead of failing.
* ``design(project) -> hdl.yosys.Design``: what ``trigdeploy synth`` counts with Yosys. None: the
  type is not RTL (HLS projects go through the vendor's C synthesis where it is installed).

Export forms name the types their projects may ask for (``convert.forms.Form.simulators``); a form
naming a type that is not registered is refused at its registration. The built-in types: ``hls``
(``cxx.simulate``), ``verilator`` and ``ghdl`` (``hdl.projects``). A new project type is one
``register_simulator`` call (a plugin, a test's NumPy "firmware").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigdeploy.cxx import simulate as hls
from trigdeploy.cxx import testbench
from trigdeploy.hdl import projects, tools, verilator


@dataclass(frozen=True)
class Simulator:
    name: str  # what the manifest's ``simulator`` names
    run: Callable[..., tuple[Any, dict, dict]]  # (project, cache, x, exact, threads, arithmetic)
    prebuild: Callable[[Path, Path], Any] | None = None  # (project, cache): compile ahead
    tool: str | None = None  # the HDL tool it needs (``hdl.tools``)
    design: Callable[[Path], Any] | None = None  # project → ``hdl.yosys.Design`` (RTL types)


SIMULATORS: dict[str, Simulator] = {}


def register_simulator(sim: Simulator) -> Simulator:
    """Add a project type (a ``ValueError`` if its name is taken)."""
    if sim.name in SIMULATORS:
        raise ValueError(f"simulator {sim.name!r} is registered twice")
    SIMULATORS[sim.name] = sim
    return sim


def unregister_simulator(name: str) -> None:
    """Remove a project type registered by ``register_simulator`` (tests, plugins that unload)."""
    SIMULATORS.pop(name)


def missing(name: str) -> str | None:
    """Why the simulator ``name`` cannot run here (not registered, or its HDL tool is not installed), in one
    line; None if it can."""
    if name not in SIMULATORS:
        return f"simulator {name!r} is not registered in this trigdeploy ({', '.join(SIMULATORS)})"
    tool = SIMULATORS[name].tool
    return tools.missing(tool) if tool is not None and tools.find(tool) is None else None


register_simulator(Simulator("hls", hls.simulate_hls, prebuild=testbench.build))
register_simulator(
    Simulator(
        "verilator",
        projects.simulate_verilator,
        tool="verilator",
        design=projects.alkaid_design,
        prebuild=verilator.prebuild,
    )
)
register_simulator(Simulator("ghdl", projects.simulate_ghdl, tool="ghdl", design=projects.conifer_design))
