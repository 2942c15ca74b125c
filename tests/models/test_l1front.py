"""``features.inputs: l1``: the particles' L1 words (a hand-computed jet, the φ wrap, saturation), the front's
arithmetic against its NumPy definition in PyTorch and in alkaid's logic, a set model on words (reference, RTL,
order), and the config's one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import SMALL_TRAIN, run_config
from trigdeploy.config import FeaturesConfig
from trigdeploy.data.features import FeatureBuilder, l1_words
from trigdeploy.errors import TrigdeployError
from trigdeploy.features_config import L1Grid, l1_word_names
from trigdeploy.models.l1front import L1Front, front_module
from trigdeploy.schema import build

GRID = L1Grid()  # CMS Phase-2 words: pT 0.25 GeV on 14 bits, η and φ π/720 on 12 and 11 signed bits
STEP = math.pi / 720


def _p4(pt, eta, phi):
    return [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]


def test_the_words_of_a_hand_computed_jet_with_padding_and_the_phi_wrap():
    # two particles either side of φ = ±π, one beyond the pT word's range, a padded slot
    parts = [(100.0, 0.1, 3.1), (50.0, -0.2, -3.1), (5000.0, 0.0, 0.0)]
    const = np.array([[*map(lambda p: _p4(*p), parts), [0.0] * 4]])
    jet = np.sum(const[0], axis=0)
    jet_eta, jet_phi = math.asinh(jet[3] / math.hypot(jet[1], jet[2])), math.atan2(jet[2], jet[1])
    got = l1_words(const, 5, GRID)
    want = [400, round(0.1 / STEP), round(3.1 / STEP), 200, round(-0.2 / STEP), round(-3.1 / STEP)]
    want += [2**14 - 1, 0, 0] + [0, 0, 0] * 2  # saturated pT; padding (the 4th slot and a 5th not stored)
    want += [round(jet_eta / STEP), round(jet_phi / STEP)]
    np.testing.assert_array_equal(got[0], want)
    assert got.shape == (1, len(l1_word_names(5)))


def test_phi_words_wrap_into_half_open_range_and_eta_saturates():
    const = np.array([[_p4(10.0, 9.5, math.pi), _p4(10.0, -9.5, -math.pi + 1e-9)]])
    w = l1_words(const, 2, GRID)[0]
    assert w[2] == -720 and w[5] == -720  # φ = π is -π: [-720, 720)
    assert (w[1], w[4]) == (2047, -2048)  # |η| beyond the 12-bit word saturates


def _words(rows: int, n: int, seed: int = 0) -> np.ndarray:
    """Random words on the default grid with the edges the front must get right: pT words 0…7 and the largest,
    Δφ across the wrap at exactly ±720, about a quarter of slots padded (all zeros)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((rows, 3 * n + 2))
    pt = rng.integers(0, 2**14, (rows, n))
    pt[:, 0] = rng.choice([0, 1, 2, 3, 4, 7, 2**14 - 1], rows)
    w[:, 0 : 3 * n : 3] = pt
    w[:, 1 : 3 * n : 3] = rng.integers(-2048, 2048, (rows, n))
    w[:, 2 : 3 * n : 3] = rng.integers(-720, 720, (rows, n))
    w[:, 3 * n], w[:, 3 * n + 1] = rng.integers(-2048, 2048, rows), rng.integers(-720, 720, rows)
    w[:10, 2], w[:10, 3 * n + 1] = -720, 0  # Δφ = -720: kept
    w[10:20, 2], w[10:20, 3 * n + 1] = 719, -1  # Δφ = 720: wrapped to -720
    padded = rng.random((rows, n)) < 0.25
    for k in range(3):
        w[:, k : 3 * n : 3][padded] = 0
    return w


