"""The export-form registry: each form declares what it requires and which simulators its projects use,
and the declarations are checked where they are made (a form's registration, a kind's registration),
not in the middle of an export."""

from __future__ import annotations

import re

import numpy as np
import pytest

from trigdeploy.config import MLPConfig
from trigdeploy.convert import export
from trigdeploy.convert.context import ExportContext
from trigdeploy.convert.forms import FORMS, Form, check_kind, register_form, unregister_form
from trigdeploy.errors import TrigdeployError
from trigdeploy.models import registry
from trigdeploy.targets import ExportTarget


def _noop(kind, ex) -> dict:
    return {}


@pytest.fixture
def toy_form():
    form = register_form(Form("toy_form", _noop, requires=("onnx",)))
    yield form
    unregister_form("toy_form")


def test_every_built_in_kind_lists_its_forms_after_what_they_require():
    for kind in registry.KINDS.values():
        check_kind(kind)
    assert FORMS["rtl"].requires == ("qonnx",) and FORMS["rtl_ptq"].requires == ("hls4ml_ptq",)
    assert FORMS["qonnx_hls4ml"].requires == ("qonnx",)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (Form("onnx", _noop), "registered twice"),
        (Form("toy_bad", _noop, requires=("no_such_form",)), "requires ['no_such_form']"),
        (Form("toy_self", _noop, requires=("toy_self",)), "requires ['toy_self']"),
    ],
    ids=["duplicate", "unknown-requirement", "requires-itself"],
)
def test_a_form_is_refused_at_registration(form, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        register_form(form)
    assert form.name == "onnx" or form.name not in FORMS


@pytest.mark.parametrize(
    ("forms", "message"),
    [
        (("toy_form", "onnx"), "'toy_form' requires onnx before it"),
        (("onnx", "nothing_here"), "'nothing_here' is not registered"),
    ],
    ids=["requirement-after", "unknown-form"],
)
def test_a_kind_whose_forms_break_a_requirement_is_refused_at_registration(toy_form, forms, message):
    kind = registry.ModelKind("toy_kind", MLPConfig, "toy.pt", "torch", "PyTorch", forms=forms)
    with pytest.raises(ValueError, match=message):
        registry.register(kind)
    assert "toy_kind" not in registry.KINDS


def test_a_kind_in_the_right_order_registers(toy_form):
    registry.register(
        registry.ModelKind("toy_kind", MLPConfig, "toy.pt", "torch", "PyTorch", forms=("onnx", "toy_form"))
    )
    registry.unregister("toy_kind")


def test_a_check_added_later_runs_on_the_kinds_already_registered():
    seen = []
    registry.add_check(lambda kind: seen.append(kind.name))
    try:
        assert seen == list(registry.KINDS)
    finally:
        registry._CHECKS.pop()


@pytest.mark.parametrize("simulator", ["hls", "ghdl"], ids=["declared", "undeclared"])
def test_a_form_adds_projects_only_for_the_simulators_it_declares(tmp_path, simulator):
    """The manifest's simulator names are what csim dispatches on: a form that adds a project for a
    simulator it did not declare is a registration error, raised before the export is written."""

    def add(kind, ex):
        (ex.fw_dir / "toy_vitis").mkdir(parents=True)
        np.savez(tmp_path / "ref.npz", inputs=np.zeros((2, 3)), logits=np.zeros(2))
        ex.add_project(
            "toy_vitis",
            kind,
            "toy csim",
            "toy reference",
            "ref.npz",
            exact=True,
            device=ex.rtl_device,
            simulator=simulator,
        )
        return {"toy": {}}

    form = Form("toy_sim", add, simulators=("hls",))
    kind = registry.ModelKind("toy", MLPConfig, "toy.pt", "torch", "PyTorch")
    ex = ExportContext(
        tmp_path,
        ExportTarget(source="test"),
        tmp_path,
        tmp_path / "fw",
        tmp_path / "final",
        tmp_path / "cache",
        np.zeros((2, 3)),
        np.zeros(2),
        [],
    )
    if simulator == "hls":
        assert export._export_form(form, kind, ex) == {"toy": {}}
    else:
        with pytest.raises(ValueError, match=r"simulators \['ghdl'\] that it does not declare"):
            export._export_form(form, kind, ex)


@pytest.mark.parametrize(
    ("part", "taken"), [({"hls4ml": {}}, None), ({"onnx": {"file": "x"}}, "['onnx']")], ids=["new-key", "overwrite"]
)
def test_a_forms_part_never_overwrites_another_forms(part, taken):
    entry = {"source": {}, "onnx": {"file": "mlp.onnx"}}
    if taken is None:
        export.merge_part(entry, part, "hls4ml_ptq", "mlp")
        assert entry == {"source": {}, "onnx": {"file": "mlp.onnx"}, "hls4ml": {}}
    else:
        with pytest.raises(
            ValueError, match=re.escape(f"export form 'late' of 'mlp' writes manifest keys already written: {taken}")
        ):
            export.merge_part(entry, part, "late", "mlp")
        assert entry["onnx"] == {"file": "mlp.onnx"}


def test_a_forms_cost_reaches_bench_after_the_built_in_forms():
    """bench asks every registered form for its cost, in registration order: a plugin's form is reported
    after the built-in ones, with the figures and label its cost gives, for the kinds that list it."""
    from trigdeploy.bench.run import fpga_estimates

    figures = {"lut": 7, "ff": 3, "dsp": 0, "bram": 0, "latency_ns": 5.0, "estimate": True, "method": "toy"}
    register_form(
        Form(
            "toy_costed",
            _noop,
            cost=lambda kind, layout, entry, clock, reuse: [
                (f"{kind.name} (toy)", {**figures, "entry": entry["toy"]}, True)
            ],
        )
    )
    registry.register(registry.ModelKind("toy_kind", MLPConfig, "toy.pt", "torch", "PyTorch", forms=("toy_costed",)))
    try:
        est, points = fpga_estimates(None, {"toy_kind": {"toy": 1}, "other": {}}, 5.0, 1)
        assert est == {"toy_kind (toy)": {**figures, "entry": 1}} and points == {"toy_kind (toy)": "toy_kind"}
        assert list(FORMS)[-1] == "toy_costed" and list(FORMS)[:4] == ["onnx", "qonnx", "qonnx_hls4ml", "rtl"]
    finally:
        registry.unregister("toy_kind")
        unregister_form("toy_costed")


def test_background_work_is_collected_in_order_in_the_exports_thread(tmp_path):
    """``ExportContext.in_background``: each work runs off the export's thread, its ``then`` on it, in the
    order started; an error of a work is raised when collected, and the works after it are dropped."""
    import threading

    def context():
        return ExportContext(
            tmp_path, ExportTarget(source="test"), tmp_path, tmp_path / "fw", tmp_path / "final",
            tmp_path / "cache", np.zeros((2, 3)), np.zeros(2), [],
        )  # fmt: skip

    ex, seen = context(), []
    main = threading.get_ident()
    for i in range(3):
        ex.in_background(lambda i=i: (i, threading.get_ident()), lambda r: seen.append((r[0], r[1] != main)))
    assert seen == []
    ex.finish_background()
    assert seen == [(0, True), (1, True), (2, True)] and ex.pending == []

    def fails():
        raise TrigdeployError("check: 1 mismatch")

    ex, seen = context(), []
    for work in (lambda: 0, fails, lambda: 2):
        ex.in_background(work, seen.append)
    with pytest.raises(TrigdeployError, match="check: 1 mismatch"):
        ex.finish_background()
    assert seen == [0] and ex.pending == []


def _context(tmp_path, target: ExportTarget, prebuild_csim: bool) -> ExportContext:
    return ExportContext(
        tmp_path, target, tmp_path, tmp_path / "fw", tmp_path / "final", tmp_path / "cache", np.zeros((2, 3)),
        np.zeros(2), [], prebuild_csim=prebuild_csim,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("prebuild_csim", "ptq_rtl", "order"),
    [
        (False, False, ["bdt", "mlp", "qmlp", "hgq"]),
        (True, False, ["bdt", "qmlp", "hgq", "mlp"]),
        (True, True, ["bdt", "mlp", "qmlp", "hgq"]),
    ],
    ids=["no-prebuild", "prebuild-ptq-rtl-off", "prebuild-ptq-rtl-on"],
)
def test_kinds_whose_rtl_builds_compile_in_the_background_go_first(tmp_path, prebuild_csim, ptq_rtl, order):
    """The BDT (a ``background`` form) first; with ``prebuild_csim``, then the kinds with an RTL form that writes
    a project for this target (the float MLP's ``rtl_ptq`` only with ``ptq_rtl``), so that their Verilator builds
    start early; the others keep the registry's order."""
    ex = _context(tmp_path, ExportTarget(ptq_rtl=ptq_rtl, source="test"), prebuild_csim)
    kinds = [registry.KINDS[n] for n in ("mlp", "qmlp", "hgq", "bdt")]
    assert [k.name for k in sorted(kinds, key=lambda k: export._kind_order(k, ex))] == order


def test_a_simulator_build_that_fails_in_the_export_is_one_warning(tmp_path, monkeypatch, caplog):
    """``ExportContext.prebuild`` compiles a project's csim build in the background; its failure is csim's to
    report (csim builds it again), so the export goes on with one warning naming the project."""
    import dataclasses

    from trigdeploy import simulators

    built = []

    def prebuild(project, cache):
        built.append(project.name)
        if project.name == "bad_rtl":
            raise TrigdeployError("Verilator failed on bad_rtl (exit 1)")

    sim = dataclasses.replace(simulators.SIMULATORS["verilator"], prebuild=prebuild, tool=None)
    monkeypatch.setitem(simulators.SIMULATORS, "verilator", sim)
    ex = _context(tmp_path, ExportTarget(source="test"), True)
    for name in ("good_rtl", "bad_rtl"):
        ex.prebuild(name, "verilator")
    ex.prebuild("none", "not-a-simulator")  # no such simulator: nothing to build
    with caplog.at_level("WARNING"):
        ex.finish_background()
    assert sorted(built) == ["bad_rtl", "good_rtl"]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "bad_rtl" in warned[0] and "Verilator failed" in warned[0]
