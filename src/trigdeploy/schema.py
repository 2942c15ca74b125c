"""The config machinery: frozen section dataclasses validated from YAML mappings.

A section is a frozen dataclass deriving from ``Checked``: its fields' annotations are the types a
YAML value must have (``build`` checks every key: unknown, missing, wrong type), ``num`` gives a
numeric field its allowed range and ``check()`` the cross-field rules, both run whenever a section
is built (from YAML or in code). ``--set section.key=value`` overrides (``apply_overrides``) change the
raw mapping before validation, their values parsed by ``yaml.safe_load`` (never ``eval``). The run
config and the export target (``trigdeploy.config``) are made of such sections.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import field
from typing import Any, ClassVar, Literal, Union

from trigdeploy import yamlsafe
from trigdeploy.errors import TrigdeployError

INTERNAL_FIELDS = {"source", "extra"}  # set by trigdeploy, never from a file


class FieldError(TrigdeployError):
    """A bad value of one field; ``build`` prefixes the dotted key and the file."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text
        super().__init__(f"key '{name}': {text}")


def num(
    default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> Any:
    """A numeric field (or a list of numbers) with its allowed range; ``None`` values are not checked."""
    return field(default=default, metadata={"range": (ge, gt, le, lt)})


def _range_text(ge, gt, le, lt) -> str:
    lo = f"≥ {ge}" if ge is not None else f"> {gt}" if gt is not None else ""
    hi = f"≤ {le}" if le is not None else f"< {lt}" if lt is not None else ""
    return " and ".join(t for t in (lo, hi) if t)


def _check_range(name: str, value: Any, bounds: tuple) -> None:
    if value is None:
        return
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _check_range(f"{name}[{i}]", v, bounds)
        return
    ge, gt, le, lt = bounds
    finite = math.isfinite(value) and abs(value) <= INT_MAX
    ok = (
        (ge is None or value >= ge)
        and (gt is None or value > gt)
        and (le is None or value <= le)
        and (lt is None or value < lt)
        and finite
    )
    if not ok:
        raise FieldError(
            name,
            f"expected a {'' if finite else 'finite '}value {_range_text(ge, gt, le, lt)}, got {yamlsafe.short(value)}",
        )


SEED_MAX = 2**31 - 1  # what every library here accepts as a seed (scikit-learn, XGBoost, Pythia: less)
INT_MAX = 2**62  # no number of a config reaches it; beyond it C/C++ integers overflow
COUNT_MAX = 1_000_000  # trees, epochs: beyond any trigger model, and within the libraries' C int
CORES_MAX = 1024  # threads or worker processes
WIDTH_MAX = 4096  # neurons of a layer: a trigger MLP has tens to hundreds (a width can allocate width² weights)


class Checked:
    """Base of every config section: field ranges (``num``) and ``check()`` run on construction.

    A section whose ``EXTRA`` is a mapping (name → section dataclass) also takes the sections it names,
    validated into its ``extra`` field (e.g. the ``train.<kind>`` sections of registered model kinds)."""

    EXTRA: ClassVar[dict[str, type] | None] = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if "range" in f.metadata:
                _check_range(f.name, getattr(self, f.name), f.metadata["range"])
        self.check()

    def check(self) -> None:
        """Cross-field rules of this section; raise ``FieldError`` naming the key."""


def type_name(tp: Any) -> str:
    """An annotation in words, as an error message says what a key expects."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def convert(tp: Any, value: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return the frozen, converted value."""
    origin = typing.get_origin(tp)

    def bad() -> TrigdeployError:
        return TrigdeployError(
            f"{where}: key '{key}': expected {type_name(tp)}, got {type(value).__name__} {yamlsafe.short(value)}"
        )

    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad()
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, key, where)
            except TrigdeployError:
                if len([a for a in args if a is not type(None)]) == 1:
                    raise
        raise bad()
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) is not bool:
            return value
        raise bad()
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad()
        (elem,) = typing.get_args(tp)[:1]
        return tuple(convert(elem, v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        key_tp, value_tp = typing.get_args(tp)
        return {
            convert(key_tp, k, f"{key}.{k}", where): convert(value_tp, v, f"{key}.{k}", where) for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return build(tp, value, key, where)
    if tp in _SCALARS:
        ok, to_value = _SCALARS[tp]
        if ok(value):
            return to_value(value)
        raise bad()
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a schema bug, not user input


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A float in exponent notation without a dot or an exponent sign (``5e-7``, ``1E6``): YAML 1.2 reads it as a
# number, PyYAML (YAML 1.1) as a string; a float key takes it as the number it reads as in YAML 1.2
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def _float_text(value: Any) -> bool:
    return isinstance(value, str) and _YAML12_FLOAT.fullmatch(value) is not None and math.isfinite(float(value))


# scalar annotation → (accepts the YAML value, converts it); .inf and .nan are YAML floats: no setting means them
_SCALARS: dict[Any, tuple[Callable[[Any], bool], Callable[[Any], Any]]] = {
    bool: (lambda v: isinstance(v, bool), lambda v: v),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) <= INT_MAX, lambda v: v),
    float: (lambda v: (_number(v) and math.isfinite(v)) or _float_text(v), float),
    str: (lambda v: isinstance(v, str), lambda v: v),
    Any: (lambda v: True, lambda v: v),
}


def build(cls: type, raw: dict, prefix: str, where: str) -> Any:
    """Validate the mapping ``raw`` into the section dataclass ``cls``: every key known and of its type, every
    required key present, ranges and cross-field rules; errors name ``where`` and the dotted key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in INTERNAL_FIELDS}
    extra = {}
    sections = cls.EXTRA if issubclass(cls, Checked) else None
    if sections is not None:  # e.g. sections of registered model kinds
        extra = {
            k: build(sections[k], v if isinstance(v, dict) else {}, f"{prefix}.{k}" if prefix else k, where)
            for k, v in raw.items()
            if k in sections and v is not None
        }
        raw = {k: v for k, v in raw.items() if k not in sections}
    for k in raw:
        if k not in fields:
            dotted = f"{prefix}.{k}" if prefix else str(k)
            raise TrigdeployError(f"{where}: unknown key '{dotted}'; expected one of: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in raw:
            kwargs[name] = convert(hints[name], raw[name], dotted, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TrigdeployError(f"{where}: missing required key '{dotted}'")
    if extra:
        kwargs["extra"] = extra
    try:
        return cls(**kwargs)
    except FieldError as exc:
        dotted = f"{prefix}.{exc.name}" if prefix else exc.name
        raise TrigdeployError(f"{where}: key '{dotted}': {exc.text}") from None
    except TrigdeployError as exc:  # a rule that names its keys itself (e.g. an expression)
        raise TrigdeployError(f"{where}: {exc}") from None


def parse_section(cls: type, raw: dict, prefix: str, where: str) -> Any:
    """Validate one config section (a mapping) into its dataclass ``cls``."""
    return build(cls, raw, prefix, where)


def to_dict(obj: Any) -> Any:
    """The plain-data (YAML/JSON-ready) form of a config dataclass, without internal fields."""
    if dataclasses.is_dataclass(obj):
        out = {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in INTERNAL_FIELDS}
        if isinstance(obj, Checked) and obj.EXTRA is not None:
            out.update({k: to_dict(v) for k, v in obj.extra.items()})
        return out
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Parse ``section.key=value``; the value is YAML (``1000`` → int, ``[a, b]`` → list)."""
    if "=" not in text:
        raise TrigdeployError(f"--set '{text}': expected section.key=value")
    key, _, value = text.partition("=")
    parts = tuple(key.strip().split("."))
    if not all(parts):
        raise TrigdeployError(f"--set '{text}': empty key component in '{key}'")
    try:
        parsed = yamlsafe.loads(value, "") if value.strip() else ""
    except TrigdeployError as exc:  # one line: what the value is and what YAML said of it
        raise TrigdeployError(f"--set '{text}': value is not valid YAML ({str(exc).removeprefix(': ')})") from None
    return parts, parsed


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Return a copy of ``raw`` with each ``section.key=value`` override applied."""
    out = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise TrigdeployError(f"--set '{text}': '{'.'.join(parts[: i + 1])}' is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return out
