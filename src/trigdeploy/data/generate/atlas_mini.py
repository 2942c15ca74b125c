"""ATLAS Open Data 8 TeV ``mini`` tree generator (uproot-written; energies in MeV).

A process mixture with real physics labels: Z → ℓℓ (``channelNumber`` 147770 ee / 147771 μμ),
W → ℓν (167740 eν / 167741 μν) and semi/di-leptonic tt̄ (117050). Bosons get Breit–Wigner
masses, exponential recoil pT and Gaussian rapidity; tops decay t → bW exactly; leptons and jets
are smeared, required inside the detector (ℓ: pT > 7 GeV, |η| < 2.5; jets: pT > 20 GeV,
|η| < 4.5) and pT-ordered. Every event has at least one lepton (the ``mini`` skim). Lepton
arrays are counted by ``lep_n``, jet arrays by ``alljet_n``; ``jet_n`` counts the jets with
pT > 25 GeV and |η| < 2.5 as in the public files.
"""

from __future__ import annotations

import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from tqdm import tqdm

from trigdeploy.data import kinematics as kin
from trigdeploy.data import layouts
from trigdeploy.generators import AtlasMiniGenConfig
from trigdeploy.io import atomic_path

GEV = 1000.0
N_LEP, N_JET = 4, 12
PROCESSES = {  # name: (fraction, channel numbers for e / mu)
    "Z": (0.40, (147770, 147771)),
    "W": (0.45, (167740, 167741)),
    "ttbar": (0.15, (117050, 117050)),
}
RUN_NUMBER = 195847  # the 8 TeV MC run number used by the public mini files


def _boson(rng, n, mass, width, lo, hi, pt_mean, y_sigma):
    m = np.clip(mass + width / 2 * rng.standard_cauchy(n), lo, hi)
    pt = rng.exponential(pt_mean, n)
    y = np.clip(rng.normal(0.0, y_sigma, n), -4.0, 4.0)
    mt = np.hypot(m, pt)
    phi = rng.uniform(-np.pi, np.pi, n)
    return np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)], -1)


def _slots(n, k):
    return np.zeros((n, k, 4)), np.zeros((n, k), bool), np.zeros((n, k), np.int32)


def _process(rng, name, n):
    """Truth leptons (n, N_LEP, 4) + flavours, neutrinos (n, 4), partons (n, N_JET, 4) + b flag."""
    leps, lep_ok, lep_type = _slots(n, N_LEP)
    jets, jet_ok, jet_flav = _slots(n, N_JET)
    nu = np.zeros((n, 4))
    flavour = np.where(rng.uniform(size=n) < 0.5, 11, 13)
    if name == "Z":
        z = _boson(rng, n, 91.19, 2.5, 60.0, 140.0, 12.0, 1.9)
        l1, l2 = kin.two_body_decay(rng, z, 0.0, 0.0)
        leps[:, 0], leps[:, 1] = l1, l2
        lep_ok[:, :2] = True
        lep_type[:, :2] = flavour[:, None]
    elif name == "W":
        w = _boson(rng, n, 80.4, 2.1, 40.0, 200.0, 10.0, 2.1)
        lep, nu = kin.two_body_decay(rng, w, 0.0, 0.0)
        leps[:, 0], lep_ok[:, 0], lep_type[:, 0] = lep, True, flavour
    else:
        tt = _boson(rng, n, 450.0, 150.0, 350.0, 1200.0, 60.0, 1.0)
        t1, t2 = kin.two_body_decay(rng, tt, 172.5, 172.5)
        dilepton = rng.uniform(size=n) < 0.2
        for i, top in enumerate((t1, t2)):
            b, w = kin.two_body_decay(rng, top, 4.8, 80.4)
            jets[:, i], jet_ok[:, i], jet_flav[:, i] = b, True, 5
            a, c = kin.two_body_decay(rng, w, 0.0, 0.0)
            leptonic = np.ones(n, bool) if i == 0 else dilepton
            leps[:, i] = np.where(leptonic[:, None], a, 0.0)
            lep_ok[:, i] = leptonic
            lep_type[:, i] = np.where(rng.uniform(size=n) < 0.5, 11, 13)
            nu += np.where(leptonic[:, None], c, 0.0)
            jets[:, 2 + 2 * i] = np.where(leptonic[:, None], 0.0, a)
            jets[:, 3 + 2 * i] = np.where(leptonic[:, None], 0.0, c)
            jet_ok[:, 2 + 2 * i] = jet_ok[:, 3 + 2 * i] = ~leptonic
    # initial-state radiation jets
    # W/Z + jets: a falling jet multiplicity that reaches the tt̄ region (the irreducible background)
    n_isr = np.clip(rng.poisson(1.2, n) if name == "ttbar" else rng.geometric(0.45, n) - 1, 0, 4)
    slot = 8 + np.arange(4)
    isr_ok = slot[None, :] - 8 < n_isr[:, None]
    isr = kin.from_pt_eta_phi_m(
        20.0 + rng.exponential(22.0, (n, 4)),
        rng.uniform(-4.5, 4.5, (n, 4)),
        rng.uniform(-np.pi, np.pi, (n, 4)),
        rng.uniform(2.0, 12.0, (n, 4)),
    )
    jets[:, 8:12] = np.where(isr_ok[..., None], isr, 0.0)
    jet_ok[:, 8:12] = isr_ok
    # heavy flavour in the extra jets (W/Z + b/c, g → bb̄) with the MV1 response of b and c jets
    jet_flav[:, 8:12] = np.where(isr_ok, rng.choice([0, 4, 5], size=(n, 4), p=[0.86, 0.09, 0.05]), 0)
    return leps, lep_ok, lep_type, nu, jets, jet_ok, jet_flav


