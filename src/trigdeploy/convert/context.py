"""What every export form works with: the run, the target, the staging folders, the test split and the
references and projects the forms record (``ExportContext``), and the checks forms share (an hls4ml
project exact on every test event, an alkaid RTL project, the resource-aware model's fixed-point reference).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from trigdeploy import fpga
from trigdeploy.convert.manifest import Device, Project, file_hashes
from trigdeploy.errors import TrigdeployError
from trigdeploy.io import sha256_file
from trigdeploy.targets import ExportTarget

logger = logging.getLogger("trigdeploy.convert.export")


@dataclass
class ExportContext:
    """What every form exporter needs: the run, the target, the staging folders, the test split, the log."""

    run_dir: Path
    target: ExportTarget
    out_dir: Path
    fw_dir: Path
    fw_final: Path
    cache: Path
    x_test: np.ndarray
    y_test: np.ndarray
    log: list[str]
    loaded: dict = field(default_factory=dict)
    projects: list[Project] = field(default_factory=list)
    references: dict = field(default_factory=dict)  # kind name → (inputs, logits, file) saved by save_reference
    ptq: dict = field(default_factory=dict)  # kind name → PTQ precisions and the first hls4ml project's outputs
    # kind name → its fixed-point model (hgq: exact parts; conifer's; qonnx: the QONNX model and input quantizer)
    exact: dict = field(default_factory=dict)
    # work started by ``in_background`` and what runs when it is collected
    pending: list[tuple[Future, Callable]] = field(default_factory=list)
    prebuild_csim: bool = False  # compile each written project's csim build meanwhile (``prebuild``)
    project_forms: dict = field(default_factory=dict)  # project name → the form that wrote it
    _pool: ThreadPoolExecutor | None = None

    def in_background(self, work: Callable[[], object], then: Callable[[object], None]) -> None:
        """Run ``work()`` (a long compile and its check: time in a compiler, not in Python) on a thread beside
        the forms that follow; ``then(its result)`` runs in the export's thread when ``finish_background``
        collects it, before anything is written. The forms that start such work say so
        (``Form.background``): their kinds are exported first. ``work`` must not touch the context."""
        if self._pool is None:
            # two with prebuild_csim: the simulator builds of the last forms compile side by side once the forms end
            self._pool = ThreadPoolExecutor(2 if self.prebuild_csim else 1, thread_name_prefix="td-export")
        self.pending.append((self._pool.submit(contextvars.copy_context().run, work), then))

    def prebuild(self, name: str, simulator: str) -> None:
        """Compile the csim build of the project ``name`` (complete in the staging folder) on the background
        thread, into the build cache csim reads: its simulator's ``prebuild`` (a Verilator model, an HLS
        testbench; nothing where the simulator has none or its tool is missing). csim checks the project
        itself: a build that fails here is one warning, and csim reports it again."""
        from trigdeploy.simulators import SIMULATORS, missing

        sim = SIMULATORS.get(simulator)
        if sim is None or sim.prebuild is None or missing(simulator):
            return
        project, cache = (self.fw_dir / name).resolve(), Path(self.cache).resolve()

        def work() -> str | None:
            try:
                sim.prebuild(project, cache)
            except TrigdeployError as exc:
                return str(exc)
            return None

        def then(failed: str | None) -> None:
            if failed:
                logger.warning(f"export: {name}: its csim build failed ({failed}); csim will build it again")

        self.in_background(work, then)

    def finish_background(self) -> None:
        """Wait for the work of ``in_background`` in the order it started, then run its ``then``; its first
        error is raised (the export fails). After an error elsewhere, ``abandon_background`` instead."""
        try:
            for future, then in self.pending:
                then(future.result())
        finally:
            self.abandon_background()

    def abandon_background(self) -> None:
        """Wait for the work started in the background to end (its compilers read the staging folders, which a
        failed export removes) and drop its results."""
        self.pending = []  # an error of abandoned work is not the export's
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)  # what has not started never starts
            self._pool = None

    def save_reference(self, kind, inputs: np.ndarray, logits: np.ndarray, name: str | None = None) -> str:
        """Save what a kind's firmware projects are fed (the test split as the port sees it) and the
        reference logits they must reproduce; csim and bench read them instead of recomputing.
        ``name``: a second reference of the same kind (another port type), e.g. the PTQ RTL's."""
        rel = f"references/{name or kind.name}.npz"
        (self.out_dir / "references").mkdir(exist_ok=True)
        np.savez(self.out_dir / rel, inputs=np.asarray(inputs), logits=np.asarray(logits))
        if name is None:
            self.references[kind.name] = (inputs, logits, rel)
        return rel

    @property
    def hls4ml_device(self) -> Device:
        """The target's device as its hls4ml section gives it (the export's device, and its hls4ml projects')."""
        h = self.target.hls4ml
        return Device(h.Part, h.ClockPeriod, h.ReuseFactor)

    @property
    def rtl_device(self) -> Device:
        """The device of an alkaid RTL project: the hls4ml section's part and clock, a new event every clock."""
        h = self.target.hls4ml
        return Device(h.Part, h.ClockPeriod, 1)

    def add_project(
        self,
        name: str,
        kind,
        form: str,
        reference: str,
        reference_file: str,
        exact: bool,
        device: Device,
        reference_form: str | None = None,
        simulator: str = "hls",
        expected: np.ndarray | None = None,
        max_auc_loss: float | None = None,
    ) -> None:
        """A firmware project for csim and bench: what it is, what it is checked against, how strictly,
        the device it was generated for and which simulator runs it. A project that is not exact (PTQ)
        gives the outputs export recorded for it (``expected``, which csim must reproduce bit for bit)
        and the physics gate export applied (``max_auc_loss``)."""
        rel = None
        if not exact:
            if expected is None or max_auc_loss is None:
                raise ValueError(f"project {name}: a project that is not exact needs expected outputs and a gate")
            rel = f"references/{name}.expected.npz"
            (self.out_dir / "references").mkdir(exist_ok=True)
            np.savez(self.out_dir / rel, logits=np.asarray(expected))
        self.projects.append(
            Project(
                name,
                kind.name,
                form,
                reference,
                reference_file,
                reference_form,
                exact,
                device,
                simulator,
                expected_file=rel,
                max_auc_loss=max_auc_loss if not exact else None,
            )
        )

    def add_rtl_project(self, kind, reference: str, reference_file: str, form: str = "alkaid RTL (Verilator)", **kw):
        """An exact alkaid RTL project ``<kind>_rtl`` on the target's RTL device, run by Verilator in csim
        (``reference``: what its logic was checked against; ``kw``: ``add_project``'s, e.g. ``reference_form``)."""
        self.add_project(
            f"{kind.name}_rtl", kind, form, reference, reference_file, exact=True, device=self.rtl_device,
            simulator="verilator", **kw,
        )  # fmt: skip

    def seal(self) -> list[dict]:
        """The projects with the SHA-256 of every file they and their references hold (what csim verifies),
        as ``manifest.json`` lists them."""
        self.projects = [
            replace(
                p,
                files=file_hashes(self.fw_dir / p.name),
                reference_sha256=sha256_file(self.out_dir / p.reference_file),
                expected_sha256=sha256_file(self.out_dir / p.expected_file) if p.expected_file else "",
            )
            for p in self.projects
        ]
        return [p.as_dict() for p in self.projects]

    def torch_model(self, kind):
        """The kind's trained torch model and its saved metadata (loaded once per export)."""
        from trigdeploy.models.families import load_torch_model

        if kind.name not in self.loaded:
            self.loaded[kind.name] = load_torch_model(self.run_dir / kind.artifact)
        return self.loaded[kind.name]


