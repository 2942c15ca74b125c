"""The documentation site's generated references (``cli.reference``): every config key and CLI flag documented,
read from the code itself."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from trigdeploy.cli import reference
from trigdeploy.schema import Checked, num


def test_every_config_key_and_cli_flag_is_documented():
    """A field added without a comment beside it (or a section without a docstring), or a flag without help,
    fails here: the generated references would show it blank."""
    assert reference.undocumented_fields() == []
    assert reference.undocumented_flags() == []


@dataclass(frozen=True)
class _Toy(Checked):
    """A toy section."""

    # how wide
    # (two lines above it)
    width: int = num(3, ge=1, le=8)
    depth: int = 2  # how deep
    bare: bool = False


def test_field_docs_read_the_comments_beside_each_field():
    assert reference.field_docs(_Toy) == {"width": "how wide (two lines above it)", "depth": "how deep", "bare": ""}
    keys = {k.path: k for k in reference.keys_of(_Toy, "toy.")}
    assert keys["toy.width"] == reference.Key("toy.width", "int", "3", "≥ 1 and ≤ 8", "how wide (two lines above it)")
    assert keys["toy.bare"].doc == ""  # what undocumented_fields reports: the check can fail


@pytest.mark.parametrize(
    "text",
    ["`train.bdt.input_frac`", "`features.l1.phi_bits`", "`bdt_rtl.leaf_frac`", "`train.qdeepsets.pool_bits`"],
    ids=["bdt", "l1-grid", "export-target", "registered-kind"],
)
def test_the_config_page_lists_nested_and_registered_keys(text):
    assert text in reference.config_page()


def test_the_cli_page_has_every_command_and_its_flags():
    page = reference.cli_page()
    for words in ("prepare", "train", "export", "csim", "synth", "scan", "bench", "data toptag", "data pythia"):
        assert f"## trigdeploy {words}\n" in page
    assert "--grid KIND.KEY=V1,V2" in page and "--max-lut-estimate" in page


def test_main_writes_the_three_pages(tmp_path):
    assert reference.main([str(tmp_path / "ref")]) == 0
    assert sorted(p.name for p in (tmp_path / "ref").iterdir()) == ["cli.md", "config.md", "errors.md"]
    assert reference.main([]) == 2


def test_the_error_catalogue_holds_every_raised_message(tmp_path):
    """Messages are read from the source: a TrigdeployError's text with its placeholders as …, a FieldError
    with its key; a module that raises none is not listed."""
    (tmp_path / "m.py").write_text(
        "def f(x):\n"
        "    raise TrigdeployError(f'{x}: expected a number, got ' + repr(x))\n"
        "def g():\n"
        "    raise FieldError('beta', 'expected a number from 0 to 1')\n"
    )
    (tmp_path / "quiet.py").write_text("x = 1\n")
    assert reference.error_messages(tmp_path) == {
        "m.py": ["…: expected a number, got …", "beta: expected a number from 0 to 1"]
    }
    ours = reference.error_messages()
    assert "scan: point … is given twice: … are one run" in ours["bench/scan.py"] and sum(map(len, ours.values())) > 200