def _pack(values: np.ndarray, keep: np.ndarray, order: np.ndarray, dtype) -> ak.Array:
    """Jagged array of the kept slots of each row in ``order``."""
    v = np.take_along_axis(values, order, axis=1)
    k = np.take_along_axis(keep, order, axis=1)
    return ak.unflatten(v[k].astype(dtype), k.sum(1))


def _events(rng: np.random.Generator, n: int, first_event: int) -> dict:
    """``n`` events (≥ 1 lepton each) as the branch arrays of the ``mini`` tree."""
    leps, lep_ok, lep_type, nu, jets, jet_ok, jet_flav, channel = _truth(rng, n)
    # detector response
    l_pt = kin.pt(leps) * rng.normal(1.0, 0.02, lep_ok.shape)
    l_eta, l_phi = kin.eta(leps), kin.phi(leps)
    lep_ok &= (l_pt > 7.0) & (np.abs(l_eta) < 2.5)
    j_pt = kin.pt(jets) * rng.normal(1.0, 0.1, jet_ok.shape)
    j_eta, j_phi, j_m = kin.eta(jets), kin.phi(jets), kin.mass(jets)
    j_m = np.where(jet_flav == 0, np.maximum(j_m, 0.08 * j_pt * rng.lognormal(0, 0.3, j_m.shape)), j_m)
    jet_ok &= (j_pt > 20.0) & (np.abs(j_eta) < 4.5)
    l_order = np.argsort(-np.where(lep_ok, l_pt, -1), axis=1, kind="stable")
    j_order = np.argsort(-np.where(jet_ok, j_pt, -1), axis=1, kind="stable")
    cols: dict = {}
    for k, (v, dt) in _lepton_branches(rng, l_pt, l_eta, l_phi, lep_type).items():
        cols[k] = _pack(v, lep_ok, l_order, dt)
    for k, (v, dt) in _jet_branches(rng, j_pt, j_eta, j_phi, j_m, jet_flav).items():
        cols[k] = _pack(v, jet_ok, j_order, dt)
    vis = (leps * lep_ok[..., None]).sum(1) + (jets * jet_ok[..., None]).sum(1)
    met = nu[:, 1:3] + rng.normal(0, 6.0, (n, 2)) - 0.02 * vis[:, 1:3]
    is_e = lep_type == 11
    trig_e = ((l_pt > 24) & is_e & lep_ok).any(1) & (rng.uniform(size=n) < 0.97)
    trig_m = ((l_pt > 24) & ~is_e & lep_ok).any(1) & (rng.uniform(size=n) < 0.9)
    flat = {
        "runNumber": np.full(n, RUN_NUMBER),
        "eventNumber": first_event + np.arange(n),
        "channelNumber": channel,
        "mcWeight": np.ones(n),
        "pvxp_n": 1 + rng.poisson(12, n),
        "vxp_z": rng.normal(0, 50, n),
        **{k: rng.normal(1.0, 0.02, n) for k in layouts.MINI_EVENT_BRANCHES if k.startswith("scaleFactor_")},
        "trigE": trig_e,
        "trigM": trig_m,
        "passGRL": np.ones(n, bool),
        "hasGoodVertex": np.ones(n, bool),
        "jet_n": ((j_pt > 25) & (np.abs(j_eta) < 2.5) & jet_ok).sum(1),
        "met_et": np.hypot(met[:, 0], met[:, 1]) * GEV,
        "met_phi": np.arctan2(met[:, 1], met[:, 0]),
    }
    for k, dt in layouts.MINI_EVENT_BRANCHES.items():
        cols[k] = flat[k].astype(dt)
    cols["_keep"] = lep_ok.any(1)
    return cols