def say(text: str) -> None:
    """One line of the export's progress (``export: …``)."""
    logger.info("export: %s", text)


def exact_hls4ml_project(
    kind, ex: ExportContext, backend: str, build, x_grid: np.ndarray, reference: np.ndarray, what: str
) -> tuple[Path, Path, dict, float]:
    """``build(staging folder)`` writes and compiles the kind's hls4ml project for ``backend``; its C
    simulation must equal ``reference`` on every row of ``x_grid``, or nothing is written. Returns the
    staging and final folders, the check and the convert + compile time."""
    from trigdeploy.convert import to_hls4ml

    t1 = time.perf_counter()
    staging = ex.fw_dir / f"{kind.name}_{backend.lower()}"
    hm = build(staging)
    compile_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    check = to_hls4ml.check(hm, x_grid, reference, ex.cache)
    check["events_per_s"] = check["n_events"] / max(time.perf_counter() - t2, 1e-9)
    if not check["ok"]:
        raise TrigdeployError(
            f"{kind.name} {backend}: hls4ml C simulation differs from {what} on {check['n_mismatch']} of "
            f"{check['n_events']} test events (max {check['max_abs_diff']:.3g}); project not written"
        )
    return staging, ex.fw_final / staging.name, check, compile_s


def alkaid_missing(kind) -> dict | None:
    """Without alkaid installed: one warning and the kind's entry saying its RTL was skipped; else None."""
    try:
        import alkaid  # noqa: F401 - only whether it is installed
    except ImportError:
        logger.warning(f"export: {kind.name} RTL skipped: alkaid is not installed (the [rtl] extra)")
        return {"rtl": {"skipped": "alkaid not installed"}}
    return None


