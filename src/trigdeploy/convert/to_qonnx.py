"""Brevitas QAT MLP → QONNX (``export_qonnx``, not QCDQ) → qonnx cleanup, and QONNX execution.

The graph is cleaned as hls4ml needs it: ``cleanup_model`` → ``ConvertToChannelsLastAndClean`` →
``GemmToMatMul`` (mandatory) → ``cleanup_model``. Brevitas fixes the batch size at the example
input's; ``execute`` re-shapes a copy to the batch it is given, so that a whole test split runs
in one call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trigdeploy.convert._tools import captured
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType
from trigdeploy.io import atomic_path


@dataclass(frozen=True)
class InputQuantizer:
    """The QAT model's input grid: signed ``bits``-bit integers times ``scale`` (a power of two)."""

    scale: float
    bits: int

    @property
    def integer_bits(self) -> int:
        """Integer bits of the port's fixed-point type (sign included)."""
        return self.bits + int(round(np.log2(self.scale)))

    @property
    def fixed_type(self) -> FixedType:
        """The port's type: round half to even (as the QuantIdentity does), saturate."""
        return FixedType(self.bits, self.integer_bits, "RND_CONV", "SAT")

    @property
    def hls_type(self) -> str:
        """The firmware input port type (hls4ml spelling)."""
        return self.fixed_type.hls4ml

    @property
    def ap_type(self) -> str:
        """The same type in Vitis/Vivado HLS C++ spelling."""
        return self.fixed_type.ap

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Inputs on the grid, as the QAT model's QuantIdentity computes them (round half to even)."""
        q = np.clip(np.round(np.asarray(x, np.float64) / self.scale), -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1)
        return (q * self.scale).astype(np.float32)


def input_quantizer(model: torch.nn.Module) -> InputQuantizer:
    """The QAT model's input quantizer (its first layer's): the firmware's input port type."""
    first = model[0]
    quant = getattr(first, "act_quant", None)
    if quant is None:
        raise TrigdeployError("qmlp: the first layer is not a QuantIdentity: no fixed-point input port")
    scale = float(quant.scale().detach())
    if not np.isclose(np.log2(scale), round(np.log2(scale))):
        raise TrigdeployError(f"qmlp: input scale {scale} is not a power of two: no exact fixed-point port")
    return InputQuantizer(scale=scale, bits=int(quant.bit_width()))


def export_qonnx(model: torch.nn.Module, n_inputs: int, path: Path, log: list[str]):
    """Export and clean; returns the qonnx ``ModelWrapper`` (also written to ``path``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # brevitas' optional-kernel notices on import
        from brevitas.export import export_qonnx as brevitas_export
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = model.eval()
    with atomic_path(Path(path)) as tmp:
        with captured(log, "brevitas export_qonnx"):
            brevitas_export(model, torch.zeros(1, n_inputs), export_path=str(tmp))
        with captured(log, "qonnx cleanup"):
            m = cleanup_model(ModelWrapper(str(tmp)))
            m = m.transform(ConvertToChannelsLastAndClean())
            m = m.transform(GemmToMatMul())
            m = cleanup_model(m)
        m.save(str(tmp))
    return m


def execute(m, x: np.ndarray) -> np.ndarray:
    """``qonnx.core.onnx_exec`` on all rows of ``x`` at once (the graph is re-batched on a copy)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    batched = ModelWrapper(copy.deepcopy(m.model))
    inp, out = batched.graph.input[0].name, batched.graph.output[0].name
    for vi in list(batched.graph.value_info):
        batched.graph.value_info.remove(vi)
    batched.set_tensor_shape(inp, [len(x), x.shape[1]])
    batched.set_tensor_shape(out, [len(x), *m.get_tensor_shape(out)[1:]])
    batched = batched.transform(InferShapes())
    return execute_onnx(batched, {inp: np.ascontiguousarray(x, np.float32)})[out]


@torch.no_grad()
def parity(model: torch.nn.Module, m, x: np.ndarray) -> dict:
    """QONNX execution vs the Brevitas forward pass on every row of ``x`` (exact equality expected:
    both compute the same fixed-point values in float32, and every value is exactly representable)."""
    from trigdeploy.logits import compare

    brevitas = model.eval()(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
    return compare(execute(m, x), brevitas)
