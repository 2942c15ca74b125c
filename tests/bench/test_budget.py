"""The budget verdict (device totals, shares, pass/fail), the rate view (accept rates and the efficiency at a
budget, counted by hand), the budget's checks at load, and the scan cache that ignores the bench section."""

from __future__ import annotations

import numpy as np
import pytest

from trigdeploy.bench import budget as bb
from trigdeploy.bench_config import RateConfig
from trigdeploy.devices import device_of, verdict
from trigdeploy.errors import TrigdeployError
from trigdeploy.targets import Budget, ExportTarget, HLS4MLTarget


def test_device_totals_by_part():
    vu13p = device_of("xcvu13p-flga2577-2-e")
    assert (vu13p.name, vu13p.lut, vu13p.ff, vu13p.dsp) == ("XCVU13P", 1_728_000, 3_456_000, 12_288)
    assert device_of("XCVU9P-FLGB2104-2-I").lut == 1_182_240
    assert device_of("xc7a35t-cpg236-1") is None


@pytest.mark.parametrize(
    ("figures", "fits", "checks"),
    [
        ({"lut": 86_400, "ff": 10, "dsp": 0, "latency_ns": 100.0, "ii": 1}, True, (True, True, True)),  # 5.000 %
        ({"lut": 86_401, "ff": 10, "dsp": 0, "latency_ns": 100.0, "ii": 1}, False, (False, True, True)),
        ({"lut": 100, "ff": 10, "dsp": 0, "latency_ns": 105.0, "ii": 2}, False, (True, False, False)),
        ({"lut": 100, "latency_ns": None}, True, (True, None, None)),  # unknown items do not decide
    ],
    ids=["exactly-5pc", "one-lut-over", "slow-and-ii-2", "latency-unknown"],
)
def test_verdict_by_hand(figures, fits, checks):
    b = Budget(lut_fraction=0.05, latency_ns=100.0, ii=1)
    v = verdict(figures, device_of("xcvu13p"), b)
    assert v["lut_fraction"] == pytest.approx(figures["lut"] / 1_728_000)
    assert (v["checks"]["lut_fraction"], v["checks"]["latency_ns"], v["checks"]["ii"]) == checks
    assert v["fits"] is fits and "ff_fraction" not in v["checks"]  # not budgeted: a share, no check


def test_no_budget_no_verdict_and_unknown_device_no_share():
    v = verdict({"lut": 10}, None, Budget())
    assert (v["lut_fraction"], v["checks"], v["fits"]) == (None, {}, None)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"hls4ml": {"Part": "xc7a35t-cpg236-1"}, "budget": {"lut_fraction": 0.05}}, "not a tabulated device"),
        ({"budget": {"lut_fraction": 1.5}}, "lut_fraction"),
        ({"budget": {"ii": 0}}, "ii"),
        ({"budget": {"luts": 0.05}}, "luts"),
    ],
    ids=["untabulated-part", "fraction-above-1", "ii-0", "unknown-key"],
)
def test_budget_is_checked_at_load(target, message):
    from trigdeploy.schema import build

    with pytest.raises(TrigdeployError, match=message):
        build(ExportTarget, target, "", "t.yaml")


def test_an_untabulated_part_without_fractions_is_fine():
    t = ExportTarget(hls4ml=HLS4MLTarget(Part="xc7a35t-cpg236-1"), budget=Budget(latency_ns=100.0))
    assert t.budget.is_set() and not Budget().is_set()


def _sample():
    # background at 0..999, signal at 500, 505, ..., 995: ties of one signal and one background event
    y = np.r_[np.zeros(1000), np.ones(100)].astype(int)
    return y, np.r_[np.arange(1000.0), 500.0 + 5 * np.arange(100)]


@pytest.mark.parametrize(
    ("fraction", "rate_at_03", "eff_at_50k"),
    [(1.0, 150_000.0, 0.1), (0.5, 0.5 * 150_000 + 0.5 * 300_000, 0.06)],
    ids=["all-background", "half-background"],
)
def test_rates_by_hand_count(fraction, rate_at_03, eff_at_50k):
    y, s = _sample()
    r = bb.rates(y, s, RateConfig(input_hz=1e6, background_fraction=fraction, budgets_hz=(5e4, 1e6)), (0.3,))
    # εS = 0.3 keeps the signal from 850 up, and 150 background events (850..999) pass: εB = 0.15
    e = r["at_efficiency"]["eff_S=0.3"]
    assert e["rate_hz"] == pytest.approx(rate_at_03) and e["background_passing"] == pytest.approx(150)
    assert not e["statistics_limited"] and e["rate_ci_hz"][0] < e["rate_hz"] < e["rate_ci_hz"][1]
    # 50 kHz of 1 MHz, all background: εB ≤ 0.05 → threshold 950 (50 background, 10 signal): εS = 0.1.
    # Half signal: at threshold 995 − 5j, εS = (j + 1)/100 and εB = 5(j + 1)/1000, so the accept rate is
    # 0.5 · 1 MHz · 0.015 (j + 1) ≤ 50 kHz up to j = 5: εS = 0.06 (45 kHz)
    b = r["at_budget"]["50000 Hz"]
    assert b["signal_efficiency"] == pytest.approx(eff_at_50k) and b["rate_hz"] <= 5e4
    assert r["at_budget"]["1e+06 Hz"]["signal_efficiency"] == 1.0  # the whole input rate: everything fits