def _truth(rng: np.random.Generator, n: int) -> tuple:
    """The generated objects of ``n`` events, processes drawn by their fractions: leptons, neutrino, jets
    (four-vectors, slots in use, types and flavours) and each event's MC channel number."""
    names = list(PROCESSES)
    fractions = np.array([PROCESSES[p][0] for p in names])
    proc = rng.choice(len(names), size=n, p=fractions / fractions.sum())
    pieces = []
    for p_index, name in enumerate(names):
        idx = np.flatnonzero(proc == p_index)
        pieces.append((idx, name, _process(rng, name, len(idx))))
    leps, lep_ok, lep_type = np.zeros((n, N_LEP, 4)), np.zeros((n, N_LEP), bool), np.zeros((n, N_LEP), np.int32)
    jets, jet_ok, jet_flav = np.zeros((n, N_JET, 4)), np.zeros((n, N_JET), bool), np.zeros((n, N_JET), np.int32)
    nu, channel = np.zeros((n, 4)), np.zeros(n, np.int32)
    for idx, name, (lep, lo, lt, v, j, jo, jf) in pieces:
        leps[idx], lep_ok[idx], lep_type[idx], nu[idx] = lep, lo, lt, v
        jets[idx], jet_ok[idx], jet_flav[idx] = j, jo, jf
        e_or_mu = (lt[:, 0] == 13).astype(int)
        channel[idx] = np.asarray(PROCESSES[name][1])[e_or_mu]
    return leps, lep_ok, lep_type, nu, jets, jet_ok, jet_flav, channel


def _lepton_branches(rng: np.random.Generator, l_pt, l_eta, l_phi, lep_type) -> dict:
    """Every lepton slot's branches (name → (values, dtype)), drawn in the tree's branch order."""
    shape_l = l_pt.shape
    charge = np.where(rng.uniform(size=shape_l) < 0.5, 1, -1)
    charge[:, 1] = -charge[:, 0]
    is_e = lep_type == 11
    return {
        "lep_truthMatched": (rng.uniform(size=shape_l) < 0.98, np.bool_),
        "lep_trigMatched": ((l_pt > 24) & (rng.uniform(size=shape_l) < 0.93), np.bool_),
        "lep_pt": (l_pt * GEV, np.float32),
        "lep_eta": (l_eta, np.float32),
        "lep_phi": (l_phi, np.float32),
        "lep_E": (l_pt * np.cosh(l_eta) * GEV, np.float32),
        "lep_z0": (rng.normal(0, 0.05, shape_l), np.float32),
        "lep_charge": (charge, np.int32),
        "lep_type": (lep_type, np.int32),
        "lep_flag": (np.where(rng.uniform(size=shape_l) < 0.9, 512, 0), np.int32),
        "lep_ptcone30": (rng.exponential(np.where(is_e, 0.8, 0.5), shape_l) * GEV, np.float32),
        "lep_etcone20": (rng.normal(0.3, 1.0, shape_l) * GEV, np.float32),
        "lep_trackd0pvunbiased": (rng.normal(0, 0.015, shape_l), np.float32),
        "lep_tracksigd0pvunbiased": (np.abs(rng.normal(0, 1.0, shape_l)), np.float32),
    }