def rtl_project(
    kind,
    ex: ExportContext,
    comb,
    trace_s: float,
    x_grid: np.ndarray,
    check_ref: np.ndarray,
    check_what: str,
    description: str,
    tb_expected: np.ndarray,
    checker: Callable | None = None,
    **readme,
) -> dict:
    """alkaid's interpreter of ``comb`` must equal ``check_ref`` on every test event (``checker(x, ref)`` where the
    logic is not one combinational program, e.g. a folded design's FSM), then the Verilog project
    ``<kind>_rtl`` is written (its ``tb_data`` expects ``tb_expected``; ``readme``: ``to_rtl.write_project``'s
    keywords, e.g. what the port holds)."""
    from trigdeploy.convert import to_rtl

    check = checker(x_grid, check_ref) if checker else to_rtl.check(comb, x_grid, check_ref)
    if not check["ok"]:
        raise TrigdeployError(
            f"{kind.name} RTL: alkaid's logic differs from the {check_what} on {check['n_mismatch']} of "
            f"{check['n_events']} test events (max {check['max_abs_diff']:.3g}); project not written"
        )
    staging = ex.fw_dir / f"{kind.name}_rtl"
    final = ex.fw_final / staging.name
    part, clock = ex.target.hls4ml.Part, ex.target.hls4ml.ClockPeriod
    n_tb = min(ex.target.testbench_events, len(x_grid))
    t1 = time.perf_counter()
    info = to_rtl.write_project(
        comb,
        staging,
        part,
        clock,
        x_grid[:n_tb],
        tb_expected[:n_tb],
        description,
        f"Checked before writing: alkaid's interpreter of this logic equals the {check_what} "
        f"on {check['n_events']} test events ({check['n_mismatch']} mismatches).",
        **readme,
    )
    say(
        f"{kind.name} RTL → {final} (alkaid vs {check_what}: {check['n_mismatch']} mismatches on {check['n_events']} "
        f"events; {info['pipeline_stages']} stages, II {info['ii']}, ≈{info['lut_estimate_alkaid']:,.0f} LUT by alkaid's "
        "model)"
    )
    return {
        "project": str(final),
        "part": part,
        "clock_period_ns": clock,
        "check": check,
        "checked_against": check_what,
        "trace_seconds": trace_s,
        "write_seconds": time.perf_counter() - t1,
        **info,
    }


def hgq_reference(kind, ex: ExportContext):
    """The resource-aware model's exact parts and its fixed-point reference on the port's grid (saved once)."""
    from trigdeploy.convert import to_rtl

    model, saved = ex.torch_model(kind)
    if kind.name not in ex.exact:
        seq, choice = model.exact_parts()
        x_grid = to_rtl.ptq_input_grid(ex.x_test, choice)
        reference = model.reference(x_grid)
        ref_file = ex.save_reference(kind, x_grid, reference)
        ex.exact[kind.name] = {
            "precisions": choice,
            "model": seq,
            "x_grid": x_grid,
            "reference": reference,
            "ref_file": ref_file,
            "summary": model.summary(),
        }
    return ex.exact[kind.name], saved


def hls4ml_mlp_cost(kind, layout, label: str, layers_of, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    """trigdeploy's analytic estimate of an hls4ml MLP (``fpga.estimate_mlp``); ``layers_of(model, saved)``
    gives its layers from the kind's trained model."""
    from trigdeploy.models.families import load_torch_model

    model, saved = load_torch_model(layout.model_file(kind.artifact))
    return [(label, fpga.estimate_mlp(layers_of(model, saved), clock_ns, reuse), True)]


def rtl_cost(kind, layout, entry: dict, clock_ns: float, reuse: int) -> list[tuple[str, dict, bool]]:
    """An alkaid RTL project's cost by alkaid's model, as export recorded it (none where it was not exported)."""
    rtl = entry.get("rtl", {})
    if "project" not in rtl:  # not exported (an older export, or alkaid was not installed)
        return []
    return [
        (
            f"{kind.name} (alkaid RTL)",
            {
                "lut": int(round(rtl["lut_estimate_alkaid"])),
                "ff": rtl["reg_bits"],
                "dsp": 0,
                "bram": 0,
                "latency_cycles": rtl["pipeline_stages"],
                "latency_ns": rtl["latency_ns"],
                "ii": rtl.get("ii", 1),  # exports before folded designs: every RTL design took an event per clock
                "estimate": True,
                "method": "alkaid cost model (distributed arithmetic RTL)",
            },
            True,
        )
    ]
