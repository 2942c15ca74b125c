"""Reading YAML that someone else wrote: ``yaml.safe_load`` plus the limits a hostile file needs.

``safe_load`` already refuses tags that build Python objects; on top of it, a config or target
file is refused in one line when it is larger than ``MAX_BYTES``, is not UTF-8, repeats a key in
one mapping (PyYAML keeps the last one silently), nests deeper than ``MAX_DEPTH``, or expands
through aliases to more than ``MAX_NODES`` nodes (a few hundred bytes of ``&a [*b, *b, …]`` can
stand for billions). Values in messages are cut to ``short`` length, never expanded.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from trigdeploy.errors import TrigdeployError

MAX_BYTES = 1 << 20  # a run config is a few kB
MAX_DEPTH = 64
MAX_NODES = 100_000  # after alias expansion

_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 6, 6, 3


def short(value: Any) -> str:
    """``repr(value)`` cut to a line's worth (a value from a file can be arbitrarily large)."""
    return _SHORT.repr(value)


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts nesting while it composes and refuses repeated keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.YAMLError(
                        f"line {key_node.start_mark.line + 1}: key {short(key)} repeated "
                        f"(first at line {seen[key] + 1}); keep one"
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _expanded_size(node: Node, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes ``node`` stands for once every alias is expanded (memoized: linear in the file)."""
    if id(node) in memo:
        return memo[id(node)]
    if depth > MAX_DEPTH:  # aliases can nest deeper than the text does
        return MAX_NODES + 1
    n = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            n += _expanded_size(child, memo, depth + 1)
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            n += _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
    memo[id(node)] = min(n, MAX_NODES + 1)
    return memo[id(node)]


def loads(text: str, where: str) -> Any:
    """Parse one YAML document from ``text`` within the limits; ``where`` names it in errors."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise TrigdeployError(
                f"{where}: YAML expands to more than {MAX_NODES} values through aliases; write the values out"
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" line {mark.line + 1}" if mark else ""
        raise TrigdeployError(f"{where}:{at} invalid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise TrigdeployError(f"{where}: invalid YAML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise TrigdeployError(f"{where}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def load_file(path: Path, what: str) -> Any:
    """Read and parse a YAML file (``what`` names the kind of file in errors) within the limits."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise TrigdeployError(f"{path}: {what} is {size} bytes; expected at most {MAX_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrigdeployError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise TrigdeployError(f"{path}: cannot read {what} ({exc.strerror})") from None
    return loads(text, str(path))
