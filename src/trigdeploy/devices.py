"""The FPGAs triggers are built on, their totals, and a design's verdict against a budget.

Totals are AMD's published figures for the Virtex UltraScale+ devices of the LHC experiments' Phase-2
trigger boards (AMD DS890, "UltraScale Architecture and Product Data Sheet: Overview", the Virtex
UltraScale+ table): CLB LUTs, CLB flip-flops, DSP slices, 36 Kb block RAMs. A part name
(``xcvu13p-flga2577-2-e``) is looked up by its device, the text before the first ``-``.

``verdict`` puts one design's figures (from whichever source counted or estimated them) against the
export target's ``budget`` (``targets.Budget``): its share of each total, and pass/fail for each budget item that is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from trigdeploy.targets import Budget


@dataclass(frozen=True)
class DeviceTotals:
    """What one FPGA has."""

    name: str
    lut: int
    ff: int
    dsp: int
    bram36: int


DEVICES = {
    d.name.lower(): d
    for d in (
        DeviceTotals("XCVU9P", lut=1_182_240, ff=2_364_480, dsp=6_840, bram36=2_160),
        DeviceTotals("XCVU13P", lut=1_728_000, ff=3_456_000, dsp=12_288, bram36=2_688),
        DeviceTotals("XCVU19P", lut=4_085_760, ff=8_171_520, dsp=3_840, bram36=2_160),
    )
}


def device_of(part: str) -> DeviceTotals | None:
    """The totals of ``part``'s device (``xcvu9p-flgb2104-2-i`` → XCVU9P), or None when not tabulated."""
    return DEVICES.get(part.strip().lower().split("-", 1)[0])


def verdict(figures: dict, device: DeviceTotals | None, budget: Budget) -> dict:
    """``figures`` (``lut``, ``ff``, ``dsp``, ``latency_ns``, ``ii``; any may be missing or None) against the
    device and the budget: each resource's share of the device, each budget item's pass/fail (None where the
    figure is unknown), and ``fits`` (every known item passes; None when nothing could be checked)."""
    shares = {}
    checks: dict[str, bool | None] = {}
    for key in ("lut", "ff", "dsp"):
        value = figures.get(key)
        share = None if device is None or value is None else value / getattr(device, key)
        shares[f"{key}_fraction"] = share
        limit = getattr(budget, f"{key}_fraction")
        if limit is not None:
            checks[f"{key}_fraction"] = None if share is None else bool(share <= limit)
    for key in ("latency_ns", "ii"):
        limit = getattr(budget, key)
        if limit is not None:
            value = figures.get(key)
            checks[key] = None if value is None else bool(value <= limit)
    known = [v for v in checks.values() if v is not None]
    return {**shares, "checks": checks, "fits": all(known) if known else None}
