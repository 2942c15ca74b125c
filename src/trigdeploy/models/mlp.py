"""Float MLP: the FPGA trigger shape (e.g. 44 → 64 → 32 → 32 → 1, ReLU) and the seed reference
(800 raw inputs → 1024 → 512 → 256 → 1, GELU + BatchNorm + Dropout). The output is a logit, or
K logits for K classes."""

from __future__ import annotations

import torch
from torch import nn

from trigdeploy.config import MLPConfig

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


def build_mlp(n_inputs: int, cfg: MLPConfig, n_outputs: int = 1) -> nn.Sequential:
    """Linear → [BatchNorm] → activation → [Dropout] per hidden layer, then Linear → ``n_outputs``
    logits (1 for two classes, K for K > 2)."""
    layers: list[nn.Module] = []
    width = n_inputs
    for h in cfg.hidden:
        layers.append(nn.Linear(width, h))
        if cfg.batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(ACTIVATIONS[cfg.activation]())
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        width = h
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def linear_layers(model: nn.Module) -> list[nn.Module]:
    """The Linear (or QuantLinear) layers of a model, in order."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def copy_linear_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy weights and biases layer by layer (float MLP → QAT twin initialisation)."""
    a, b = linear_layers(src), linear_layers(dst)
    if [tuple(x.weight.shape) for x in a] != [tuple(x.weight.shape) for x in b]:
        raise ValueError("models have different layer shapes")
    for s, d in zip(a, b):
        d.weight.copy_(s.weight)
        d.bias.copy_(s.bias)
