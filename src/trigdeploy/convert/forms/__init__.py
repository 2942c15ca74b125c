"""Export forms: one registration per form, one file per form (or family of forms) in this package.

A ``Form`` names what a model kind lists in ``ModelKind.forms`` and says how it is exported:
``export(kind, ctx) -> dict`` writes the form's artifacts and projects into the context's staging
folders (``convert.context.ExportContext``), checks them (exactly, or against the gate the target
sets) and returns its part of the kind's manifest entry; ``requires`` names the forms whose
references it reuses, which must come before it in a kind's forms; ``simulators`` names the
project types (``trigdeploy.simulators``: how csim runs a project and what synth counts of it) its
projects may ask for; ``cost`` gives bench its FPGA figures before synthesis (trigdeploy's analytic
hls4ml model, alkaid's or conifer's estimators); ``background`` says that it starts long builds
beside the forms that follow (``ExportContext.in_background``), so its kind is exported first;
``active(target)`` says whether it writes anything for an export target (a form a target key turns on),
so that the export's order counts it only then.
Forms are reported in the order they are registered (bench's tables).

The contract is checked where it is declared, not in the middle of an export: ``register_form``
refuses a form whose requirements or simulators are not registered, and every model kind's forms are checked
when the kind is registered (or, for kinds registered before this package was imported, when it
is): each is a registered form, listed after what it requires. Adding a form is one file here
with one ``register_form`` call, imported at the bottom of this module (a plugin registers its
own the same way).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trigdeploy.models import registry
from trigdeploy.simulators import SIMULATORS


@dataclass(frozen=True)
class Form:
    name: str  # what a kind lists in its ``forms``
    export: Callable[[Any, Any], dict]  # (kind, ExportContext) → its part of the kind's manifest entry
    requires: tuple[str, ...] = ()  # forms that must come before it in a kind's forms
    simulators: tuple[str, ...] = ()  # the simulators its projects may ask for (none: no project)
    # (kind, RunLayout, the kind's manifest entry, clock ns, reuse) → [(label, FPGA figures, is the kind's point
    # on the resource plot)]: its cost before synthesis, labelled with the estimator that gave it
    cost: Callable[..., list[tuple[str, dict, bool]]] | None = None
    # its checks compile for long (ExportContext.in_background): its kind is exported before the others, so that
    # those builds run beside their forms
    background: bool = False
    # (ExportTarget) → whether the form writes anything for it (None: always): the export's order of kinds counts
    # only the forms that do
    active: Callable[[Any], bool] | None = None


FORMS: dict[str, Form] = {}


def register_form(form: Form) -> Form:
    """Add an export form; its requirements must be registered forms and its simulators registered project
    types (a ``ValueError`` otherwise)."""
    if form.name in FORMS:
        raise ValueError(f"export form {form.name!r} is registered twice")
    unknown_sim = [s for s in form.simulators if s not in SIMULATORS]
    if unknown_sim:
        raise ValueError(
            f"export form {form.name!r} declares simulators {unknown_sim}, which are not registered "
            f"({', '.join(SIMULATORS)}; trigdeploy.simulators.register_simulator)"
        )
    unknown = [r for r in form.requires if r not in FORMS]  # itself included: it is not registered yet
    if unknown:
        raise ValueError(
            f"export form {form.name!r} requires {unknown}, which "
            f"{'is' if len(unknown) < 2 else 'are'} not a registered form before it"
        )
    FORMS[form.name] = form
    return form


def unregister_form(name: str) -> None:
    """Remove a form registered by ``register_form`` (tests, plugins that unload)."""
    FORMS.pop(name)


def check_kind(kind: registry.ModelKind) -> None:
    """A kind's forms are registered forms, each listed after the forms it requires (else ``ValueError``)."""
    for i, name in enumerate(kind.forms):
        if name not in FORMS:
            raise ValueError(
                f"model kind {kind.name!r}: export form {name!r} is not registered ({', '.join(sorted(FORMS))})"
            )
        missing = [r for r in FORMS[name].requires if r not in kind.forms[:i]]
        if missing:
            raise ValueError(
                f"model kind {kind.name!r}: export form {name!r} requires {', '.join(missing)} "
                f"before it in its forms {list(kind.forms)}"
            )


# the built-in forms, in report order; each registers after the forms it requires
for _name in (
    "onnx",
    "qonnx",
    "qonnx_hls4ml",
    "rtl",
    "hls4ml_ptq",
    "rtl_ptq",
    "hls4ml_hgq",
    "rtl_hgq",
    "conifer",
    "rtl_bdt",
    "rtl_deepsets",
):
    importlib.import_module(f"{__name__}.{_name}")

registry.add_check(check_kind)
