"""Run config: parsing into frozen dataclasses, key and type errors, --set overrides."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from trigdeploy.config import RunConfig, dump_config, load_config, parse_config
from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import ToptagGenConfig
from trigdeploy.schema import apply_overrides

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
TARGETS_DIR = Path(__file__).resolve().parents[1] / "export" / "targets"

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
    ids=[
        "unknown-section-key",
        "unknown-nested-key",
        "str-for-int",
        "bool-for-int",
        "bad-literal",
        "scalar-for-list",
        "ttv-out-of-range",
        "float-for-int",
        "through-a-value",
        "no-equals",
        "empty-part",
    ],
)
def test_bad_keys_and_types_name_the_key(overrides, message):
    with pytest.raises(TrigdeployError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(apply_overrides(BASE, overrides))


def test_missing_required_key():
    with pytest.raises(TrigdeployError, match="missing required key 'data.files'"):
        parse_config({"name": "t", "data": {"format": "hdf5"}})


def test_overrides_are_typed_yaml_values():
    cfg = parse_config(
        apply_overrides(
            BASE,
            ["data.generate.toptag.jets=1000", "data.files=[x.h5, y.h5]", "data.generate.toptag.signal_fraction=0.25"],
        )
    )
    assert cfg.data.generate.toptag.jets == 1000
    assert cfg.data.files == ("x.h5", "y.h5")
    assert cfg.data.generate.toptag.signal_fraction == 0.25
    assert BASE["data"]["generate"]["toptag"] == {"jets": 10}  # the input is not mutated


def test_int_accepted_for_float():
    cfg = parse_config(apply_overrides(BASE, ["data.generate.toptag.signal_fraction=1"]))
    assert cfg.data.generate.toptag.signal_fraction == 1.0
    assert isinstance(cfg.data.generate.toptag.signal_fraction, float)


@pytest.mark.parametrize(
    ("text", "value"),
    [("5e-7", 5e-7), ("1E-1", 0.1), ("+.5e-1", 0.05), ("25e-2", 0.25)],
    ids=["5e-7", "1E-1", "+.5e-1", "25e-2"],
)
def test_exponent_floats_yaml_1_1_reads_as_strings_are_floats(text, value):
    assert isinstance(yaml.safe_load(text), str)  # PyYAML's YAML 1.1: what a user typing 5e-7 gets
    cfg = parse_config(apply_overrides(BASE, [f"data.generate.toptag.signal_fraction={text}"]))
    assert cfg.data.generate.toptag.signal_fraction == value


@pytest.mark.parametrize("text", ["5e", "e-7", "1e-7x", "0x1p-3", "1e999"], ids=["5e", "e-7", "trailing", "hex", "inf"])
def test_other_strings_are_still_refused_for_a_float(text):
    with pytest.raises(TrigdeployError, match="key 'data.generate.toptag.signal_fraction': expected"):
        parse_config(apply_overrides(BASE, [f"data.generate.toptag.signal_fraction={text}"]))


def test_data_override_replaces_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cfg = load_config(path, data_files=["real/train.h5"])
    assert cfg.data.files == ("real/train.h5",)
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "config file not found"),
        ("", "config file is empty"),
        ("a: [1, 2", "invalid YAML"),
        ("- 1\n- 2\n", "expected a YAML mapping"),
    ],
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


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["train.mlp={batch_size: -5}"], "train.mlp.batch_size"),
        (["train.mlp={batch_size: 0}"], "train.mlp.batch_size"),
        (["train.mlp={epochs: 0}"], "train.mlp.epochs"),
        (["train.mlp={lr: -0.01}"], "train.mlp.lr"),
        (["train.mlp={hidden: [0]}"], r"train.mlp.hidden\[0\]"),
        (["train.mlp={dropout: 1.0}"], "train.mlp.dropout"),
        (["train.qmlp={weight_bits: 0, init: scratch}"], "train.qmlp.weight_bits"),
        (["train.qmlp={act_bits: 40, init: scratch}"], "train.qmlp.act_bits"),
        (["train.bdt={n_estimators: 0}"], "train.bdt.n_estimators"),
        (["train.bdt={learning_rate: 0}"], "train.bdt.learning_rate"),
        (["train.rf={max_depth: 0}"], "train.rf.max_depth"),
        (["train.signal_efficiencies=[0.3, 1.5]"], r"train.signal_efficiencies\[1\]"),
        (["train.threads=-3"], "train.threads"),
        (["split.val_fraction=0"], "split.val_fraction"),
        (["split.val_fraction=0.5", "split.test_fraction=0.5"], "split.test_fraction"),
        (["leak_guard.auc_threshold=0.3"], "leak_guard.auc_threshold"),
        (["scaling.sample_rows=0"], "scaling.sample_rows"),
        (["data.chunk_rows=0"], "data.chunk_rows"),
        (["data.generate.toptag.jets=-1"], "data.generate.toptag.jets"),
        (["data.generate.toptag.signal_fraction=1.5"], "data.generate.toptag.signal_fraction"),
        (["seed=-1"], "seed"),
        (["name=../../../somewhere"], "name"),
        (["name=''"], "name"),
        (["name=a/b"], "name"),
        (["name=.."], "name"),
        (["name=" + "a" * 101], "name"),
        (["train.bdt={n_estimators: 100000000000000000000}"], "train.bdt.n_estimators"),
        (["train.mlp={epochs: 10000000}"], "train.mlp.epochs"),
        (["seed=4294967296"], "seed"),
        (["train.threads=100000"], "train.threads"),
        (["data.workers=0"], "data.workers"),
        (["data.dask={workers: 0}"], "data.dask.workers"),
    ],
    ids=[
        "batch-negative",
        "batch-zero",
        "epochs-zero",
        "lr-negative",
        "hidden-zero",
        "dropout-one",
        "weight-bits-zero",
        "act-bits-huge",
        "trees-zero",
        "eta-zero",
        "rf-depth-zero",
        "efficiency-above-one",
        "threads-negative",
        "val-zero",
        "fractions-sum-one",
        "guard-threshold",
        "sample-zero",
        "chunk-zero",
        "jets-negative",
        "signal-fraction",
        "seed-negative",
        "name-traversal",
        "name-empty",
        "name-separator",
        "name-dotdot",
        "name-too-long",
        "trees-huge",
        "epochs-huge",
        "seed-beyond-32-bits",
        "threads-huge",
        "data-workers-zero",
        "data-dask-workers-zero",
    ],
)
def test_out_of_range_values_are_refused_at_load_naming_the_key(overrides, key):
    with pytest.raises(TrigdeployError, match=rf"key '{key}': ") as info:
        parse_config(apply_overrides(BASE, overrides), "run.yaml")
    assert str(info.value).startswith("run.yaml: ") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.qmlp={hidden: [8]}", "train.mlp={hidden: [16]}"], "train.qmlp.init.*same hidden layers"),
        (["train.qmlp={batchnorm: true, init: scratch}"], "train.qmlp.batchnorm"),
        (["train.qmlp={activation: gelu, init: scratch}"], "train.qmlp.activation"),
        (["train.bdt={smote: true, dask: {workers: 2}}"], "train.bdt.smote"),
        (["data.workers=2", "data.dask={workers: 2}"], "data.workers.*data.dask.workers"),
        (["label.classes={a: 0, b: 1}"], "label.classes.*set label.column too"),
        (["label.column=k", "label.classes={a: 0}"], "label.classes.*at least 2 classes"),
        (["label.column=k", "label.classes={a: 0, b: 0}"], "label.classes.*share a value"),
        (["label.column=k", "label.classes={a: 0, b: true}"], "key 'label.classes.b': expected int, got bool"),
        (["label.onehot=[a]"], "label.onehot.*at least 2 columns"),
        (["label.onehot=[a, b, a]"], "label.onehot.*listed twice"),
        (["label.cuts={a: x > 1}"], "label.cuts.*at least 2 classes"),
        (["label.cuts={a: x > 1, b: x.real < 1}"], "label.cuts.b.*not allowed"),
        (["split.mode=files"], "split.mode.*val_files"),
        (["data.derived={a: b + 1, b: a * 2}"], "data.derived.a: refers to itself .a → b → a."),
        (["data.derived={a: a / 1000}"], "data.derived.a: refers to itself"),
        (["data.selection=sqrt()"], "sqrt.. takes 1 argument, got 0"),
    ],
    ids=[
        "qat-init-shape",
        "qat-batchnorm",
        "qat-gelu",
        "smote-dask",
        "workers-and-dask",
        "classes-without-column",
        "one-class",
        "classes-same-value",
        "class-value-bool",
        "onehot-one-column",
        "onehot-twice",
        "cuts-one-class",
        "cuts-bad-expression",
        "files-without-files",
        "derived-cycle",
        "derived-self",
        "selection-arity",
    ],
)
def test_cross_field_rules_at_load(overrides, message):
    with pytest.raises(TrigdeployError, match=message):
        parse_config(apply_overrides(BASE, overrides), "run.yaml")


def test_in_range_values_still_load():
    """The range check accepts the boundary values it documents (a check that refuses everything would fail)."""
    cfg = parse_config(
        apply_overrides(
            BASE,
            [
                "train.mlp={batch_size: 1, epochs: 1, hidden: [1], dropout: 0}",
                "train.qmlp={weight_bits: 2, act_bits: 16, init: scratch}",
                "split.val_fraction=0.01",
                "data.generate.toptag.signal_fraction=0",
                "name=run-1.a_b",
                "data.derived={b: a + 1, c: b * 2}",
            ],
        )
    )
    assert cfg.train.mlp.batch_size == 1 and cfg.train.qmlp.weight_bits == 2 and cfg.name == "run-1.a_b"


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("hls4ml: {ReuseFactor: 0}", "hls4ml.ReuseFactor"),
        ("hls4ml: {ClockPeriod: -5}", "hls4ml.ClockPeriod"),
        ("testbench_events: -1", "testbench_events"),
        ("ptq_width: 0", "ptq_width"),
        ("conifer: {Precision: 'ap_fixed<4,8>'}", "conifer.Precision"),
        ("conifer: {WeightPrecision: float}", "conifer.WeightPrecision"),
        ("bdt_max_auc_loss: -1", "bdt_max_auc_loss"),
        ("bdt_rtl: {leaf_frac: 25}", "bdt_rtl.leaf_frac"),
        ("bdt_rtl: {max_val_auc_loss: 1}", "bdt_rtl.max_val_auc_loss"),
        ("sets_rtl: {fold: 0}", "sets_rtl.fold"),
    ],
    ids=[
        "reuse-zero",
        "clock-negative",
        "testbench-negative",
        "ptq-width-zero",
        "precision-int-beyond-width",
        "weight-precision-float",
        "auc-loss-negative",
        "leaf-frac-beyond-24",
        "leaf-auc-loss-one",
        "fold-zero",
    ],
)
def test_export_target_values_checked_at_load(tmp_path, content, key):
    from trigdeploy.targets import load_target

    path = tmp_path / "t.yaml"
    path.write_text(content + "\n")
    with pytest.raises(TrigdeployError, match=rf"{path}: key '{key}'"):
        load_target(path)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["train.mlp={lr: .inf}"], "train.mlp.lr"),
        (["train.mlp={weight_decay: .inf}"], "train.mlp.weight_decay"),
        (["train.mlp={pos_weight: .inf}"], "train.mlp.pos_weight"),
        (["train.mlp={lr: .nan}"], "train.mlp.lr"),
        (["train.mlp={hidden: [100000000]}"], "train.mlp.hidden\\[0\\]"),
        (["data.collections={j: {branches: [a], n: 2, pad: -.inf}}"], "data.collections.j.pad"),
        (["seed=100000000000000000000000"], "seed"),
        (["train.bdt={input_frac: 17}"], "train.bdt.input_frac"),
    ],
    ids=[
        "lr-inf",
        "decay-inf",
        "pos-weight-inf",
        "lr-nan",
        "width-huge",
        "pad-inf",
        "int-beyond-64-bits",
        "bdt-input-grid-beyond-16-bits",
    ],
)
def test_numbers_are_finite_and_bounded(overrides, key):
    with pytest.raises(TrigdeployError, match=rf"key '{key}'") as info:
        parse_config(apply_overrides(BASE, overrides), "run.yaml")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("hls4ml: {ClockPeriod: .inf}", "hls4ml.ClockPeriod"),
        ("hls4ml: {ReuseFactor: 100000000000000000000}", "hls4ml.ReuseFactor"),
        ("conifer: {ClockPeriod: .inf}", "conifer.ClockPeriod"),
    ],
    ids=["clock-inf", "reuse-1e20", "conifer-clock-inf"],
)
def test_export_target_numbers_are_finite_and_bounded(tmp_path, content, key):
    from trigdeploy.targets import load_target

    path = tmp_path / "t.yaml"
    path.write_text(content + "\n")
    with pytest.raises(TrigdeployError, match=rf"{path}: key '{key}'"):
        load_target(path)


def test_a_target_key_set_on_the_command_line_changes_that_key_only():
    """``--set sets_rtl.fold=16`` on the default target (jets5-100k's 32-particle Deep Sets) is the default with
    that key: the device, budget and every other key stay the default's, so that its designs are compared with the
    others on the same terms; its source names the file and the override: what the manifest records."""
    from trigdeploy.targets import load_target

    default = TARGETS_DIR / "default.yaml"
    target, base = load_target(default, ["sets_rtl.fold=16"]), load_target(default)
    assert target == dataclasses.replace(base, sets_rtl=dataclasses.replace(base.sets_rtl, fold=16))
    assert base.sets_rtl.fold == 1 and target.source == f"{default} --set sets_rtl.fold=16"
    assert load_target(default, []) == load_target(default) and load_target(default).source == str(default)


@pytest.mark.parametrize(
    "override, key",
    [("sets_rtl.no_such_key=1", "sets_rtl.no_such_key"), ("sets_rtl.fold=0", "sets_rtl.fold")],
    ids=["unknown-key", "out-of-range"],
)
def test_a_target_override_is_checked_like_the_file(override, key):
    from trigdeploy.targets import load_target

    default = TARGETS_DIR / "default.yaml"
    with pytest.raises(TrigdeployError, match=rf"--set {re.escape(override)}: (unknown )?key '{key}'"):
        load_target(default, [override])


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    + "name: *i\n"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: t\nname: u\n", "line 2: key 'name' repeated \\(first at line 1\\)"),
        (b"name: t\ntrain:\n  mlp: {epochs: 3}\n  mlp: {epochs: 4}\n", "key 'mlp' repeated"),
        (BOMB.encode(), "expands to more than 100000 values through aliases"),
        (b"name: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested deeper than 64 levels"),
        (b"name: \xff\xfe\n", "not UTF-8 text \\(byte 6\\)"),
        (b"name: t\n# " + b"x" * (1 << 20) + b"\n", "expected at most 1048576"),
    ],
    ids=["duplicate-top-key", "duplicate-nested-key", "alias-bomb", "deep-nesting", "not-utf8", "too-large"],
)
def test_hostile_yaml_is_one_line(tmp_path, content, message):
    path = tmp_path / "run.yaml"
    path.write_bytes(content)
    with pytest.raises(TrigdeployError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value) and len(str(info.value)) < 300


def test_anchors_within_the_limits_still_load(tmp_path):
    """Aliases are allowed (the limit counts what they expand to): a refusal of every alias would fail here."""
    path = tmp_path / "run.yaml"
    path.write_text(
        "name: t\ndata: &d {format: hdf5, files: [a.h5]}\nsplit: {val_files: &v [b.h5], test_files: *v, mode: files}\n"
    )
    cfg = load_config(path)
    assert cfg.split.val_files == cfg.split.test_files == ("b.h5",)


def test_set_with_invalid_yaml_is_one_line():
    with pytest.raises(TrigdeployError, match="--set 'train.mlp.hidden=\\[1, 2': value is not valid YAML") as info:
        apply_overrides(BASE, ["train.mlp.hidden=[1, 2"])
    assert "\n" not in str(info.value)
