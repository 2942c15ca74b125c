"""The high-level jet features of hls4ml's jet dataset (``data.generate.hlf``) against their
definitions written out by brute force, and the C/A tree against FastJet's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from trigdeploy.data.generate import hlf


def _jet(rng, n, spread=0.3, phi0=3.0):
    """Massless constituents (E, px, py, pz) around (η, φ) = (0, ``phi0``), near the ±π seam by default."""
    pt = rng.exponential(40.0, n) + 1.0
    eta, phi = rng.normal(0.0, spread, n), phi0 + rng.normal(0.0, spread, n)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=1)


def _brute_force_ratios(p):
    """``hlf.ECF_NAMES`` from the sums over pairs and triplets written out (float64)."""
    e, px, py, pz = p.T
    pt, y, phi = np.hypot(px, py), 0.5 * np.log((e + pz) / (e - pz)), np.arctan2(py, px)
    z = pt / pt.sum()

    def r(i, j):
        d = abs(phi[i] - phi[j])
        return np.hypot(y[i] - y[j], min(d, 2 * np.pi - d))

    pairs, triples = list(itertools.combinations(range(len(p)), 2)), list(itertools.combinations(range(len(p)), 3))
    e2 = {b: sum(z[i] * z[j] * r(i, j) ** b for i, j in pairs) for b in (0, 1, 2)}
    e3, g1, g2 = {}, {}, {}
    for b in (1, 2):
        e3[b] = sum(z[i] * z[j] * z[k] * (r(i, j) * r(i, k) * r(j, k)) ** b for i, j, k in triples)
        g1[b] = sum(z[i] * z[j] * z[k] * min(r(i, j), r(i, k), r(j, k)) ** b for i, j, k in triples)
        g2[b] = sum(z[i] * z[j] * z[k] * np.prod(sorted([r(i, j), r(i, k), r(j, k)])[:2]) ** b for i, j, k in triples)
    return np.array(
        [
            e2[0],
            e2[1],
            e2[2],
            e3[1] / e2[1] ** 2,
            e3[2] / e2[2] ** 2,
            e3[1] / e2[1] ** 3,
            e3[2] / e2[2] ** 3,
            e3[1] / e2[1] ** 3,
            e3[1] / e2[2] ** 1.5,
            g1[1] / e2[1],
            g1[2] / e2[2],
            g2[1] / e2[1] ** 2,
            g2[2] / e2[2] ** 2,
        ]
    ), z


@pytest.mark.parametrize("n", [3, 7, 18], ids=["three", "seven", "eighteen"])
def test_energy_correlation_ratios_equal_their_definitions(n):
    p = _jet(np.random.default_rng(n), n)
    expected, _ = _brute_force_ratios(p)
    # same sums in another order: float64 rounding, ≲ 1e-13 relative
    np.testing.assert_allclose(hlf.ecf_ratios(p), expected, rtol=1e-12, atol=0)
    wrong = p.copy()
    wrong[0, 1:] *= 1.001  # a 0.1 % change of one constituent is seen
    assert not np.allclose(hlf.ecf_ratios(wrong), expected, rtol=1e-6, atol=0)


def test_zlogz_multiplicity_and_degenerate_jets():
    p = _jet(np.random.default_rng(1), 9)
    zlogz, full, _, masses, _ = hlf.jet_hlf(p)
    _, z = _brute_force_ratios(p)
    assert zlogz == pytest.approx(float((z * np.log(z)).sum()), rel=1e-13)
    assert np.array_equal(full, hlf.ecf_ratios(p))
    one = p[:1]
    zlogz1, full1, groomed1, masses1, kept1 = hlf.jet_hlf(one)
    assert zlogz1 == 0.0 and (full1 == 0).all() and (groomed1 == 0).all()  # no pair: ratios defined as 0
    assert kept1.tolist() == [0]
    assert masses1 == pytest.approx([0.0, 0.0, 0.0], abs=1e-4)  # one massless particle


@pytest.mark.parametrize("k", [2, 3, 5], ids=["two", "three", "five"])
def test_ca_tree_matches_fastjet_exclusive_subjets(k):
    fastjet = pytest.importorskip("fastjet", reason="the [gen] extra is not installed")
    p = _jet(np.random.default_rng(10 + k), 40)
    mom, left, right, _, _, root = hlf.ca_tree(p)
    # undo the last k − 1 merges: the nodes left are FastJet's k exclusive C/A subjets
    alive = {root}
    for node in range(len(mom) - 1, len(mom) - k, -1):
        alive.remove(node)
        alive |= {int(left[node]), int(right[node])}
    ours = np.array(sorted(mom[sorted(alive)].tolist()))
    parts = [fastjet.PseudoJet(*row[1:], row[0]) for row in p]
    cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0))
    theirs = np.array(sorted([(j.e(), j.px(), j.py(), j.pz()) for j in cs.exclusive_jets(k)]))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-9)


def test_soft_drop_removes_a_soft_wide_branch_and_keeps_two_prongs():
    rng = np.random.default_rng(3)
    prong_a = _jet(rng, 6, spread=0.02, phi0=0.0) * 10  # two hard, narrow prongs 0.4 apart
    prong_b = _jet(rng, 6, spread=0.02, phi0=0.4) * 8
    soft = _jet(rng, 3, spread=0.02, phi0=-0.7) * 0.05  # a soft branch far from both
    p = np.concatenate([prong_a, prong_b, soft])
    mom, left, right, dr, pt, root = hlf.ca_tree(p)
    kept = hlf.leaves(left, right, hlf.soft_drop(left, right, dr, pt, root, 0.0))
    assert set(kept.tolist()) == set(range(12))  # the soft branch is dropped, both prongs stay
    _, _, groomed, masses, kept_by_jet_hlf = hlf.jet_hlf(p)
    np.testing.assert_array_equal(kept_by_jet_hlf, kept)
    assert masses[0] == pytest.approx(hlf.mass(p[:12].sum(0)), rel=1e-12)
    np.testing.assert_allclose(groomed, hlf.ecf_ratios(p[:12]), rtol=1e-12)
    assert masses[0] < hlf.mass(p.sum(0))
