"""What a model may offer beyond ``torch.nn.Module``, as typed protocols the stages test for.

Training and export ask a model for these by ``isinstance(model, Protocol)`` (the protocols are
``runtime_checkable``: the methods must exist), never by probing attribute names:

* ``Calibrated``: fixed-point ranges set from training rows before fitting (``train.nn.calibrate``).
* ``TrainingHooks``: its own optimizer parameter groups, a loss term added to the task's and an
  update after each optimizer step (the resource-aware MLP's bit widths and cost).
* ``Costed``: a differentiable cost recorded per epoch (EBOPs).
* ``ExactReference``: a bit-exact fixed-point reference (its scores are the run's predictions) and its
  summary; ``ExactModel`` adds its exact layers with their precisions (what the hls4ml forms write).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from trigdeploy.fixed import Precisions


@runtime_checkable
class Calibrated(Protocol):
    """A model whose fixed-point ranges come from ``calibration_rows`` training rows, scaled as it sees them."""

    calibration_rows: int

    def calibrate(self, x: Any) -> None:
        """Set the ranges from the rows ``x`` (a float tensor)."""


@runtime_checkable
class TrainingHooks(Protocol):
    """A model that shapes its own training."""

    def param_groups(self, cfg: Any) -> list[dict]:
        """The optimizer's parameter groups (e.g. bit widths with their own learning rate)."""

    def regularizer(self) -> Any:
        """A loss term added to the task's (a scalar tensor)."""

    def after_step(self) -> None:
        """Keep trained parameters in range after each optimizer step."""


@runtime_checkable
class Costed(Protocol):
    """A model with a differentiable hardware cost."""

    def ebops(self) -> Any:
        """The cost (effective bit operations) as a scalar tensor."""


@runtime_checkable
class ExactReference(Protocol):
    """A fixed-point model with a bit-exact reference (its scores are the run's predictions)."""

    def reference(self, x: Any) -> Any:
        """The logits of the exact fixed-point arithmetic on the scaled inputs ``x`` (NumPy)."""

    def summary(self) -> dict:
        """What the trained model is (weights kept, bit widths, cost)."""


@runtime_checkable
class ExactModel(ExactReference, Protocol):
    """A fixed-point model with a bit-exact reference whose layers are a Linear/ReLU network at a precision record."""

    def exact_parts(self) -> tuple[Any, Precisions]:
        """Its layers as an exact fixed-point network and their precision record."""