def _by_definition(w: np.ndarray, n: int, angle: int = 16) -> np.ndarray:
    """The front written out per value with Python integers and math.log2 (the module docstring): Δη and Δφ in
    steps of 1/``angle`` (16 at the default ``angle_scale_bits`` 3 on π/720 words, 128 at 0)."""
    out = np.zeros((len(w), n, 4))
    for r, row in enumerate(w.astype(int).tolist()):
        for i in range(n):
            pt, eta, phi = row[3 * i : 3 * i + 3]
            if pt == 0:
                continue
            q = min(pt // 4, 1023)
            d = phi - row[3 * n + 1]
            d = d - 1440 if d >= 720 else d + 1440 if d < -720 else d
            out[r, i] = [round(16 * math.log2(max(q, 0.5))) / 64, (eta - row[3 * n]) / angle, d / angle, 1]
    return out.reshape(len(w), -1)


@pytest.mark.parametrize(("scale", "shift", "angle"), [(3, 4, 16), (0, 7, 128)], ids=["default-scale", "unscaled"])
def test_the_front_is_its_definition_in_numpy_torch_and_logic(scale, shift, angle):
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace

    front = L1Front.of(L1Grid(angle_scale_bits=scale), 4)
    assert (front.pt_shift, front.eta_shift, front.phi_shift, front.period) == (2, shift, shift, 1440)
    w = _words(3000, 4)
    want = _by_definition(w, 4, angle)
    np.testing.assert_array_equal(front.numpy(w), want)
    got = front_module(front)(torch.from_numpy(w.astype(np.float32))).numpy()
    np.testing.assert_array_equal(got.astype(np.float64), want)  # float32 holds every value exactly
    inp = FVArrayInput((front.n_inputs,))
    logic = alkaid_trace(inp, front.trace(inp).reshape(-1))
    np.testing.assert_array_equal(np.asarray(logic.predict(w)).reshape(want.shape), want)


def test_a_front_on_another_grid_differs_where_it_should():
    # the comparison can fail: a period of 1,280 words (another φ step) moves Δφ on the events that wrap
    w = _words(500, 4, seed=2)
    other = L1Front(4, 14, 12, 11, 1280, 2, 4, 4).numpy(w)
    differ = np.flatnonzero((other != L1Front.of(GRID, 4).numpy(w)).any(axis=1))
    assert 10 <= len(differ) < 500


def test_a_model_file_from_before_the_angle_scale_keeps_the_front_it_was_trained_with(tmp_path):
    from trigdeploy.models import registry
    from trigdeploy.models.deepsets import l1_front
    from trigdeploy.models.families import load_torch_model
    from trigdeploy.schema import to_dict

    kind = registry.kind("deepsets")
    cfg = kind.config(phi=(8,), hidden=(8,), l1_port=GRID)
    saved = {"kind": "deepsets", "config": to_dict(cfg), "n_inputs": 14, "state_dict": kind.build(14, cfg).state_dict()}
    path = tmp_path / "deepsets.pt"
    torch.save(saved, path)
    assert saved["config"]["l1_port"]["angle_scale_bits"] == 3  # files are written with the key
    assert l1_front(load_torch_model(path)[0]).eta_shift == 4
    del saved["config"]["l1_port"]["angle_scale_bits"]  # a file written before the key existed
    torch.save(saved, path)
    assert l1_front(load_torch_model(path)[0]).eta_shift == 7  # unscaled, as it was trained


def _tiny_l1(kind: str, n: int = 4):
    from trigdeploy.models import registry

    torch.manual_seed(0)
    k = registry.kind(kind)
    cfg = k.config(phi=(8, 8), hidden=(8,), init="scratch", l1_port=GRID)
    model = k.build(3 * n + 2, cfg)
    x = torch.from_numpy(_words(400, n, seed=9).astype(np.float32))
    with torch.no_grad():
        model.calibrate(x) if hasattr(model, "calibrate") else model.train()(x)
    return model.eval()


@pytest.mark.parametrize("kind", ["qdeepsets", "hgq_deepsets"])
def test_a_set_model_on_words_is_exact_in_logic_and_ignores_the_order(kind):
    from trigdeploy.convert import to_rtl
    from trigdeploy.convert.forms.rtl_deepsets import trace

    model = _tiny_l1(kind)
    w = _words(1500, 4, seed=5)
    ref = model.reference(model.input_grid(w))
    with torch.no_grad():
        forward = model(torch.from_numpy(w.astype(np.float32))).numpy()
    np.testing.assert_allclose(forward, ref, rtol=0, atol=1e-5)  # float32 sums on the same grids (see qdeepsets)
    comb = trace(model.integers())
    assert to_rtl.check(comb, w, ref)["n_mismatch"] == 0
    bad = ref.copy()
    bad[3] += 2.0 ** model.integers().rho[-1][0].acc_exp
    assert to_rtl.check(comb, w, bad)["n_mismatch"] == 1
    order = np.random.default_rng(1).permutation(4)
    shuffled = np.concatenate([w[:, :12].reshape(-1, 4, 3)[:, order].reshape(-1, 12), w[:, 12:]], axis=1)
    np.testing.assert_array_equal(np.asarray(comb.predict(shuffled)).reshape(ref.shape), ref)


def test_the_builder_gives_words_unscaled_names():
    b = FeatureBuilder(FeaturesConfig(kind="constituents", n_constituents=3, inputs="l1"), [])
    assert b.words and b.names == l1_word_names(3) and b.names[-2:] == ["jet_eta", "jet_phi"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"kind": "toptag_jet", "inputs": "l1"}, "l1 takes kind constituents"),
        ({"kind": "constituents", "inputs": "l1", "particle_features": ["deta"]}, "l1 takes kind constituents"),
        ({"kind": "constituents", "inputs": "l1", "l1": {"phi_lsb": 0.01}}, "even whole number of steps"),
        ({"kind": "constituents", "inputs": "l1", "l1": {"phi_bits": 8}}, "do not hold"),
        ({"kind": "constituents", "inputs": "l1", "l1": {"pt_lsb": 0}}, "pt_lsb"),
    ],
    ids=["not-constituents", "particle-features", "phi-step", "phi-bits", "pt-lsb"],
)
def test_a_bad_l1_section_is_refused_at_load(section, message):
    with pytest.raises(TrigdeployError, match=message):
        build(FeaturesConfig, section, "features", "run.yaml")


