"""The one fixed-point vocabulary: both spellings read, written back exactly, modes checked."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.fixed import FixedType


@pytest.mark.parametrize(
    ("text", "expected", "hls4ml", "ap"),
    [
        ("fixed<16,6>", FixedType(16, 6), "fixed<16,6>", "ap_fixed<16,6>"),
        ("fixed<16,6,RND,SAT>", FixedType(16, 6, "RND", "SAT"), "fixed<16,6,RND,SAT>", "ap_fixed<16,6,AP_RND,AP_SAT>"),
        (
            "ap_fixed<9,3,AP_RND_CONV,AP_SAT>",
            FixedType(9, 3, "RND_CONV", "SAT"),
            "fixed<9,3,RND_CONV,SAT>",
            "ap_fixed<9,3,AP_RND_CONV,AP_SAT>",
        ),
        (" ap_fixed< 18 , 8 > ", FixedType(18, 8), "fixed<18,8>", "ap_fixed<18,8>"),
        (
            "fixed<8,-2,TRN,WRAP>",
            FixedType(8, -2, "TRN", "WRAP"),
            "fixed<8,-2,TRN,WRAP>",
            "ap_fixed<8,-2,AP_TRN,AP_WRAP>",
        ),
    ],
    ids=["hls4ml-plain", "hls4ml-modes", "ap-modes", "spaces", "negative-integer"],
)
def test_both_spellings_read_and_write_back(text, expected, hls4ml, ap):
    t = FixedType.read(text)
    assert (t, t.hls4ml, t.ap, str(t)) == (expected, hls4ml, ap, ap)
    assert FixedType.read(t.hls4ml) == FixedType.read(t.ap) == t


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fixed<16,6,RND>", "expected fixed<W,I>"),
        ("ufixed<8,2>", "expected fixed<W,I>"),
        ("fixed<0,1>", "at least one bit"),
        ("fixed<16,6,ROUND,SAT>", "unknown modes"),
        ("fixed<16,6,RND,CLIP>", "unknown modes"),
    ],
    ids=["one-mode", "unsigned", "no-bits", "bad-rounding", "bad-overflow"],
)
def test_what_is_not_a_type_is_one_line_naming_it(text, message):
    with pytest.raises(TrigdeployError, match=message) as info:
        FixedType.read(text, "layer_3 result")
    assert str(info.value).startswith(f"layer_3 result {text!r}") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["fixed<18,8>", "ap_fixed<18,8,AP_RND,AP_SAT>", "ap_fixed<49,8>", "ap_fixed<8,0>"],
    ids=["hls4ml-spelling", "modes", "too-wide", "no-integer-bit"],
)
def test_a_conifer_precision_is_the_strict_form(text):
    with pytest.raises(TrigdeployError):
        FixedType.parse(text, "Precision")


def test_grid_and_codes():
    t = FixedType.read("fixed<6,3>")
    assert (t.frac, t.lsb, t.int_min, t.int_max) == (3, 0.125, -32, 31)
    x = np.array([-5.0, -0.0625, 0.0625, 0.1875, 3.99, 100.0])
    np.testing.assert_array_equal(t.to_int(x, "floor"), [-32, -1, 0, 1, 31, 31])
    np.testing.assert_array_equal(t.to_int(x, "nearest"), [-32, -0, 0, 2, 31, 31])  # half to even: 1.5 → 2
    np.testing.assert_array_equal(t.quantize_inputs(x), [-4.0, -0.125, 0.0, 0.125, 3.875, 3.875])
