"""Export targets (``export/targets/*.yaml``): what ``trigdeploy export`` produces and for which device.

The hls4ml and conifer sections use those tools' own key names (``Part``, ``ClockPeriod``,
``ReuseFactor``, ``Precision``, …); every key is checked like a run config's (``trigdeploy.schema``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trigdeploy import yamlsafe
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.schema import WIDTH_MAX, Checked, FieldError, apply_overrides, build, num


@dataclass(frozen=True)
class HLS4MLTarget(Checked):
    """hls4ml project settings, with hls4ml's key names (``Part``, ``ClockPeriod``, …)."""

    Part: str = "xcvu13p-flga2577-2-e"  # the FPGA part the projects are generated for (and bench's device totals)
    ClockPeriod: float = num(5.0, gt=0.0, le=1000.0)  # ns
    IOType: Literal["io_parallel"] = "io_parallel"  # hls4ml's IOType (only io_parallel: a new event every clock)
    # the hls4ml backends written, each a project
    Backends: tuple[Literal["Vitis", "Vivado"], ...] = ("Vitis", "Vivado")
    ReuseFactor: int = num(1, ge=1, le=WIDTH_MAX * WIDTH_MAX)  # at most one multiplier per layer
    Strategy: Literal["Latency", "Resource"] = "Latency"  # hls4ml's Strategy

    def check(self) -> None:
        """A part name and at least one backend."""
        if not self.Part.strip():
            raise FieldError("Part", "expected an FPGA part name, got an empty string")
        if not self.Backends:
            raise FieldError("Backends", "expected at least one of Vitis, Vivado")


@dataclass(frozen=True)
class ConiferTarget(Checked):
    """conifer project settings, with conifer's key names.

    ``Precision`` is the one fixed-point type of inputs, thresholds and scores (conifer's VHDL
    backend requires them equal). ``XilinxPart``/``ClockPeriod`` default to the hls4ml section's.
    """

    # conifer's fixed-point projects written: HLS C++ and VHDL
    Backends: tuple[Literal["xilinxhls", "vhdl"], ...] = ("xilinxhls", "vhdl")
    Precision: str = "ap_fixed<18,8>"  # the one fixed-point type of inputs, thresholds and scores
    XilinxPart: str | None = None  # conifer's part (null: hls4ml.Part)
    ClockPeriod: float | None = num(None, gt=0.0, le=1000.0)  # ns
    Unroll: bool = True  # conifer HLS: unroll the trees (a new event every clock)
    # conifer HLS: the type of each node's feature-selection weights, one-hot rows in XGBoost's axis-aligned
    # trees: bool holds their 0 and 1 exactly (the same outputs, checked on every test event) and compiles
    # about six times faster than 18-bit fixed point; null: conifer's default, Precision
    WeightPrecision: str | None = "bool"

    def check(self) -> None:
        """A part name if one is given, at least one backend, a fixed-point Precision, a weight type."""
        if self.XilinxPart is not None and not self.XilinxPart.strip():
            raise FieldError("XilinxPart", "expected an FPGA part name or null, got an empty string")
        if not self.Backends:
            raise FieldError("Backends", "expected at least one of xilinxhls, vhdl")
        try:
            FixedType.parse(self.Precision, "Precision")
        except TrigdeployError as exc:
            raise FieldError("Precision", str(exc)) from None
        if self.WeightPrecision not in (None, "bool"):
            try:
                FixedType.parse(self.WeightPrecision, "WeightPrecision")
            except TrigdeployError as exc:
                raise FieldError("WeightPrecision", f"expected bool, null or a fixed-point type: {exc}") from None


@dataclass(frozen=True)
class BDTRTLTarget(Checked):
    """The tree ensemble as logic (form ``rtl_bdt``, project ``<kind>_rtl``): conifer's comparisons on its
    ``Precision`` input grid, the leaves on a grid of their own, ``leaf_frac`` fractional bits. With
    ``leaf_frac: null`` the export takes the coarsest grid (from ``Precision``'s down) whose validation AUC
    stays within ``max_val_auc_loss`` of the AUC with leaves on ``Precision``'s grid; the test split only
    gates (``bdt_max_auc_loss``)."""

    # fractional bits of the leaves (null: chosen on the validation split)
    leaf_frac: int | None = num(None, ge=0, le=24)
    max_val_auc_loss: float = num(0.001, ge=0.0, lt=1.0)  # the validation AUC the coarsest leaf grid may lose


