"""Pythia8 + FastJet generator: same layout, real jets in the window, top truth matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trigdeploy.data import kinematics as kin
from trigdeploy.data import layouts
from trigdeploy.data.generate import write_pythia
from trigdeploy.generators import PythiaGenConfig

pytest.importorskip("pythia8mc", reason="the [gen] extra is not installed")
pytest.importorskip("fastjet", reason="the [gen] extra is not installed")


def test_pythia_jets_in_reference_layout(tmp_path):
    out = tmp_path / "p.h5"
    summary = write_pythia(PythiaGenConfig(jets=12, seed=3, chunk_size=6, workers=2), out, progress=False)
    assert summary["rows"] == 12
    df = pd.read_hdf(out, "table")
    assert list(df.columns) == layouts.toptag_columns()
    assert (df.dtypes.iloc[:804] == np.float32).all()
    y = df["is_signal_new"].to_numpy()
    assert y.sum() == 6
    c = df[layouts.toptag_constituent_columns()].to_numpy(np.float64).reshape(12, 200, 4)
    jet = c.sum(1)
    # the constituents sum to an anti-kT jet inside the window (< 200 constituents here)
    assert np.all((kin.pt(jet) > 550) & (kin.pt(jet) < 650) & (np.abs(kin.eta(jet)) < 2))
    truth = df[list(layouts.TOPTAG_TRUTH)].to_numpy(np.float64)
    assert np.all(truth[y == 0] == 0)
    np.testing.assert_allclose(kin.mass(truth[y == 1]), 172.5, atol=15)  # on-shell tops
    assert np.all(np.abs(kin.mass(jet[y == 1]) - 172.5) < 100)


def test_pythia_reproducible_whatever_the_workers(tmp_path):
    for name, workers in (("a", 1), ("b", 2)):
        write_pythia(
            PythiaGenConfig(jets=4, seed=9, chunk_size=2, workers=workers), tmp_path / f"{name}.h5", progress=False
        )
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "a.h5", "table"), pd.read_hdf(tmp_path / "b.h5", "table"))


def _hls4ml_file(path, jets=25, seed=5, workers=2):
    import tables

    write_pythia(
        PythiaGenConfig(layout="hls4ml_jets", jets=jets, seed=seed, chunk_size=10, workers=workers, n_constituents=12),
        path,
        progress=False,
    )
    with tables.open_file(str(path)) as f:
        names = [n.decode() for n in f.root.jetFeatureNames[:]]
        return names, f.root.jets[:], f.root.jetConstituentList[:], [n.decode() for n in f.root.particleFeatureNames[:]]


@pytest.mark.slow  # Pythia8 for five classes, 15 s; CI runs make test-slow (and make jets5)
def test_five_classes_in_the_hls4ml_jet_layout(tmp_path):
    names, jets, consts, particle_names = _hls4ml_file(tmp_path / "j.h5", jets=55)
    assert names == list(layouts.HLS4ML_JET_NAMES) and particle_names == list(layouts.HLS4ML_PARTICLE_NAMES)
    assert jets.shape == (55, 59) and jets.dtype == np.float32 and consts.shape == (55, 12, 16)
    col = {n: jets[:, i] for i, n in enumerate(names)}
    onehot = jets[:, 53:58]
    assert (onehot.sum(1) == 1).all() and (col["j_undef"] == 0).all()
    assert list(onehot.sum(0)) == [11] * 5  # equal classes (chunks of 10: 2 per class; the last chunk 1)
    assert ((col["j_pt"] > 900) & (col["j_pt"] < 1100) & (np.abs(col["j_eta"]) < 2)).all()
    # every listed feature is computed except the two the dataset does not define precisely
    missing = {n for n in names if np.isnan(col[n]).any()}
    assert missing == {"j_ptfrac", "j_mass_prun"}
    # grooming only removes: groomed mass ≤ jet mass; W, Z and top keep their mass peak (median of 11 jets)
    assert (col["j_mass_mmdt"] <= col["j_mass"] + 1e-3).all()
    k = onehot.argmax(1)
    peak = {2: 80.4, 3: 91.2, 4: 172.5}
    for c, m in peak.items():
        assert np.median(col["j_mass_mmdt"][k == c]) == pytest.approx(m, rel=0.25), layouts.HLS4ML_JET_CLASSES[c]
    # constituents: pT-ordered, padded with zeros; pT is √(px² + py²); ptrel sums to ≤ 1
    pt = consts[:, :, 5]
    assert (np.diff(pt, axis=1) <= 1e-3).all()
    np.testing.assert_allclose(pt, np.hypot(consts[:, :, 0], consts[:, :, 1]), rtol=1e-5)
    assert (consts[:, :, 6].sum(1) <= 1 + 1e-5).all()


@pytest.mark.slow  # Pythia8 in 1 and 2 worker processes, 13 s; CI runs make test-slow
def test_hls4ml_jets_reproducible_whatever_the_workers(tmp_path):
    a = _hls4ml_file(tmp_path / "a.h5", jets=10, workers=1)
    b = _hls4ml_file(tmp_path / "b.h5", jets=10, workers=2)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


@pytest.mark.slow  # Pythia8 then the data stage, 17 s; CI runs make test-slow
def test_the_generated_file_runs_through_the_data_stage(tmp_path):
    from conftest import run_config
    from trigdeploy.data.prepare import prepare

    _hls4ml_file(tmp_path / "j.h5", jets=200, seed=8)
    cfg = run_config(
        [tmp_path / "j.h5"],
        name="j5",
        data={"hdf5_key": "jets"},
        split={"val_fraction": 0.25, "test_fraction": 0.25},
        label={"onehot": list(layouts.HLS4ML_JET_CLASSES)},
        features={"columns": list(layouts.HLS4ML_JET_HLF)},
    )
    result = prepare(cfg, tmp_path / "run", progress=False)
    assert result.classes == layouts.HLS4ML_JET_CLASSES and len(result.features) == 16


def test_a_window_no_jet_reaches_is_one_line_and_no_file(tmp_path, monkeypatch):
    """The generator gives up after its cap of events per jet (2,000; 200 here: the outcome is the same,
    each Pythia event costs ~7 ms) with one line and no file."""
    from trigdeploy.data.generate import pythia
    from trigdeploy.errors import TrigdeployError

    monkeypatch.setattr(pythia, "MAX_TRIES_PER_JET", 200)
    params = PythiaGenConfig(layout="hls4ml_jets", jets=1, chunk_size=1, workers=1, pt_min=6000.0, pt_max=7000.0)
    with pytest.raises(TrigdeployError, match="only 0 of 1 j_g jets accepted in 200 events: no leading jet") as e:
        write_pythia(params, tmp_path / "j.h5", progress=False)
    assert "\n" not in str(e.value) and list(tmp_path.iterdir()) == []


def _fastjet_accepts(pythia, fastjet, py, kind: str, window: tuple[float, float]) -> bool:
    """The generator's own acceptance of the current event (FastJet on every visible final-state particle)."""
    parts = [
        fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e()) for p in py.event.particles() if p.isFinal() and p.isVisible()
    ]
    seq = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.antikt_algorithm, pythia.R_JET))
    jets = fastjet.sorted_by_pt(seq.inclusive_jets(window[0] * 0.5))
    if not jets or not (window[0] < jets[0].pt() < window[1] and abs(jets[0].eta()) < pythia.ETA_MAX):
        return False
    return pythia._matched(kind, py, jets[0]) is not None


