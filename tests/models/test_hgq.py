"""Resource-aware MLP (per-weight precision, pruning) on tiny inline models: the exact reference equals
the training forward pass, alkaid's logic and the hls4ml C simulation bit for bit (a one-LSB change is
caught), the cost term falls as its weight grows, and pruned weights cost nothing in the RTL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trigdeploy.config import HGQConfig
from trigdeploy.models.hgq import HGQMLP


def _tiny(n_in: int = 5, hidden=(8, 4), beta: float = 0.0, seed: int = 0) -> HGQMLP:
    torch.manual_seed(seed)
    model = HGQMLP(n_in, HGQConfig(hidden=hidden, beta=beta, weight_frac_bits=4, act_frac_bits=3, init="scratch"))
    with torch.no_grad():  # spread the bit counts so that the layers hold different widths, some weights pruned
        for d in model.dense:
            d.f.copy_(torch.randint(-2, 6, d.f.shape).float())
    model.calibrate(torch.randn(2000, n_in) * 2)
    return model.eval()


@pytest.fixture(scope="module")
def tiny():
    model = _tiny()
    x = np.random.default_rng(1).normal(size=(3000, 5)) * 2
    return model, x


def test_reference_equals_the_training_forward_pass(tiny):
    model, x = tiny
    with torch.no_grad():
        y_torch = model.double()(torch.from_numpy(x)).numpy().reshape(-1)
    model.float()
    np.testing.assert_array_equal(model.reference(x), y_torch)  # float64 holds every fixed-point value exactly


def test_some_weights_are_pruned_and_the_types_are_exact(tiny):
    model, _ = tiny
    s = model.summary()
    assert 0 < s["weights_kept"] < s["weights"] == 5 * 8 + 8 * 4 + 4
    seq, choice = model.exact_parts()
    assert [p.index for p in choice.layers] == [0, 1, 2, 3, 4]  # every Linear and ReLU of seq
    assert choice.layer(0).accum == choice.layer(0).result  # the sums are never rounded
    relu = choice.layer(1).result
    assert (relu.rounding, relu.overflow) == ("RND", "SAT")  # ReLU: round half up, saturate
    assert choice.layer(1).weight is None and (choice.port.rounding, choice.port.overflow) == ("RND", "SAT")
    for lin, layer in zip([seq[0], seq[2], seq[4]], model.layers()):
        np.testing.assert_array_equal(lin.weight.detach().numpy(), layer["w_int"] * 2.0 ** -layer["w_f"])


def test_alkaid_logic_is_bit_exact_and_a_one_lsb_change_is_caught(tiny):
    pytest.importorskip("alkaid")
    from trigdeploy.convert import to_rtl

    model, x = tiny
    seq, choice = model.exact_parts()
    comb = to_rtl.trace_ptq(seq, choice, 5)
    grid = to_rtl.ptq_input_grid(x, choice)
    ref = model.reference(grid)
    np.testing.assert_array_equal(ref, model.reference(x))  # the port grid is the model's own input quantizer
    assert to_rtl.check(comb, grid, ref) == {
        "n_events": 3000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    bad = ref.copy()
    lsb = 2.0 ** -model.layers()[-1]["acc_f"]
    bad[7] += lsb
    assert to_rtl.check(comb, grid, bad)["n_mismatch"] == 1


def test_hls4ml_csim_is_bit_exact(tiny, tmp_path):
    pytest.importorskip("hls4ml")
    from trigdeploy.convert import to_hls4ml, to_rtl
    from trigdeploy.targets import HLS4MLTarget

    model, x = tiny
    seq, choice = model.exact_parts()
    grid = to_rtl.ptq_input_grid(x, choice)
    ref = model.reference(grid)
    hm = to_hls4ml.convert_ptq(seq, 5, choice, HLS4MLTarget(Backends=("Vitis",)), "Vitis", tmp_path / "prj", None, [])
    assert to_hls4ml.check(hm, grid, ref, tmp_path / "cache") == {
        "n_events": 3000,
        "n_mismatch": 0,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
        "ok": True,
    }
    bad = ref.copy()
    bad[11] -= 2.0 ** -model.layers()[-1]["acc_f"]
    assert to_hls4ml.check(hm, grid, bad, tmp_path / "cache")["n_mismatch"] == 1


def _train(beta: float, steps: int = 150) -> float:
    model = _tiny(beta=beta, seed=3)
    model.train()
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.normal(size=(4096, 5)).astype(np.float32))
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).float()
    opt = torch.optim.AdamW(model.param_groups(HGQConfig(bits_lr=0.05)), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for i in range(steps):
        xb, yb = x[(i * 256) % 4096 :][:256], y[(i * 256) % 4096 :][:256]
        loss = loss_fn(model(xb), yb) + model.regularizer()
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.after_step()
    return float(model.ebops().detach())


def test_cost_falls_as_its_weight_grows():
    costs = [_train(beta) for beta in (0.0, 1e-3, 1e-2)]
    assert costs[0] > costs[1] > costs[2], costs


def test_pruned_weights_cost_nothing_in_the_rtl():
    """An input whose every weight is pruned leaves the same logic as a network without that input."""
    pytest.importorskip("alkaid")
    from trigdeploy.convert import to_rtl

    model = _tiny(seed=5)
    with torch.no_grad():
        model.dense[0].f[:, 2] = -8.0  # every weight of input 2 rounds to 0 …
        model.dense[0].weight[:, 2] = 0.01
    seq, choice = model.exact_parts()
    assert (seq[0].weight[:, 2] == 0).all()
    smaller = torch.nn.Sequential(torch.nn.Linear(4, 8).double(), *list(seq)[1:])
    with torch.no_grad():
        smaller[0].weight.copy_(torch.cat([seq[0].weight[:, :2], seq[0].weight[:, 3:]], dim=1))
        smaller[0].bias.copy_(seq[0].bias)
    full, reduced = to_rtl.trace_ptq(seq, choice, 5), to_rtl.trace_ptq(smaller, choice, 4)
    assert full.cost == reduced.cost > 0  # … and the input costs nothing: no multiplier, no adder
    with torch.no_grad():
        model.dense[0].f[:, 2] = 6.0  # the same input kept at 6 fractional bits does cost
        model.dense[0].weight[:, 2] = 0.3
    assert to_rtl.trace_ptq(*model.exact_parts(), 5).cost > full.cost


def test_pruned_weights_cost_nothing_in_the_hls4ml_estimate():
    """The hls4ml project holds pruned weights as constant zeros; the estimate gives them no logic."""
    from trigdeploy import fpga

    model = _tiny(seed=6)
    seq, choice = model.exact_parts()
    est = fpga.estimate_mlp(fpga.ptq_layers(seq, choice), 5.0)
    kept = model.summary()["weights_kept"]
    assert est["zeros"] == model.summary()["weights"] - kept > 0
    assert est["multipliers"] + est["shifts"] == kept


def test_an_accumulator_float64_cannot_hold_is_refused():
    from trigdeploy.errors import TrigdeployError

    model = _tiny(seed=7)
    with torch.no_grad():
        model.quant[0].i.fill_(30)  # inputs up to 2^30 at 12 fractional bits, weights at 12: > 52-bit sums
        model.quant[0].f.fill_(12.0)
        for d in model.dense:
            d.f.fill_(12.0)
    with pytest.raises(TrigdeployError, match=r"layer 0: accumulator fixed<\d+,\d+> is wider than 52 bits"):
        model.reference(np.zeros((2, 5)))
