"""The documentation site's generated references: every config key and every CLI flag, read from the config
dataclasses and the argument parser themselves, so the pages cannot drift from the code.

``python -m trigdeploy.cli.reference DIR`` writes ``DIR/config.md`` (the run config and the export target: each
key's type, default, range and what it means, from the comment beside the field in the source),
``DIR/cli.md`` (each command's usage and flags with their help) and ``DIR/errors.md`` (every one-line error
the source raises, by module). ``make docs`` runs it before building the site;
``undocumented_fields()`` and ``undocumented_flags()`` are what the tests require to be empty.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import sys
import tokenize
import types
import typing
from pathlib import Path

from trigdeploy.io import write_text_atomic


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its dotted path, type, default, allowed range and documentation."""

    path: str
    type: str
    default: str
    range: str
    doc: str


def field_docs(cls: type) -> dict[str, str]:
    """Each field of dataclass ``cls`` (its own, not inherited) → the comment beside it in the source: the
    comment lines just above the field and the comment at the end of its line."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines, out = source.splitlines(), {}
    names = {f.name for f in dataclasses.fields(cls)}
    for i, line in enumerate(lines, start=1):
        head = line.strip().split(":", 1)[0]
        if head not in names or not line.startswith("    ") or line.startswith("     "):
            continue
        above, j = [], i - 1
        while j in comments and lines[j - 1].strip().startswith("#"):
            above.insert(0, comments[j])
            j -= 1
        out[head] = " ".join([*above, *([comments[i]] if i in comments else [])]).strip()
    return out


def _docs_of(cls: type) -> dict[str, str]:
    """Field docs of ``cls`` and the dataclasses it inherits from (its own first)."""
    out: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            out.update({k: v for k, v in field_docs(base).items() if v})
    return out


def _section(hint) -> type | None:
    """The dataclass a field's type holds (``X``, ``X | None``), else None."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) else ()
    for t in (hint, *args):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def _type_text(hint) -> str:
    text = getattr(hint, "__name__", None) if isinstance(hint, type) else None
    return text or str(hint).replace("typing.", "")


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        return "(section defaults)" if dataclasses.is_dataclass(value) else repr(value)
    return "(required)"


def keys_of(cls: type, prefix: str = "") -> list[Key]:
    """Every key of config dataclass ``cls``, nested sections flattened to dotted paths, in field order."""
    from trigdeploy.schema import _range_text

    hints = typing.get_type_hints(cls)
    docs, out = _docs_of(cls), []
    for f in dataclasses.fields(cls):
        if not f.init or not f.compare:  # not a key of the file (e.g. where the config was read from)
            continue
        path = f"{prefix}{f.name}"
        sub = _section(hints[f.name])
        bounds = f.metadata.get("range")
        out.append(
            Key(
                path,
                f"section `{sub.__name__}`" if sub else _type_text(hints[f.name]),
                _default_text(f),
                _range_text(*bounds) if bounds else "",
                docs.get(f.name, "") or (inspect.getdoc(sub) or "" if sub else ""),
            )
        )
        if sub is not None:
            out += keys_of(sub, f"{path}.")
    return out


def config_keys() -> dict[str, list[Key]]:
    """The run config's keys (``train.<kind>`` for every registered model kind) and the export target's."""
    from trigdeploy.config import RunConfig
    from trigdeploy.models import registry
    from trigdeploy.targets import ExportTarget

    run = [k for k in keys_of(RunConfig) if k.path != "train.extra"]
    for kind in registry.KINDS.values():
        if not any(k.path == f"train.{kind.name}" for k in run):
            doc = inspect.getdoc(kind.config) or ""
            run.append(Key(f"train.{kind.name}", f"section `{kind.config.__name__}`", "(not trained)", "", doc))
            run += keys_of(kind.config, f"train.{kind.name}.")
    return {"run config (configs/*.yaml)": run, "export target (export/targets/*.yaml)": keys_of(ExportTarget)}