@pytest.mark.parametrize(
    ("kind", "window", "n_events"),
    [("j_g", (900.0, 1100.0), 150), ("j_w", (900.0, 1100.0), 100), ("top", (550.0, 650.0), 100)],
    ids=["gluon", "W", "toptag-top"],
)
def test_the_preselection_never_rejects_an_event_fastjet_accepts(kind, window, n_events):
    """Event by event, against the generator's FastJet acceptance: nothing accepted is pre-rejected (the file
    is the same with it), and it does reject (a third or more of these events), so it earns its cost. A
    pre-selection on a window narrower than the generator's rejects accepted events: the check can fail."""
    from trigdeploy.data.generate import pythia

    _, fastjet = pythia._modules()
    py = pythia._pythia(pythia.HLS4ML_CLASS_PROCESS.get(kind, kind), 17, 850.0 if window[0] > 800 else 500.0)
    pre, narrow = pythia.Preselection(kind, *window), pythia.Preselection(kind, window[0] + 60.0, window[1] - 60.0)
    accepted, rejected, narrow_lost = 0, 0, 0
    for _ in range(n_events):
        assert py.next()
        accepts = _fastjet_accepts(pythia, fastjet, py, kind, window)
        passes = pre.may_pass(py)
        assert passes or not accepts
        accepted += accepts
        rejected += not passes
        narrow_lost += accepts and not narrow.may_pass(py)
    assert accepted > 0 and rejected >= n_events // 3 and narrow_lost > 0
