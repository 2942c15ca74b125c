"""The HDL tools' environment: jemalloc preloaded into Yosys and Verilator, and what it must not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from trigdeploy.hdl import tools, yosys

LIB = "libjemalloc.so.2"


@pytest.mark.parametrize(
    ("found", "user", "switch", "expected"),
    [
        (LIB, None, None, {"LD_PRELOAD": LIB}),
        (LIB, "/opt/mine.so", None, {"LD_PRELOAD": f"/opt/mine.so {LIB}"}),
        (LIB, None, "system", {}),
        (None, None, None, {}),
    ],
    ids=["installed", "after-the-user-s-preload", "switched-off", "not-installed"],
)
def test_fast_allocator_environment(monkeypatch, found, user, switch, expected):
    monkeypatch.setattr(tools, "_jemalloc", lambda: found)
    for name, value in (("LD_PRELOAD", user), (tools.ALLOCATOR_ENV, switch)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert tools.fast_allocator() == expected


def test_ghdl_runs_on_the_c_library_s_allocator(monkeypatch):
    """ghdl-llvm's analysis stops with STORAGE_ERROR under jemalloc: its environment never preloads it."""
    monkeypatch.setattr(tools, "_jemalloc", lambda: LIB)
    ghdl = tools.find("ghdl")
    if ghdl is None:
        pytest.skip(tools.missing("ghdl"))
    assert "LD_PRELOAD" not in ghdl.env


@pytest.fixture()
def need_jemalloc():
    if tools._jemalloc() is None:
        pytest.skip("jemalloc not installed (Debian libjemalloc2: make hdl-tools)")


# a design with LUTs, carries and flip-flops to map: a registered multiply-accumulate and a comparison
MAC = """module top(input clk, input [7:0] a, input [7:0] b, input [15:0] c, output reg [16:0] s, output reg g);
always @(posedge clk) begin s <= a * b + c; g <= (a ^ b) > c[7:0]; end
endmodule
"""


@pytest.mark.integration
def test_yosys_counts_the_same_cells_on_either_allocator(need_jemalloc, monkeypatch, tmp_path):
    src = tmp_path / "mac.v"
    src.write_text(MAC)
    cells = {}
    for switch in ("jemalloc", "system"):
        monkeypatch.setenv(tools.ALLOCATOR_ENV, switch)
        assert ("LD_PRELOAD" in tools.find("yosys").env) == (switch == "jemalloc")
        r = yosys.synthesize(
            [src], "top", "xcvu13p-flga2577-2-e", tmp_path / switch, tmp_path / "logs", "mac", options=("-nodsp",)
        )
        assert not r["cached"]
        cells[switch] = r["cells"]
    assert cells["jemalloc"] == cells["system"] and cells["system"].get("LUT6", 0) + cells["system"]["FDRE"] > 0


def _verilate(root: Path) -> dict[str, bytes]:
    tool = tools.find("verilator")
    (root / "mac.v").write_text(MAC)
    tools.run_logged(
        [[*tool.argv, "--cc", "-Wno-fatal", "--Mdir", "obj_dir", "--top-module", "top", "mac.v"]],
        root,
        root / "log",
        "Verilator",
        env=tool.environ(),
    )
    # every file Verilator wrote but its dependency record (__verFiles.dat: the files' inodes and times)
    files = (p for p in sorted((root / "obj_dir").iterdir()) if p.is_file() and not p.name.endswith("__verFiles.dat"))
    return {p.name: p.read_bytes() for p in files}


@pytest.mark.integration
def test_verilator_writes_the_same_model_on_either_allocator(need_jemalloc, monkeypatch, tmp_path):
    if tools.find("verilator") is None:
        pytest.skip(tools.missing("verilator"))
    out = {}
    for switch in ("jemalloc", "system"):
        monkeypatch.setenv(tools.ALLOCATOR_ENV, switch)
        (tmp_path / switch).mkdir()
        out[switch] = _verilate(tmp_path / switch)
    assert out["jemalloc"].keys() == out["system"].keys() and any(k.endswith(".cpp") for k in out["system"])
    differ = [k for k in out["system"] if out["jemalloc"][k] != out["system"][k]]
    assert differ == []