def _jet_branches(rng: np.random.Generator, j_pt, j_eta, j_phi, j_m, jet_flav) -> dict:
    """Every jet slot's branches (name → (values, dtype)), drawn in the tree's branch order."""
    shape_j = j_pt.shape
    is_b = jet_flav == 5
    return {
        "jet_pt": (j_pt * GEV, np.float32),
        "jet_eta": (j_eta, np.float32),
        "jet_phi": (j_phi, np.float32),
        "jet_E": (np.sqrt((j_pt * np.cosh(j_eta)) ** 2 + j_m**2) * GEV, np.float32),
        "jet_m": (j_m * GEV, np.float32),
        "jet_jvf": (np.where(np.abs(j_eta) < 2.4, rng.uniform(0.5, 1.0, shape_j), -1.0), np.float32),
        "jet_trueflav": (jet_flav, np.int32),
        "jet_truthMatched": (np.ones(shape_j, np.int32), np.int32),
        "jet_SV0": (np.where(is_b, rng.exponential(3.0, shape_j), 0.0), np.float32),
        # MV1: b jets peak near 1, charm in between, light jets near 0 (≈ 70 % b efficiency at 1 % mistag)
        "jet_MV1": (
            np.where(
                is_b,
                rng.beta(3.0, 1.0, shape_j),
                np.where(jet_flav == 4, rng.beta(1.5, 2.5, shape_j), rng.beta(0.6, 6.0, shape_j)),
            ),
            np.float32,
        ),
    }


def _select(cols: dict, keep: np.ndarray, limit: int) -> dict:
    idx = np.flatnonzero(keep)[:limit]
    return {k: v[idx] for k, v in cols.items() if k != "_keep"}


def _tree_chunk(cols: dict) -> dict:
    """Group lepton and jet arrays so that uproot writes them with the lep_n / alljet_n counters."""
    lep = ak.zip({k[4:]: cols[k] for k in layouts.MINI_LEPTON_BRANCHES})
    jet = ak.zip({k[4:]: cols[k] for k in layouts.MINI_JET_BRANCHES})
    return {**{k: cols[k] for k in layouts.MINI_EVENT_BRANCHES}, "lep": lep, "jet": jet}


def write(params: AtlasMiniGenConfig, out: Path, progress: bool = True) -> dict:
    """Write ``params.events`` events to ``out`` as tree ``mini``, chunk by chunk."""
    start = time.perf_counter()
    written = 0
    with (
        atomic_path(Path(out)) as tmp,
        tqdm(total=params.events, unit="evt", desc=f"atlas-mini → {Path(out).name}", disable=not progress) as bar,
    ):
        with uproot.recreate(tmp) as file:
            tree = None
            index = 0
            while written < params.events:
                n = min(params.chunk_size, params.events - written)
                rng = np.random.default_rng([params.seed, index])
                index += 1
                cols = _events(rng, int(n * 1.25) + 16, written)
                chunk = _select(cols, cols["_keep"], n)
                got = len(chunk["runNumber"])
                chunk["eventNumber"] = (written + np.arange(got)).astype(np.int32)
                data = _tree_chunk(chunk)
                if tree is None:
                    types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
                    tree = file.mktree(layouts.MINI_TREE, types, counter_name=lambda name: layouts.MINI_COUNTERS[name])
                tree.extend(data)
                written += got
                bar.update(got)
    return {"file": str(out), "rows": written, "seconds": time.perf_counter() - start}
