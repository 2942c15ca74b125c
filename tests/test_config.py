"""Run config: parsing into frozen dataclasses, key and type errors, --set overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from trigdeploy.config import (
    RunConfig,
    ToptagGenConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_config,
)
from trigdeploy.errors import TrigdeployError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))

BASE = {
    "name": "t",
    "data": {"format": "hdf5", "files": ["a.h5"], "generate": {"toptag": {"jets": 10}}},
}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_committed_configs_parse_and_round_trip(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.name == path.stem
    again = parse_config(yaml.safe_load(dump_config(cfg)), "round-trip")
    assert again == cfg


def test_config_is_frozen_and_typed():
    cfg = parse_config(BASE)
    assert cfg.data.files == ("a.h5",)
    assert cfg.data.generate.toptag == ToptagGenConfig(jets=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "other"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.bogus=1"], "unknown key 'data.bogus'"),
        (["data.generate.toptag.jetz=1"], "unknown key 'data.generate.toptag.jetz'"),
        (["data.generate.toptag.jets=many"], "key 'data.generate.toptag.jets': expected int, got str"),
        (["data.generate.toptag.jets=true"], "key 'data.generate.toptag.jets': expected int, got bool"),
        (["data.format=parquet"], "key 'data.format': expected one of 'hdf5', 'root'"),
        (["data.files=a.h5"], "key 'data.files': expected list of str"),
        (["data.generate.toptag.ttv=5"], "key 'data.generate.toptag.ttv'"),
        (["seed=1.5"], "key 'seed': expected int"),
        (["name.sub=1"], "'name' is a value, not a section"),
        (["noequals"], "expected section.key=value"),
        (["data..x=1"], "empty key component"),
    ],
    ids=["unknown-section-key", "unknown-nested-key", "str-for-int", "bool-for-int", "bad-literal",
         "scalar-for-list", "ttv-out-of-range", "float-for-int", "through-a-value", "no-equals", "empty-part"],
)
def test_bad_keys_and_types_name_the_key(overrides, message):
    with pytest.raises(TrigdeployError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(apply_overrides(BASE, overrides))


def test_missing_required_key():
    with pytest.raises(TrigdeployError, match="missing required key 'data.files'"):
        parse_config({"name": "t", "data": {"format": "hdf5"}})


def test_overrides_are_typed_yaml_values():
    cfg = parse_config(apply_overrides(BASE, ["data.generate.toptag.jets=1000", "data.files=[x.h5, y.h5]",
                                              "data.generate.toptag.signal_fraction=0.25"]))
    assert cfg.data.generate.toptag.jets == 1000
    assert cfg.data.files == ("x.h5", "y.h5")
    assert cfg.data.generate.toptag.signal_fraction == 0.25
    assert BASE["data"]["generate"]["toptag"] == {"jets": 10}  # the input is not mutated


def test_int_accepted_for_float():
    cfg = parse_config(apply_overrides(BASE, ["data.generate.toptag.signal_fraction=1"]))
    assert cfg.data.generate.toptag.signal_fraction == 1.0
    assert isinstance(cfg.data.generate.toptag.signal_fraction, float)


def test_data_override_replaces_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cfg = load_config(path, data_files=["real/train.h5"])
    assert cfg.data.files == ("real/train.h5",)
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "config file not found"), ("", "config file is empty"), ("a: [1, 2", "invalid YAML"),
     ("- 1\n- 2\n", "expected a YAML mapping")],
    ids=["missing", "empty", "bad-yaml", "not-a-mapping"],
)
def test_bad_config_files(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TrigdeployError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_config_directory_is_an_error(tmp_path):
    with pytest.raises(TrigdeployError, match="not a file"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    "generate",
    [{}, {"toptag": {}, "atlas_mini": {}}],
    ids=["none", "two"],
)
def test_exactly_one_generator(generate):
    cfg = parse_config({"name": "t", "data": {"format": "hdf5", "files": ["a"], "generate": generate}})
    with pytest.raises(TrigdeployError, match="exactly one of toptag, pythia, atlas_mini"):
        cfg.data.generate.chosen()
