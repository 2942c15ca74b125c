"""FPGA estimator on hand-counted layers; vendor report parser; synthesis skips cleanly without the tools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trigdeploy import fpga
from trigdeploy.bench import synth
from trigdeploy.errors import TrigdeployError

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("code", "digits"),
    [(0, 0), (1, 1), (-4, 1), (3, 2), (7, 2), (-5, 2), (11, 3)],
    ids=["0", "1", "-4", "3=4-1", "7=8-1", "-5", "11=16-4-1"],
)
def test_csd_digits(code, digits):
    assert fpga.csd_digits(code) == digits


def test_small_lut_layer_hand_counted():
    # weights 3, 4, 0, −5 into one output; 4-bit weights × 8-bit inputs (< 10 bits: LUT multipliers)
    layer = fpga.Dense(np.array([[3], [4], [0], [-5]]), w_bits=4, a_bits=8, acc_bits=16, out_bits=8)
    e = fpga.estimate_dense(layer, clock_ns=5.0)
    assert (e["multipliers"], e["shifts"], e["zeros"], e["dsp"]) == (2, 1, 1, 0)
    # products: 3 = 4 − 1 and 5 = 4 + 1 → one 12-bit adder each = 24 LUT;
    # tree over 3 products + bias: 2 adders of 13 bits, then 1 of 14 bits = 40 LUT; ReLU/requant 8 LUT
    assert e["lut"] == 24 + 40 + 8
    # 2 tree levels fit one 5 ns cycle (4 levels per cycle): product stage + 1 → 2 stages of 14-bit registers
    assert (e["stages"], e["ff"]) == (2, 2 * 14)
    whole = fpga.estimate_mlp([layer], 5.0)
    assert (whole["latency_cycles"], whole["latency_ns"], whole["ii"], whole["estimate"]) == (3, 15.0, 1, True)


@pytest.mark.parametrize(
    ("w_bits", "a_bits", "dsp_per_product"),
    [(16, 16, 1), (16, 24, 1), (16, 30, 2), (9, 16, 0)],
    ids=["16x16", "16x24", "16x30-two-dsps", "9-bit-weights-in-luts"],
)
def test_wide_products_map_to_dsps(w_bits, a_bits, dsp_per_product):
    layer = fpga.Dense(np.array([[3, 1000], [-77, 0]]), w_bits, a_bits, acc_bits=40, out_bits=16)
    assert fpga.estimate_dense(layer, 5.0)["dsp"] == 3 * dsp_per_product


def test_tighter_clock_adds_pipeline_stages():
    layer = fpga.Dense(np.full((64, 4), 3), w_bits=6, a_bits=8, acc_bits=24, out_bits=8)  # 7 tree levels
    assert fpga.estimate_dense(layer, 5.0)["stages"] == 1 + 2  # 4 levels per cycle
    assert fpga.estimate_dense(layer, 2.5)["stages"] == 1 + 4  # 2 levels per cycle


def test_csynth_report_parser():
    r = synth.parse_csynth_xml(DATA / "myproject_csynth.xml")
    assert (r["lut"], r["ff"], r["dsp"], r["bram_18k"]) == (23456, 4321, 12, 0)
    assert (r["latency_cycles_worst"], r["ii"], r["clock_target_ns"], r["latency_ns"]) == (9, 1, 5.0, 45.0)
    assert r["available"]["lut"] == 1728000 and r["part"] == "xcvu13p-flga2577-2-e" and not r["estimate"]


def _synth_json(tmp_path, raw: dict):
    """``raw`` written as a synth.json and read back typed, as bench reads it."""
    from trigdeploy.bench.synthreport import SynthReport

    (tmp_path / "synth.json").write_text(json.dumps({"manifest_sha256": "0" * 64, **raw}))
    return SynthReport.load(tmp_path / "synth.json")


def test_vendor_reports_stand_beside_the_open_synthesis_counts(tmp_path):
    """``trigdeploy synth`` records the vendor's C synthesis reports in synth.json; bench puts each HLS
    project's figures in its side-by-side table (a report without resources: no row)."""
    from trigdeploy.bench.report import _fpga_tables
    from trigdeploy.bench.run import side_by_side

    v = synth.parse_csynth_xml(DATA / "myproject_csynth.xml")
    empty = {k: x for k, x in v.items() if k not in ("lut", "ff", "dsp")}
    rows = side_by_side(_synth_json(tmp_path, {"designs": {}, "vendor": {"qmlp_vitis": v, "empty": empty}}), {}, {})
    assert rows == [
        {
            "design": "qmlp_vitis",
            "source": "vendor C synthesis report (xcvu13p-flga2577-2-e, 5 ns; latency 9 cycles, II 1)",
            "lut": 23456,
            "ff": 4321,
            "dsp": 12,
            "ratio_to_yosys": None,
            "vendor": True,
        }
    ]
    assert side_by_side(_synth_json(tmp_path, {"designs": {}}), {}, {}) == [] and side_by_side(None, {}, {}) == []
    table = _fpga_tables({"fpga": {}, "fpga_side_by_side": rows})
    assert (
        "| qmlp_vitis | vendor C synthesis report (xcvu13p-flga2577-2-e, 5 ns; latency 9 cycles, II 1) | 23,456 | "
        "4,321 |  | 12 |  |  |" in table
    )
    assert any("the vendor rows are the HLS tool's C synthesis estimates" in line for line in table)
    yosys_only = [{"design": "d", "source": "Yosys", "lut": 1}]
    assert any("no vendor column" in line for line in _fpga_tables({"fpga": {}, "fpga_side_by_side": yosys_only}))


