"""PTQ precision choice against hand-computed bit counts, and the overflow report."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from trigdeploy.convert import ptq, to_hls4ml
from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType, LayerPrecision, Precisions


@pytest.fixture
def tiny():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.5, -0.25], [0.5, 0.5]]))
        model[0].bias.copy_(torch.tensor([0.1, -3.0]))
        model[2].weight.copy_(torch.tensor([[2.0, -1.0]]))
        model[2].bias.copy_(torch.tensor([0.0]))
    return model


def test_profile_hand_computed(tiny):
    x = np.array([[2.0, -4.0], [-1.0, 1.0]], np.float32)
    port, p = ptq.profile(tiny, x)
    # layer 0: [1.5*2 + 0.25*4 + 0.1, 0.5*2 - 0.5*4 - 3] = [4.1, -4.0]; [-1.5-0.25+0.1, -0.5+0.5-3] = [-1.65, -3]
    assert port["max_abs"] == 4.0
    assert p[0]["max_abs"] == pytest.approx(4.1)
    # L1 bound: max over rows of sum_j |w_ij x_j| = 1.5*2 + 0.25*4 = 4.0
    assert p[0]["accum_l1"] == pytest.approx(4.0)
    assert p[1]["max_abs"] == pytest.approx(4.1)  # ReLU keeps 4.1
    assert p[2]["max_abs"] == pytest.approx(8.2)


@pytest.mark.parametrize(
    ("max_abs", "headroom", "bits"),
    [(4.0, 0, 4), (4.1, 0, 4), (3.99, 0, 3), (0.4, 0, 1), (1.0, 1, 3), (0.0, 0, 1)],
    ids=["pow2", "above-pow2", "below-pow2", "fraction", "headroom", "zero"],
)
def test_integer_bits(max_abs, headroom, bits):
    # signed fixed<W,I> holds |v| < 2^(I-1): 4.0 needs I = 4 (range ±8), 3.99 needs I = 3 (±4)
    assert ptq._int_bits(max_abs, headroom) == bits


def test_choice_and_exact_accumulator(tiny):
    x = np.array([[2.0, -4.0], [-1.0, 1.0]], np.float32)
    choice = ptq.choose_precisions(tiny, ptq.profile(tiny, x), width=16, headroom=0)
    assert choice.port == FixedType(16, 4, "RND", "SAT")
    assert choice.layer(0).weight == FixedType(16, 2)  # max |w| 1.5
    assert choice.layer(0).bias == FixedType(16, 3)  # max |b| 3.0
    # accum fractional bits = weight (14) + input (12) = 26; integer bits from the L1 bound 4.0 → 4
    assert choice.layer(0).accum == FixedType(30, 4)
    assert choice.layer(1) == LayerPrecision(1, FixedType(16, 4, "RND", "SAT"))  # ReLU: a result type only
    assert choice.layer(2).result == FixedType(16, 5, "RND", "SAT")  # |8.2| needs ±16


def test_overflow_is_reported(tiny):
    x = np.array([[2.0, -4.0], [-1.0, 1.0]], np.float32)
    choice = ptq.choose_precisions(tiny, ptq.profile(tiny, x), width=16, headroom=0)
    assert ptq.overflow_report(ptq.profile(tiny, x), choice) == []
    over = ptq.overflow_report(ptq.profile(tiny, 10 * x), choice)
    assert {o["layer"] for o in over} == {"input", "layer 0", "layer 1", "layer 2"}
    assert all(o["observed_max_abs"] > o["type_max"] for o in over)


def test_the_record_round_trips_through_json_and_maps_onto_hls4ml_names(tiny):
    x = np.array([[2.0, -4.0], [-1.0, 1.0]], np.float32)
    choice = ptq.choose_precisions(tiny, ptq.profile(tiny, x), width=16, headroom=0)
    assert Precisions.from_dict(json.loads(json.dumps(choice.as_dict()))) == choice
    names = to_hls4ml.layer_precisions(choice)
    assert list(names) == ["input_1", "_0", "_1", "_2"]  # hls4ml's names of a PyTorch Sequential
    assert names["input_1"] == {"result": "fixed<16,4,RND,SAT>"}
    assert names["_0"] == {
        "result": "fixed<16,4,RND,SAT>",
        "weight": "fixed<16,2>",
        "bias": "fixed<16,3>",
        "accum": "fixed<30,4>",
    }
    assert names["_1"] == {"result": "fixed<16,4,RND,SAT>"}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"layers": []}, "not a precision record (KeyError"),
        ({"port": "fixed<8,3>", "layers": [{"index": 0}]}, "not a precision record (TypeError"),
        ({"port": "float", "layers": []}, "expected fixed<W,I>"),
    ],
    ids=["no-port", "no-result", "bad-type"],
)
def test_a_bad_record_is_one_line(record, message):
    with pytest.raises(TrigdeployError, match=re.escape(message)):
        Precisions.from_dict(record, "m.json")


def test_a_layer_the_record_lacks_is_named(tiny):
    x = np.array([[2.0, -4.0], [-1.0, 1.0]], np.float32)
    choice = ptq.choose_precisions(tiny, ptq.profile(tiny, x), width=16, headroom=0)
    with pytest.raises(TrigdeployError, match=r"no types for layer 5 \(has \[0, 1, 2\]\)"):
        choice.layer(5)
