"""Running the export libraries quietly: their stdout/stderr chatter and warnings are kept in a log."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

from trigdeploy.errors import TrigdeployError


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
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        try:
            yield caught
        finally:
            torch_onnx.setLevel(level)
            text = out.getvalue() + err.getvalue()
            text += "".join(f"warning: {w.category.__name__}: {w.message}\n" for w in caught)
            log.append(f"== {name}\n{text}")


class ToolFailed(TrigdeployError):
    """An external tool (g++, conifer, hls4ml) failed on a project; its output is in the export log."""

    def __init__(self, tool: str, project: object, detail: str):
        self.tool, self.project, self.detail = tool, str(project), detail
        super().__init__(f"{tool} failed on {project}: {detail}")


def run_tool(cmd: list[str], cwd: Path, log: list[str], tool: str, project: object) -> None:
    """``subprocess.run(cmd, check=True)`` with the output kept in ``log``; a failure is ``ToolFailed``."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.append(f"== {' '.join(cmd)} (in {cwd})\n{proc.stdout}")
    except FileNotFoundError:
        raise ToolFailed(tool, project, f"'{cmd[0]}' not found on PATH") from None
    except subprocess.CalledProcessError as exc:
        log.append(f"== {' '.join(cmd)} (in {cwd}): exit {exc.returncode}\n{exc.stdout}")
        last = [ln for ln in (exc.stdout or "").splitlines() if "error" in ln.lower()][:1]
        raise ToolFailed(
            tool, project, f"exit status {exc.returncode}" + (f" ({last[0].strip()[:200]})" if last else "")
        ) from None
