"""A design scan's points (``trigdeploy scan --sweep/--pareto/--grid``): what each changes of its kind's section."""

from __future__ import annotations

import dataclasses
import itertools
import re

import yaml

from trigdeploy.errors import TrigdeployError
from trigdeploy.layout import plain


@dataclasses.dataclass(frozen=True)
class ScanPoint:
    """One point: ``kind`` of the parent run with ``changes`` over its ``train.<kind>`` section."""

    kind: str
    changes: tuple[tuple[str, object], ...]
    group: str  # "sweep", "front" or "grid": its group on the resource plot
    label: str  # how tables and plots name it
    name: str  # its run directory's name under <run>/scan/

    def as_dict(self) -> dict:
        """The point as JSON-able data (a list value, e.g. layer widths, as a list)."""
        changes = {k: list(v) if isinstance(v, tuple) else v for k, v in self.changes}
        return {"kind": self.kind, "changes": changes, "group": self.group, "label": self.label}


def sweep_points(bits: list[int]) -> list[ScanPoint]:
    """The uniform-bit sweep: the QAT MLP at ``b``-bit weights, ``b + 2``-bit activations and inputs."""
    return [
        ScanPoint(
            "qmlp",
            (("weight_bits", b), ("act_bits", b + 2), ("input_bits", b + 2)),
            "sweep",
            f"uniform w{b}a{b + 2}",
            f"qmlp-w{b}a{b + 2}",
        )
        for b in sorted(set(bits))
    ]


def front_points(betas: list[float]) -> list[ScanPoint]:
    """The resource-aware front: the resource-aware MLP at each cost weight β."""
    return [ScanPoint("hgq", (("beta", b),), "front", f"hgq β={b:g}", f"hgq-beta{b:g}") for b in sorted(set(betas))]


def grid_points(axes: list[str]) -> list[ScanPoint]:
    """Points of ``kind.key=v1,v2,…`` axes (numbers, else YAML scalars); a kind's axes: their product."""
    by_kind: dict[str, dict[str, list]] = {}
    for axis in axes:
        head, sep, values = axis.partition("=")
        kind, dot, key = head.strip().partition(".")
        if not (sep and dot and kind and key and values.strip()):
            raise TrigdeployError(f"--grid {axis!r}: expected kind.key=v1,v2,… (e.g. hgq.beta=1e-6,2e-6)")
        parsed = [_scalar(v.strip()) for v in re.split(r",(?![^\[]*\])", values)]  # commas outside [ ]
        if not all(_plain(v) or (isinstance(v, list) and v and all(map(_plain, v))) for v in parsed):
            raise TrigdeployError(
                f"--grid {axis!r}: values must be numbers, words or booleans, or lists of them (layer widths: [32,16])"
            )
        by_kind.setdefault(kind, {})[key] = parsed
    out = []
    for kind, keys in by_kind.items():
        for combo in itertools.product(*keys.values()):
            changes = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in zip(keys, combo))
            tag = "-".join(f"{k}{_tag(v)}" for k, v in changes)
            name = plain(f"{kind}-{tag}", "--grid point")
            shown = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in changes)
            out.append(ScanPoint(kind, changes, "grid", f"{kind} {shown}", name))
    return out


def _plain(v: object) -> bool:
    return v is not None and not isinstance(v, (dict, list))


def _tag(v: object) -> str:
    """A grid value in a point's folder name: ``1e-06``, ``4``, ``32x16`` (a list)."""
    if isinstance(v, tuple):
        return "x".join(_tag(e) for e in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _scalar(text: str) -> object:
    """A grid value: an integer, a number (``1e-6`` too, which YAML 1.1 reads as a string), else YAML's scalar."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # refused by the caller, with the axis named


def scan_points(bits: list[int], betas: list[float], grid: list[str]) -> list[ScanPoint]:
    """The points of a scan: the front at cost weights ``betas`` (first: they train longest, pruning as they go),
    the sweep at weight widths ``bits`` and the ``grid`` axes; one line where a value is out of range or there is
    no point."""
    if bits and min(bits) < 2:
        raise TrigdeployError(f"--sweep: bit widths must be at least 2, got {bits}")
    if betas and (not all(0 <= b <= 1 for b in betas) or len(set(betas)) != len(betas)):
        raise TrigdeployError(f"--pareto: cost weights must be distinct numbers from 0 to 1, got {betas}")
    points = front_points(betas) + sweep_points(bits) + grid_points(grid)
    if not points:
        raise TrigdeployError(
            "trigdeploy scan: no point: give --sweep, --pareto or --grid (api.scan: sweep, pareto, grid)"
        )
    return points