def undocumented_fields() -> list[str]:
    """The config keys with no documentation (no comment beside the field, and not a documented section)."""
    return [f"{where}: {k.path}" for where, keys in config_keys().items() for k in keys if not k.doc]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_page() -> str:
    """The config reference as Markdown."""
    out = [
        "# Config reference",
        "",
        "Generated from the config dataclasses (`python -m trigdeploy.cli.reference`): every key, its type, "
        "default and allowed range. A key not listed, a value of another type or out of its range is one line "
        "naming the file and the key when the file is loaded, exit status 2, nothing written: "
        "`trigdeploy: error: my.yaml: key 'train.bdt.max_depth': expected a value ≥ 1 and ≤ 20, got 0`, "
        "`trigdeploy: error: my.yaml: unknown key 'train.bdt.max_depht'; expected one of: dask, …`. "
        "Rules between keys (e.g. `train.bdt.smote` with `train.bdt.dask`) are in the "
        "[error messages](errors.md).",
    ]
    for where, keys in config_keys().items():
        out += ["", f"## {where}", "", "| key | type | default | range | meaning |", "|---|---|---|---|---|"]
        out += [
            f"| `{k.path}` | {_cell(k.type)} | `{_cell(k.default)}` | {_cell(k.range)} | {_cell(k.doc)} |" for k in keys
        ]
    return "\n".join(out) + "\n"


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command under ``parser`` by its words (``data toptag`` too), in the parser's order."""
    out = {}
    for action in parser._actions:  # argparse keeps its subcommands here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[f"{prefix}{name}"] = sub
                out.update(_commands(sub, f"{prefix}{name} "))
    return out


def undocumented_flags() -> list[str]:
    """The CLI's options and arguments with no help text."""
    from trigdeploy.cli import build_parser

    out = []
    for name, sub in _commands(build_parser()).items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                out.append(f"trigdeploy {name} {'/'.join(action.option_strings) or action.dest}")
    return out


def cli_page() -> str:
    """The CLI reference as Markdown: each command's usage and its flags' help, as ``--help`` prints them."""
    from trigdeploy.cli import build_parser

    parser = build_parser()
    out = ["# CLI reference", "", "Generated from the argument parser (`python -m trigdeploy.cli.reference`)."]
    out += ["", "```text", parser.format_help().rstrip(), "```"]
    for name, sub in _commands(parser).items():
        out += ["", f"## trigdeploy {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(out) + "\n"


_ERRORS = ("TrigdeployError", "FieldError")


def _message(node) -> str:
    """A message expression as text: its literal parts, each placeholder as ``…``."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _message(node.left) + _message(node.right)
    return "…"


def error_messages(root: Path | None = None) -> dict[str, list[str]]:
    """Every one-line error the package can raise, by module: the text of each ``TrigdeployError(…)`` and
    ``FieldError(key, …)`` in the source (``…`` where the message names a file, key, column or value; a
    ``FieldError`` reaches the user as ``<file>: <section.key>: <message>``)."""
    import ast

    import trigdeploy

    root = root or Path(trigdeploy.__file__).parent
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in _ERRORS and node.args):
                continue
            args = [_message(a) for a in node.args[:2]]
            text = f"{args[0]}: {args[1]}" if node.func.id == "FieldError" and len(args) == 2 else args[0]
            out.setdefault(str(path.relative_to(root)), []).append(" ".join(text.split()))
    return out


def errors_page() -> str:
    """The catalogue of one-line errors as Markdown, by the module that raises each."""
    out = [
        "# Error messages",
        "",
        "Generated from the source (`python -m trigdeploy.cli.reference`): every one-line error trigdeploy can",
        "give, by the module that raises it; `…` stands for what the message names (a file, a key, a column, a",
        "value, what was expected). The CLI prints each as `trigdeploy: error: <message>` and exits with status 2,",
        "leaving nothing half-written. What they mean, by kind: [Troubleshooting](../troubleshooting.md).",
    ]
    for module, messages in error_messages().items():
        out += ["", f"## `{module}`", ""]
        out += [f"* `` {m} ``" for m in dict.fromkeys(messages)]  # code spans: messages hold <, *, _ and `
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``config.md``, ``cli.md`` and ``errors.md`` into the folder given."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m trigdeploy.cli.reference OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.md", config_page())
    write_text_atomic(out / "cli.md", cli_page())
    write_text_atomic(out / "errors.md", errors_page())
    return 0


if __name__ == "__main__":
    sys.exit(main())