@dataclass(frozen=True)
class SetsRTLTarget(Checked):
    """The constituent models as logic (form ``rtl_deepsets``, project ``<kind>_rtl``). ``fold: 1``: one copy of φ
    per particle, a new event every clock. ``fold: F`` (F divides the model's particle count N): N / F copies of φ,
    each event's particles taken F slices over F clocks, a new event every F clocks (II = F): the design for N
    particles whose N copies do not fit the device."""

    fold: int = num(1, ge=1, le=1024)  # clocks per event (the initiation interval); 1: every particle at once


@dataclass(frozen=True)
class Budget(Checked):
    """What one design may use of the target device (``hls4ml.Part``): a fraction of its LUTs, flip-flops and
    DSPs, a latency and an initiation interval; null items are not budgeted. bench gives every design, from
    every source of its figures, its share of the device and a pass/fail per item."""

    lut_fraction: float | None = num(None, gt=0.0, le=1.0)  # of the part's LUTs
    ff_fraction: float | None = num(None, gt=0.0, le=1.0)  # of the part's flip-flops
    dsp_fraction: float | None = num(None, gt=0.0, le=1.0)  # of the part's DSPs
    latency_ns: float | None = num(None, gt=0.0, le=1e6)  # the latency allowed
    ii: int | None = num(None, ge=1, le=1_000_000)  # the initiation interval allowed (1: a new event every clock)

    def is_set(self) -> bool:
        """Whether any item is budgeted."""
        items = (self.lut_fraction, self.ff_fraction, self.dsp_fraction, self.latency_ns, self.ii)
        return any(v is not None for v in items)


@dataclass(frozen=True)
class ExportTarget(Checked):
    """What ``trigdeploy export`` produces for a run and for which device."""

    hls4ml: HLS4MLTarget = field(default_factory=HLS4MLTarget)
    conifer: ConiferTarget = field(default_factory=ConiferTarget)
    bdt_rtl: BDTRTLTarget = field(default_factory=BDTRTLTarget)
    sets_rtl: SetsRTLTarget = field(default_factory=SetsRTLTarget)
    onnx_opset: int = num(18, ge=13, le=21)  # the ONNX opset of the float models
    testbench_events: int = num(1000, ge=1)  # test events written into each project's own testbench
    ptq_width: int = num(16, ge=4, le=32)  # the float MLP's post-training-quantized projects: total bits of every type
    ptq_headroom_bits: int = num(1, ge=0, le=8)  # PTQ: integer bits above the profiled maxima
    ptq_profile_rows: int = num(20_000, ge=1)  # PTQ: training rows the ranges are profiled on
    # PTQ: the test AUC its projects may lose against the float model
    ptq_max_auc_loss: float = num(0.005, ge=0.0, lt=1.0)
    bdt_max_auc_loss: float = num(0.005, ge=0.0, lt=1.0)  # fixed-point conifer BDT vs XGBoost, test split
    # the float MLP's PTQ design as alkaid RTL too: a reference (the demo's is ~250k LUT), minutes to trace,
    # build and simulate; the deployable RTL designs (QAT, resource-aware) are always exported
    ptq_rtl: bool = False
    budget: Budget = field(default_factory=Budget)
    # only these forms (and the forms they require) of each model; null: every form (a design scan's points
    # export their RTL forms only: ``trigdeploy scan --forms``). A form kept only because another requires it
    # writes what that one reuses (conifer for rtl_bdt: the quantized ensemble, no HLS or VHDL project)
    forms: tuple[str, ...] | None = None
    source: str = field(default="", compare=False)

    def check(self) -> None:
        """A budgeted share of the device needs the device's totals."""
        from trigdeploy.devices import DEVICES, device_of

        b = self.budget
        if (b.lut_fraction, b.ff_fraction, b.dsp_fraction) != (None, None, None) and device_of(
            self.hls4ml.Part
        ) is None:
            raise FieldError(
                "budget",
                f"a share of the device needs its totals, and hls4ml.Part {self.hls4ml.Part!r} is not a tabulated "
                f"device ({', '.join(sorted(DEVICES))}); set the fractions to null or use one of those parts",
            )


def load_target(path: str | Path, overrides: Sequence[str] = ()) -> ExportTarget:
    """Read and validate an export target file with ``overrides`` (``section.key=value``, the value YAML, as
    ``trigdeploy export --set``) applied first and checked like the file's own keys. Its ``source`` names the
    file and the overrides: what the manifest records as the target."""
    path = Path(path)
    if not path.is_file():
        raise TrigdeployError(f"export target file not found: {path}")
    raw = yamlsafe.load_file(path, "export target file") or {}
    if not isinstance(raw, dict):
        raise TrigdeployError(f"{path}: expected a YAML mapping at top level")
    source = " ".join([str(path), *(f"--set {o}" for o in overrides)])
    return dataclasses.replace(build(ExportTarget, apply_overrides(raw, list(overrides)), "", source), source=source)