def test_a_model_that_cannot_read_words_is_refused_at_load(tmp_path):
    with pytest.raises(TrigdeployError, match=r"key 'train\.mlp': features\.inputs: l1 .* only set models read"):
        run_config(
            [tmp_path / "t.h5"],
            name="w",
            features={"kind": "constituents", "inputs": "l1"},
            train={**SMALL_TRAIN, "mlp": {"hidden": [4]}},
        )


@pytest.mark.parametrize(
    ("word", "value", "message"),
    [
        (0, 2.0**14, r"row 0, word 0 is 16384, not an integer in \[0, 16383\]"),
        (4, 2.5, r"row 0, word 4 is 2\.5, not an integer in \[-2048, 2047\]"),
        (13, -1025.0, r"row 0, word 13 is -1025, not an integer in \[-1024, 1023\]"),
    ],
    ids=["pt-beyond-its-width", "not-an-integer", "jet-phi-beyond-its-width"],
)
def test_words_the_port_cannot_hold_are_one_line(word, value, message):
    model = _tiny_l1("qdeepsets")
    w = _words(3, 4)
    w[0, word] = value
    with pytest.raises(TrigdeployError, match=message):
        model.reference(model.input_grid(w))


def test_a_hand_written_l1_port_is_refused_at_load(tmp_path):
    with pytest.raises(TrigdeployError, match=r"key 'train\.deepsets\.l1_port': is set by train from features\.l1"):
        run_config(
            [tmp_path / "t.h5"],
            name="w",
            features={"kind": "constituents", "inputs": "l1"},
            train={**SMALL_TRAIN, "deepsets": {"phi": [4], "l1_port": {"pt_lsb": 0.5}}},
        )