def test_rate_budgets_are_checked_at_load():
    with pytest.raises(TrigdeployError, match="budgets_hz"):
        RateConfig(input_hz=1e6, budgets_hz=(2e6,))


@pytest.mark.parametrize("value", [0, 1, 1.5, "half"], ids=["zero", "one", "above", "a-word"])
def test_a_quoted_efficiency_outside_0_1_is_one_line(tmp_path, value):
    from conftest import run_config

    with pytest.raises(TrigdeployError, match="quoted_efficiency"):
        run_config([tmp_path / "x.h5"], bench={"quoted_efficiency": value})


def test_the_scan_fingerprint_ignores_the_bench_section(tmp_path):
    """A scan point is shaped by every section of its config but ``bench`` (the report's rate view), and by the
    bytes of the float model it starts from."""
    from conftest import run_config
    from trigdeploy.bench.scan import ScanOptions, _fingerprint, parent_print
    from trigdeploy.layout import RunLayout
    from trigdeploy.schema import to_dict
    from trigdeploy.targets import ExportTarget

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    for name in ("features.json", "preprocess.json", "splits.npz", "mlp.pt"):
        (run / name).write_text(name)
    opts = ScanOptions(ExportTarget(), 100_000)

    def key(*overrides: str) -> str:
        taken = parent_print(RunLayout.of(run), "mlp.pt")
        return _fingerprint(taken, to_dict(run_config([tmp_path / "x.h5"], *overrides)), opts)

    keys = [key(), key("bench.rate.budgets_hz=[1.0e+5]"), key("seed=7"), key("bench.quoted_efficiency=0.6")]
    (run / "mlp.pt").write_text("retrained")
    keys.append(key())
    assert keys[0] == keys[1] == keys[3] != keys[2] and keys[4] not in keys[:4]


def test_estimator_errors_by_hand():
    rows = [
        {"design": "a_rtl", "source": "Yosys (open synthesis, not Vivado)", "lut": 1000},
        {"design": "a_rtl", "source": "x", "lut": 1500, "estimator": "alkaid cost model", "same_logic": True},
        {"design": "a_rtl", "source": "y", "lut": 2500, "estimator": "hls4ml model", "same_logic": False},
        {"design": "b_rtl", "source": "Yosys (open synthesis, not Vivado)", "lut": 200},
        {"design": "b_rtl", "source": "x", "lut": 100, "estimator": "alkaid cost model", "same_logic": True},
        {"design": "c_vhdl", "source": "Yosys: skipped (no GHDL)", "skipped": "no GHDL"},
        {"design": "c_vhdl", "source": "z", "lut": 9, "estimator": "conifer", "same_logic": True},  # no count
    ]
    alkaid, hls4ml = bb.estimator_errors(rows)
    assert alkaid == {
        "estimator": "alkaid cost model",
        "same_logic": True,
        "designs": ["a_rtl", "b_rtl"],
        "mean_ratio": pytest.approx(1.0),  # 1.5 and 0.5
        "min_ratio": 0.5,
        "max_ratio": 1.5,
    }
    assert (hls4ml["estimator"], hls4ml["same_logic"], hls4ml["mean_ratio"]) == ("hls4ml model", False, 2.5)


def test_models_compared_pairwise_and_the_verdict_corrected_for_k_classes():
    from trigdeploy.bench import physics
    from trigdeploy.bench.report_tables import paired as _paired

    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.5).astype(int)
    s = rng.normal(size=3000) + y
    scores = {"a": {"PyTorch": s, "csim": s}, "b": {"XGBoost": s + 1.5 * rng.normal(size=3000)}, "c": {"x": 2 * s}}
    ab, ac, bc = physics.compare_models(y, scores)
    assert (ab["a"], ab["form_a"], ab["b"], ab["form_b"]) == ("a", "PyTorch", "b", "XGBoost")
    assert ab["binary"][""]["delta"] < 0 and _paired(list(ab["binary"].values())).startswith("**differs**")
    assert ac["binary"][""]["identical"] and _paired(list(ac["binary"].values())) == "identical ranking"
    # K tests: the smallest p is multiplied by K before it is read at 5 %
    tests = [{"identical": False, "p": 0.03, "delta": -0.01}, {"identical": False, "p": 0.5, "delta": 0.0}]
    assert _paired(tests[:1]).startswith("**differs**") and _paired(tests) == "within stat.: ΔAUC -1.0e-02 (p 0.06)"
