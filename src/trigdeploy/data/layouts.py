"""The public file layouts trigdeploy reads and writes, defined once.

* Top Quark Tagging Reference Dataset (Kasieczka et al.): pandas ``HDFStore`` key ``table``,
  ``format="table"``, 806 columns ``E_i, PX_i, PY_i, PZ_i`` (i = 0..199, float32, GeV,
  pT-ordered, zero-padded), ``truthE, truthPX, truthPY, truthPZ`` (float32; the truth top
  four-momentum, zero for QCD), ``ttv`` (split tag 0 train / 1 test / 2 val) and
  ``is_signal_new`` (1 top, 0 QCD).
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
