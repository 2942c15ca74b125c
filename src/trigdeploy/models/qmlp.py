"""Brevitas quantization-aware twin of the trigger MLP, built to export bit-exactly to hls4ml.

What makes the QONNX → hls4ml path bit-exact (measured on this project's machines): power-of-two
scales everywhere (``*FixedPoint`` quantizers), a quantized input (``QuantIdentity``) so that
biases can be quantized (``Int*Bias`` needs a quant tensor in), per-tensor weight scales, no
BatchNorm (or folded before export). Brevitas' default float scales become scale/unscale layers
in hls4ml at a fixed precision and break exactness.
"""

from __future__ import annotations

import warnings

from torch import nn

from trigdeploy.config import QMLPConfig

BIAS_QUANT = {8: "Int8Bias", 16: "Int16Bias", 32: "Int32Bias"}


def build_qmlp(n_inputs: int, cfg: QMLPConfig, n_outputs: int = 1) -> nn.Sequential:
    """QuantIdentity → (QuantLinear → QuantReLU) × hidden → QuantLinear (``n_outputs`` float logits out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # brevitas imports emit deprecation noise from its deps
        import brevitas.quant as bq
        from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    # QMLPConfig refuses BatchNorm, Dropout and non-ReLU activations when it is built
    bias = getattr(bq, BIAS_QUANT[cfg.bias_bits])
    layers: list[nn.Module] = [
        QuantIdentity(act_quant=bq.Int8ActPerTensorFixedPoint, bit_width=cfg.input_bits, return_quant_tensor=True)
    ]
    width = n_inputs
    for h in cfg.hidden:
        layers.append(
            QuantLinear(
                width,
                h,
                bias=True,
                weight_quant=bq.Int8WeightPerTensorFixedPoint,
                weight_bit_width=cfg.weight_bits,
                bias_quant=bias,
                return_quant_tensor=True,
            )
        )
        layers.append(
            QuantReLU(act_quant=bq.Uint8ActPerTensorFixedPoint, bit_width=cfg.act_bits, return_quant_tensor=True)
        )
        width = h
    layers.append(
        QuantLinear(
            width,
            n_outputs,
            bias=True,
            weight_quant=bq.Int8WeightPerTensorFixedPoint,
            weight_bit_width=cfg.weight_bits,
            bias_quant=bias,
            return_quant_tensor=False,
        )
    )
    return nn.Sequential(*layers)
