"""Float MLP → ONNX (dynamic batch axis) and its parity with PyTorch under ONNX Runtime (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trigdeploy.convert._tools import captured
from trigdeploy.io import atomic_path
from trigdeploy.logits import compare

# float32 GEMMs in ONNX Runtime and PyTorch sum in different orders; for logits of magnitude
# ≲ 30 from ≤ 1024-wide dot products the difference stays at a few float32 ulps (≲ 1e-5).
LOGIT_TOLERANCE = 1e-5


def export_onnx(model: torch.nn.Module, n_inputs: int, path: Path, opset: int, log: list[str]) -> None:
    """Write ``model`` (eval mode) as ONNX with input ``x`` (batch, n_inputs) and output ``logit``."""
    model = model.eval()
    with atomic_path(Path(path)) as tmp, captured(log, f"torch.onnx.export {Path(path).name}"):
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(
            model,
            (torch.zeros(2, n_inputs),),
            str(tmp),
            input_names=["x"],
            output_names=["logit"],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
            external_data=False,
        )


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """The logits ONNX Runtime (CPU) computes for ``x`` with the model at ``path``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(["logit"], {"x": np.ascontiguousarray(x, np.float32)})[0]


@torch.no_grad()
def torch_logits(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The logits the torch model computes for ``x`` (evaluation mode)."""
    return model.eval()(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def parity(model: torch.nn.Module, path: Path, x: np.ndarray) -> dict:
    """ONNX Runtime vs PyTorch logits on every row of ``x``."""
    same = compare(onnx_logits(path, x), torch_logits(model, x), LOGIT_TOLERANCE)
    return {
        "n_events": same["n_events"],
        "max_abs_diff_logit": same["max_abs_diff"],
        "tolerance": LOGIT_TOLERANCE,
        "ok": same["ok"],
    }
