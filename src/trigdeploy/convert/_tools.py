"""Running the export libraries quietly: their stdout/stderr chatter and warnings are kept in a log."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def captured(log: list[str], name: str) -> Iterator[list[warnings.WarningMessage]]:
    """Capture stdout, stderr and warnings of a library call into ``log`` under ``name``.

    stdout carries trigdeploy's own JSON results, so exporters' progress prints must not reach it.
    The caught warnings are yielded so that callers can reject the ones that matter.
    """
    out, err = io.StringIO(), io.StringIO()
    torch_onnx = logging.getLogger("torch.onnx")
    level = torch_onnx.level
    torch_onnx.setLevel(logging.ERROR)  # "torchvision is not installed" notices from the exporter
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            yield caught
        finally:
            torch_onnx.setLevel(level)
            text = out.getvalue() + err.getvalue()
            text += "".join(f"warning: {w.category.__name__}: {w.message}\n" for w in caught)
            log.append(f"== {name}\n{text}")
