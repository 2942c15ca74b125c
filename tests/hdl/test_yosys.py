"""Yosys open synthesis: primitive counts grouped right, the family of a part, and a real synthesis of
a tiny registered adder (and of a tiny alkaid design) whose counts follow from the logic."""

from __future__ import annotations

import pytest

from trigdeploy.errors import TrigdeployError
from trigdeploy.hdl import tools, yosys


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            {
                "LUT2": 3,
                "LUT6": 2,
                "INV": 1,
                "FDRE": 4,
                "FDSE": 1,
                "CARRY4": 2,
                "DSP48E2": 1,
                "BUFG": 1,
                "$scopeinfo": 9,
            },
            {"lut": 6, "ff": 5, "carry": 2, "dsp": 1, "srl": 0, "bram": 0, "mux": 0},
        ),
        (
            {"\\SRL16E": 4, "MUXF7": 2, "RAMB18E2": 1, "CARRY8": 3},
            {"lut": 0, "ff": 0, "carry": 3, "dsp": 0, "srl": 4, "bram": 1, "mux": 2},
        ),
    ],
    ids=["luts-ffs-carry-dsp", "srl-mux-bram-escaped"],
)
def test_counts_group_primitives(cells, expected):
    assert yosys.counts(cells) == expected


@pytest.mark.parametrize(
    ("part", "family"),
    [
        ("xcvu13p-flga2577-2-e", "xcup"),
        ("xczu9eg-ffvb1156-2-e", "xcup"),
        ("xcku115-flvb2104-2-e", "xcu"),
        ("xc7a100tcsg324-1", "xc7"),
    ],
    ids=["vu13p", "zynq-usp", "kintex-u", "artix7"],
)
def test_family_of_part(part, family):
    assert yosys.family(part) == family


def test_unknown_part_is_one_line():
    with pytest.raises(TrigdeployError, match="part 'ice40up5k'.*no Yosys synth_xilinx family"):
        yosys.family("ice40up5k")


@pytest.fixture()
def need_yosys():
    if tools.find("yosys") is None:
        pytest.skip(tools.missing("yosys"))


@pytest.mark.integration
def test_synthesis_of_a_registered_adder(need_yosys, tmp_path):
    src = tmp_path / "add.v"
    src.write_text(
        "module top(input clk, input [7:0] a, input [7:0] b, output reg [8:0] s);\n"
        "always @(posedge clk) s <= a + b;\nendmodule\n"
    )
    r = yosys.synthesize([src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "add")
    assert r["ff"] == 9  # the 9 registered sum bits, nothing else is stateful
    assert 1 <= r["lut"] <= 16 and r["carry"] >= 2 and r["dsp"] == 0
    assert r["label"] == "Yosys (open synthesis, not Vivado)" and not r["cached"]
    again = yosys.synthesize([src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "add")
    assert again["cached"] and again["lut"] == r["lut"]
    src.write_text(src.read_text().replace("a + b", "a - b"))
    assert not yosys.synthesize([src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "add")[
        "cached"
    ]
    # extra synth_xilinx flags are part of the script, of the cache key and of the result
    flagged = yosys.synthesize(
        [src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "add", options=("-nosrl", "-nodsp")
    )
    assert not flagged["cached"] and "-nosrl -nodsp" in flagged["script"] and flagged["ff"] == 9


def test_synthesis_option_must_be_a_plain_flag(tmp_path):
    src = tmp_path / "x.v"
    src.write_text("module top(input a, output b); assign b = a; endmodule\n")
    if tools.find("yosys") is None:
        pytest.skip(tools.missing("yosys"))
    with pytest.raises(TrigdeployError, match="option '; shell' is not a plain flag"):
        yosys.synthesize(
            [src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "x", options=("; shell",)
        )


@pytest.mark.integration
def test_synthesis_error_is_one_line(need_yosys, tmp_path):
    src = tmp_path / "bad.v"
    src.write_text("module top(input a, output b);\nassign b = ;\nendmodule\n")
    with pytest.raises(TrigdeployError, match="Yosys synthesis of bad failed"):
        yosys.synthesize([src], "top", "xcvu13p-flga2577-2-e", tmp_path / "cache", tmp_path / "logs", "bad")


@pytest.mark.integration
def test_alkaid_open_synth_variant_against_its_cost_model(need_yosys, tiny_qat, tmp_path):
    """The tiny design's open-synthesis form: Yosys maps it, and alkaid's model of the same form is in
    the same range (the demo's 50k-LUT design is the real check, in BENCHMARKS.md)."""
    pytest.importorskip("alkaid")
    from trigdeploy.convert import to_rtl
    from trigdeploy.hdl.projects import alkaid_design

    model, x, _, qonnx = tiny_qat
    prj = tmp_path / "tiny_rtl"
    info = to_rtl.write_project(
        to_rtl.trace(model, 6), prj, "xcvu13p-flga2577-2-e", 5.0, x[:5], qonnx[:5], "tiny", "ok"
    )
    d = alkaid_design(prj)
    assert all("open_synth" in str(s) for s in d.verilog) and d.estimate == info["lut_estimate_alkaid_open_synth"]
    assert dict(d.labels)["variant"].startswith("open_synth") and d.tools == ("yosys",)
    cost = d.estimate
    r = yosys.synthesize(list(d.verilog), d.top, d.part, tmp_path / "cache", tmp_path / "logs", "tiny_rtl")
    assert r["lut"] > 0 and r["dsp"] == 0  # distributed arithmetic: no multipliers
    assert 0.5 < cost / r["lut"] < 2.0
