"""``trigdeploy export``: every trained model of a run → checked, deployable artifacts + manifest.

Each model kind lists its export forms (``models.registry``); each form is one registration in
``convert/forms/`` (``convert.forms.Form``: ONNX, hls4ml PTQ, QONNX → hls4ml, the resource-aware
model's hls4ml projects, alkaid RTL, conifer). Every form checks what it writes on the whole test
split (bit for bit where the form is exact) and records the references csim and bench reuse;
``preprocess.json`` goes beside the artifacts and ``manifest.json`` lists the source models' hashes,
package versions, precisions, every parity figure, each firmware project (what it is checked
against, which simulator runs it, the hashes of its files) and what is not exported.

An artifact that fails its check is not written; the export stops with the failing figure, and
everything is staged and swapped in as a whole (``export_run``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np

from trigdeploy import timing
from trigdeploy.convert._tools import ToolFailed
from trigdeploy.convert.context import ExportContext
from trigdeploy.convert.forms import FORMS
from trigdeploy.convert.manifest import SCHEMA
from trigdeploy.data.cache import load_split, run_classes
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import partial_name, remove_stale_partials, sha256_file, write_json_atomic, write_text_atomic
from trigdeploy.layout import RunLayout
from trigdeploy.targets import ExportTarget
from trigdeploy.versions import package_versions

logger = logging.getLogger(__name__)

EXPORT_MARKER = ".trigdeploy-export"  # in every export/<run> and firmware/<run> folder trigdeploy writes
# what older trigdeploy versions wrote there without the marker (accepted for replacement)
_KNOWN_EXPORT = re.compile(r"manifest\.json|export\.log|preprocess\.json|[\w.]+\.onnx|bdt\.conifer\.json|\..*")
_KNOWN_FIRMWARE = re.compile(r"[A-Za-z0-9]\w*_(vitis|vivado|rtl|cpp|xilinxhls|vhdl)|\..*")  # <kind>_<backend>
PACKAGES = ("torch", "brevitas", "onnx", "onnxruntime", "qonnx", "hls4ml", "conifer", "xgboost", "numpy")


def _owned(path: Path, marker: str, known: re.Pattern) -> bool:
    """Is ``path`` absent, empty, marked as trigdeploy's, or made only of what trigdeploy writes there?"""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    return (path / marker).exists() or all(known.fullmatch(e.name) for e in entries)


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by the finished ``staging`` folder (the old one is removed afterwards)."""
    old = partial_name(final.with_name(final.name + ".old"))
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_run(
    run_dir: Path,
    target: ExportTarget,
    export_root: Path | None = None,
    firmware_root: Path | None = None,
    prebuild_csim: bool = False,
) -> dict:
    """Export every model of ``run_dir``; returns the manifest (also written to ``export/<run>/``).

    ``export_root``/``firmware_root`` default to the run's layout (``trigdeploy.layout``). Messages go
    through ``logging``, one line per form and project. ``prebuild_csim``: csim's build of each project is
    compiled meanwhile (``ExportContext.prebuild``).

    Everything is built in hidden staging folders beside ``export/<run>`` and ``firmware/<run>`` and
    swapped in only after every check passed: a failed, interrupted or killed export leaves the
    previous complete export in place (or nothing). The staging folders of a killed export are
    removed by the next one. A tool failure is one line naming the tool, the project and the log.
    """
    layout = RunLayout.of(run_dir, export_root, firmware_root)
    run_dir, export_root, firmware_root = layout.run_dir, layout.export_root, layout.firmware_root
    x_test, y_test = load_split(run_dir, "test")
    name = layout.name
    out_final, fw_final = layout.export_dir, layout.firmware_dir
    for path, known in ((out_final, _KNOWN_EXPORT), (fw_final, _KNOWN_FIRMWARE)):
        if not _owned(path, EXPORT_MARKER, known):
            raise TrigdeployError(
                f"{path} exists and was not written by trigdeploy export (no {EXPORT_MARKER}); "
                "move it away or choose another --export-root/--firmware-root"
            )
    for root in (Path(export_root), Path(firmware_root)):
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(root)
    out_dir, fw_dir = partial_name(out_final), partial_name(fw_final)
    failed_log = Path(export_root) / f"{name}.export-failed.log"
    log: list[str] = []
    try:
        for d in (out_dir, fw_dir):
            d.mkdir()
            (d / EXPORT_MARKER).write_text("written by trigdeploy export; replaced as a whole by the next export\n")
        with timing.stage("export") as rec:
            manifest = _export_models(
                run_dir, target, out_dir, fw_dir, fw_final, layout.csim_cache, x_test, y_test, log, prebuild_csim
            )
            manifest["timing"] = rec.report()
        write_text_atomic(out_dir / "export.log", "\n".join(log))
        write_json_atomic(out_dir / layout.manifest.name, manifest)
        # firmware first: until the export folder (with the manifest) is swapped, nothing claims the new projects
        _swap_in(fw_dir, fw_final)
        _swap_in(out_dir, out_final)
        failed_log.unlink(missing_ok=True)
        return manifest
    except BaseException as exc:
        with contextlib.suppress(OSError):
            write_text_atomic(failed_log, "\n".join(log))
        if isinstance(exc, ToolFailed):
            raise TrigdeployError(f"{exc}; full log: {failed_log}") from None
        raise
    finally:
        for d in (out_dir, fw_dir):
            shutil.rmtree(d, ignore_errors=True)


def _export_models(
    run_dir: Path,
    target: ExportTarget,
    out_dir: Path,
    fw_dir: Path,
    fw_final: Path,
    cache: Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    log: list[str],
    prebuild_csim: bool = False,
) -> dict:
    """Every exported form of every trained model of ``run_dir`` (``models.registry``) into the staging
    folders ``out_dir`` and ``fw_dir``; the manifest names the projects by their final folder ``fw_final``."""
    from trigdeploy.models import registry

    unknown = [f for f in target.forms or () if f not in FORMS]
    if unknown:
        raise TrigdeployError(
            f"{target.source or 'export target'}: forms: {unknown[0]!r} is not a form ({', '.join(FORMS)})"
        )
    ex = ExportContext(
        run_dir, target, out_dir, fw_dir, fw_final, cache, x_test, y_test, log, prebuild_csim=prebuild_csim
    )
    manifest: dict = {
        "schema": SCHEMA,
        "run": str(run_dir),
        "target": target.source,
        "device": ex.hls4ml_device.as_dict(),
        "budget": dataclasses.asdict(target.budget),
        "versions": package_versions(PACKAGES),
        "models": {},
        "test_events": int(len(x_test)),
        "classes": list(run_classes(run_dir)),
    }
    shutil.copyfile(RunLayout.of(run_dir).preprocess, out_dir / "preprocess.json")
    try:
        entries = _export_kinds(ex, manifest)
        ex.finish_background()
    finally:
        ex.abandon_background()
    order = list(registry.KINDS)  # the manifest lists models and projects in the kinds' order, whatever ran first
    manifest["models"] = {name: entries[name] for name in order if name in entries}
    if not manifest["models"]:
        raise TrigdeployError(
            f"run {run_dir}: no exportable model ({', '.join(k.artifact for k in registry.KINDS.values() if k.forms)})"
        )
    # the kinds' order, and within a kind the forms' registered order (bench's tables), whatever ran first
    forms = list(FORMS)
    ex.projects.sort(key=lambda p: (order.index(p.model), forms.index(ex.project_forms[p.name])))
    manifest["projects"] = ex.seal()
    return manifest


def _export_kinds(ex: ExportContext, manifest: dict) -> dict[str, dict]:
    """The manifest entry of every trained kind that has forms (the others are listed in ``manifest``'s
    ``not_exported``). Kinds with a ``background`` form go first: their long builds run beside the others;
    with ``prebuild_csim``, then the kinds with RTL projects, whose simulator builds (Verilator's) are long."""
    from trigdeploy.models import registry

    trained = _trained(ex.run_dir)
    kinds = sorted(registry.KINDS.values(), key=lambda k: _kind_order(k, ex))
    entries = {}
    for kind in kinds:
        src = ex.run_dir / kind.artifact
        if not src.exists() or (trained is not None and kind.name not in trained):
            continue  # a model file the run holds but did not train (a scan point's starting point): not exported
        if not kind.forms:
            manifest.setdefault("not_exported", {})[kind.name] = kind.not_exported
            continue
        entry = {"source": {"file": src.name, "sha256": sha256_file(src)}}
        for form in selected_forms(kind.forms, ex.target.forms):
            with timing.step(f"{kind.name} {form}"):
                merge_part(entry, _export_form(FORMS[form], kind, ex), form, kind.name)
        entries[kind.name] = entry
    return entries


def _kind_order(kind, ex: ExportContext) -> int:
    """0: a kind with a ``background`` form; 1 (with ``prebuild_csim``): a kind with a form whose projects are
    RTL (a simulator that Yosys counts: its build is compiled in the background); 2: the others."""
    from trigdeploy.simulators import SIMULATORS

    forms = [FORMS[f] for f in selected_forms(kind.forms, ex.target.forms)]
    forms = [f for f in forms if f.active is None or f.active(ex.target)]
    if any(f.background for f in forms):
        return 0
    rtl = any(SIMULATORS[s].design is not None for f in forms for s in f.simulators if s in SIMULATORS)
    return 1 if ex.prebuild_csim and rtl else 2


def selected_forms(forms: tuple[str, ...], wanted: tuple[str, ...] | None) -> list[str]:
    """Of a kind's ``forms``, those in ``wanted`` and the forms they require, in the kind's order (all of
    them where ``wanted`` is None)."""
    if wanted is None:
        return list(forms)
    keep = {f for f in forms if f in wanted}
    for f in reversed(forms):  # a form's requirements come before it in a kind's forms
        if f in keep:
            keep.update(FORMS[f].requires)
    return [f for f in forms if f in keep]


def _trained(run_dir: Path) -> set[str] | None:
    """The kinds ``run.json`` says the run trained (None: no such record; every model file counts)."""
    path = RunLayout.of(run_dir).run_json
    try:
        models = json.loads(path.read_text()).get("models") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        raise TrigdeployError(f"{path}: not a JSON object with the run's models; train the run again") from None
    return set(models) if isinstance(models, list) else None


def merge_part(entry: dict, part: dict, form: str, kind: str) -> None:
    """Add a form's part to its kind's manifest entry. A form's figures never overwrite another's (a
    ``ValueError``: the forms' registration is wrong, not the user's input)."""
    taken = sorted(set(part) & set(entry))
    if taken:
        raise ValueError(f"export form {form!r} of {kind!r} writes manifest keys already written: {taken}")
    entry.update(part)


def _export_form(form, kind, ex: ExportContext) -> dict:
    """``form`` exported for ``kind``; the projects it adds ask for simulators it declares (else a ``ValueError``:
    the form's registration is wrong, not the user's input)."""
    before = len(ex.projects)
    part = form.export(kind, ex)
    undeclared = {p.simulator for p in ex.projects[before:]} - set(form.simulators)
    if undeclared:
        raise ValueError(
            f"export form {form.name!r} added projects for simulators {sorted(undeclared)} that it does "
            f"not declare ({list(form.simulators)})"
        )
    for p in ex.projects[before:]:
        ex.project_forms[p.name] = form.name
        if ex.prebuild_csim:
            ex.prebuild(p.name, p.simulator)
    return part
