"""The public file layouts trigdeploy reads and writes, defined once.

* Top Quark Tagging Reference Dataset (Kasieczka et al.): pandas ``HDFStore`` key ``table``,
  ``format="table"``, 806 columns ``E_i, PX_i, PY_i, PZ_i`` (i = 0..199, float32, GeV,
  pT-ordered, zero-padded), ``truthE, truthPX, truthPY, truthPZ`` (float32; the truth top
  four-momentum, zero for QCD), ``ttv`` (split tag 0 train / 1 test / 2 val) and
  ``is_signal_new`` (1 top, 0 QCD).
* hls4ml's jet dataset (Pierini et al., the LHC jet-tagging benchmark): plain HDF5 arrays, ``jets``
  (N × 59 float32) named by ``jetFeatureNames`` (53 jet features, then the one-hot labels ``j_g j_q
  j_w j_z j_t j_undef``) and ``jetConstituentList`` (N × particles × 16) named by
  ``particleFeatureNames``.
* ATLAS Open Data 8 TeV ``mini`` tree: flat event branches, lepton arrays counted by
  ``lep_n`` and jet arrays counted by ``alljet_n``; energies in MeV.
"""

from __future__ import annotations

import numpy as np

TOPTAG_KEY = "table"
TOPTAG_N_CONSTITUENTS = 200
TOPTAG_COMPONENTS = ("E", "PX", "PY", "PZ")
TOPTAG_TRUTH = ("truthE", "truthPX", "truthPY", "truthPZ")
TOPTAG_SPLIT = "ttv"
TOPTAG_LABEL = "is_signal_new"


def toptag_constituent_columns(n: int = TOPTAG_N_CONSTITUENTS) -> list[str]:
    """``E_0, PX_0, PY_0, PZ_0, …`` for ``n`` constituents."""
    return [f"{c}_{i}" for i in range(n) for c in TOPTAG_COMPONENTS]


def toptag_columns(n: int = TOPTAG_N_CONSTITUENTS) -> list[str]:
    """All columns of the reference layout, in file order."""
    return [*toptag_constituent_columns(n), *TOPTAG_TRUTH, TOPTAG_SPLIT, TOPTAG_LABEL]


HLS4ML_JETS_KEY = "jets"
HLS4ML_JET_NAMES_KEY = "jetFeatureNames"
HLS4ML_CONSTITUENTS_KEY = "jetConstituentList"
HLS4ML_PARTICLE_NAMES_KEY = "particleFeatureNames"
_ECF = [
    "c1_b0",
    "c1_b1",
    "c1_b2",
    "c2_b1",
    "c2_b2",
    "d2_b1",
    "d2_b2",
    "d2_a1_b1",
    "d2_a1_b2",
    "m2_b1",
    "m2_b2",
    "n2_b1",
    "n2_b2",
]
HLS4ML_JET_CLASSES = ("j_g", "j_q", "j_w", "j_z", "j_t")
HLS4ML_JET_NAMES = (
    ["j_ptfrac", "j_pt", "j_eta", "j_mass"]
    + [f"j_tau{i}_b{b}" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1", "j_tau32_b2", "j_zlogz"]
    + [f"j_{n}" for n in _ECF]
    + [f"j_tau{i}_b{b}_mmdt" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1_mmdt", "j_tau32_b2_mmdt"]
    + [f"j_{n}_mmdt" for n in _ECF]
    + ["j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1", "j_multiplicity"]
    + [*HLS4ML_JET_CLASSES, "j_undef"]
)
# the 16 inputs of hls4ml's 5-class jet tagger (its tutorial and the QKeras/HGQ papers)
HLS4ML_JET_HLF = ("j_zlogz", *(f"j_{n}_mmdt" for n in _ECF), "j_mass_mmdt", "j_multiplicity")
HLS4ML_PARTICLE_NAMES = (
    "j1_px",
    "j1_py",
    "j1_pz",
    "j1_e",
    "j1_erel",
    "j1_pt",
    "j1_ptrel",
    "j1_eta",
    "j1_etarel",
    "j1_etarot",
    "j1_phi",
    "j1_phirel",
    "j1_phirot",
    "j1_deltaR",
    "j1_costheta",
    "j1_costhetarel",
)


MINI_TREE = "mini"

# Flat per-event branches and their dtypes.
MINI_EVENT_BRANCHES: dict[str, np.dtype] = {
    "runNumber": np.dtype(np.int32),
    "eventNumber": np.dtype(np.int32),
    "channelNumber": np.dtype(np.int32),
    "mcWeight": np.dtype(np.float32),
    "pvxp_n": np.dtype(np.int32),
    "vxp_z": np.dtype(np.float32),
    "scaleFactor_PILEUP": np.dtype(np.float32),
    "scaleFactor_ELE": np.dtype(np.float32),
    "scaleFactor_MUON": np.dtype(np.float32),
    "scaleFactor_BTAG": np.dtype(np.float32),
    "scaleFactor_TRIGGER": np.dtype(np.float32),
    "scaleFactor_JVFSF": np.dtype(np.float32),
    "scaleFactor_ZVERTEX": np.dtype(np.float32),
    "trigE": np.dtype(np.bool_),
    "trigM": np.dtype(np.bool_),
    "passGRL": np.dtype(np.bool_),
    "hasGoodVertex": np.dtype(np.bool_),
    "jet_n": np.dtype(np.int32),
    "met_et": np.dtype(np.float32),
    "met_phi": np.dtype(np.float32),
}

# Lepton arrays (length lep_n).
MINI_LEPTON_BRANCHES: dict[str, np.dtype] = {
    "lep_truthMatched": np.dtype(np.bool_),
    "lep_trigMatched": np.dtype(np.bool_),
    "lep_pt": np.dtype(np.float32),
    "lep_eta": np.dtype(np.float32),
    "lep_phi": np.dtype(np.float32),
    "lep_E": np.dtype(np.float32),
    "lep_z0": np.dtype(np.float32),
    "lep_charge": np.dtype(np.int32),
    "lep_type": np.dtype(np.int32),
    "lep_flag": np.dtype(np.int32),
    "lep_ptcone30": np.dtype(np.float32),
    "lep_etcone20": np.dtype(np.float32),
    "lep_trackd0pvunbiased": np.dtype(np.float32),
    "lep_tracksigd0pvunbiased": np.dtype(np.float32),
}

# Jet arrays (length alljet_n).
MINI_JET_BRANCHES: dict[str, np.dtype] = {
    "jet_pt": np.dtype(np.float32),
    "jet_eta": np.dtype(np.float32),
    "jet_phi": np.dtype(np.float32),
    "jet_E": np.dtype(np.float32),
    "jet_m": np.dtype(np.float32),
    "jet_jvf": np.dtype(np.float32),
    "jet_trueflav": np.dtype(np.int32),
    "jet_truthMatched": np.dtype(np.int32),
    "jet_SV0": np.dtype(np.float32),
    "jet_MV1": np.dtype(np.float32),
}

MINI_COUNTERS = {"lep": "lep_n", "jet": "alljet_n"}