def test_truncated_report_is_one_clear_error(tmp_path):
    bad = tmp_path / "x_csynth.xml"
    bad.write_text((DATA / "myproject_csynth.xml").read_text().split("<AreaEstimates>")[0] + "</profile>")
    with pytest.raises(TrigdeployError, match="no AreaEstimates/Resources"):
        synth.parse_csynth_xml(bad)


def test_synth_without_vendor_tools_says_so_and_skips(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert synth.synth_run(tmp_path, tmp_path / "logs") is None
    assert "is on PATH; C synthesis skipped" in caplog.text
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "JSONDecodeError"),
        ('{"designs": {}}', "KeyError: 'manifest_sha256'"),
        ('{"manifest_sha256": "x", "designs": {"d": {"model": "m", "lut": 5}}}', "KeyError: 'label'"),
        ('{"manifest_sha256": "x", "designs": {"d": {"model": "m"}}}', "KeyError: 'skipped'"),
    ],
    ids=["not-json", "no-export-hash", "count-without-label", "neither-counted-nor-skipped"],
)
def test_a_synth_json_synth_did_not_write_is_one_line(tmp_path, raw, message):
    from trigdeploy.bench.synthreport import SynthReport

    (tmp_path / "synth.json").write_text(raw)
    with pytest.raises(TrigdeployError, match=r"synth\.json: not a synth\.json of this trigdeploy \(" + message):
        SynthReport.load(tmp_path / "synth.json")


def test_the_typed_report_keeps_each_design_and_its_estimate(tmp_path):
    count = {
        "model": "qmlp",
        "label": "Yosys",
        "tool": "Yosys 0.23",
        "lut": 100,
        "ff": 7,
        "carry": 3,
        "dsp": 0,
        "seconds": 1.5,
        "source": "alkaid",
        "variant": "open_synth",
        "estimate_alkaid": 104.5,
    }
    r = _synth_json(
        tmp_path,
        {
            "designs": {
                "qmlp_rtl": count,
                "mlp_rtl": {"model": "mlp", "skipped": "too large"},
                "bdt_vhdl": {"model": "bdt", "failed": "ghdl: error"},
            }
        },
    )
    assert list(r.designs) == ["qmlp_rtl", "mlp_rtl", "bdt_vhdl"]  # the order synth ran them
    q = r.designs["qmlp_rtl"]
    assert (q.lut, q.estimate, q.estimator, q.variant) == (100, 104.5, "alkaid", "open_synth")
    assert [(d.why, d.failed) for n, d in r.designs.items() if n != "qmlp_rtl"] == [
        ("too large", False),
        ("ghdl: error", True),
    ]
    assert list(r.counted) == ["qmlp_rtl"]
