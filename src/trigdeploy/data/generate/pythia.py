"""Real event generation: Pythia8 + FastJet (extra ``[gen]``), written in the Top Quark Tagging layout.

14 TeV pp. Signal: ``Top:gg2ttbar`` + ``Top:qqbar2ttbar`` with both W decaying hadronically;
background: ``HardQCD:all``. Multiple interactions off, ``PhaseSpace:pTHatMin`` (default
500 GeV) set low enough that the 550–650 GeV jet window is populated; that cut still biases
the spectrum (jets from lower pT-hat are missing). Visible final-state particles are clustered
anti-kT R = 0.8 (no detector simulation); the leading jet must have 550 < pT < 650 GeV and
|η| < 2, and for signal it must contain a hadronically decaying top and its b, q, q′ within
ΔR < 0.8 (the truth columns hold that top's four-momentum).

Jobs of ``chunk_size`` jets run in worker processes, each with its own Pythia seed derived from
the file seed and the job index, so a file is reproducible for a given seed, chunk size and
jet count, whatever the number of workers.
"""

from __future__ import annotations

import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from trigdeploy.config import PythiaGenConfig
from trigdeploy.errors import TrigdeployError

R_JET = 0.8
PT_MIN, PT_MAX, ETA_MAX = 550.0, 650.0, 2.0
MAX_TRIES_PER_JET = 2000


def _modules():
    try:
        import fastjet
        import pythia8mc
    except ImportError as exc:
        raise TrigdeployError(
            f"the pythia generator needs the [gen] extra ({exc.name} missing): "
            "pip install 'trigdeploy[gen]'"
        ) from None
    return pythia8mc, fastjet


def _pythia(signal: bool, seed: int, pthat_min: float):
    pythia8mc, _ = _modules()
    py = pythia8mc.Pythia("", False)
    settings = [
        "Beams:eCM = 14000.",
        "PartonLevel:MPI = off",
        f"PhaseSpace:pTHatMin = {pthat_min}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Print:quiet = on",
    ]
    if signal:
        settings += ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"]
    else:
        settings += ["HardQCD:all = on"]
    for s in settings:
        py.readString(s)
    if not py.init():
        raise RuntimeError("Pythia initialisation failed")
    return py


def _delta_r(eta1, phi1, eta2, phi2) -> float:
    dphi = (phi1 - phi2 + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(eta1 - eta2, dphi)


def _hadronic_tops(event) -> list[tuple]:
    """For each top whose W decays to quarks: (top four-vector, [(eta, phi) of b, q, q′])."""
    out = []
    for i in range(event.size()):
        p = event[i]
        if abs(p.id()) != 6 or p.iBotCopyId() != i:
            continue
        daughters = [event[d] for d in p.daughterList()]
        b = [d for d in daughters if abs(d.id()) == 5]
        w = [d for d in daughters if abs(d.id()) == 24]
        if len(b) != 1 or len(w) != 1:
            continue
        w_last = event[w[0].iBotCopyId()]
        quarks = [event[d] for d in w_last.daughterList() if 1 <= abs(event[d].id()) <= 5]
        if len(quarks) != 2:
            continue
        prongs = [(q.eta(), q.phi()) for q in (b[0], *quarks)]
        out.append(((p.e(), p.px(), p.py(), p.pz()), prongs))
    return out


def generate_jets(signal: bool, n: int, seed: int, pthat_min: float, n_constituents: int):
    """``n`` accepted leading jets: ``(constituents (n, k, 4) float32, truth (n, 4) float32, tries)``."""
    _, fastjet = _modules()
    py = _pythia(signal, seed, pthat_min)
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    consts = np.zeros((n, n_constituents, 4), np.float32)
    truth = np.zeros((n, 4), np.float32)
    have, tries = 0, 0
    while have < n:
        tries += 1
        if tries > MAX_TRIES_PER_JET * n:
            raise RuntimeError(f"pythia: only {have} of {n} jets accepted in {tries} events")
        if not py.next():
            continue
        ev = py.event
        parts = [
            fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e())
            for p in (ev[i] for i in range(ev.size()))
            if p.isFinal() and p.isVisible()
        ]
        seq = fastjet.ClusterSequence(parts, jet_def)
        jets = fastjet.sorted_by_pt(seq.inclusive_jets(PT_MIN * 0.5))
        if not jets:
            continue
        jet = jets[0]
        if not (PT_MIN < jet.pt() < PT_MAX and abs(jet.eta()) < ETA_MAX):
            continue
        if signal:
            jeta, jphi = jet.eta(), jet.phi_std()
            matched = [
                top for top, prongs in _hadronic_tops(ev)
                if all(_delta_r(e, f, jeta, jphi) < R_JET for e, f in prongs)
            ]
            if not matched:
                continue
            truth[have] = matched[0]
        c = fastjet.sorted_by_pt(jet.constituents())[:n_constituents]
        consts[have, : len(c)] = [(x.e(), x.px(), x.py(), x.pz()) for x in c]
        have += 1
    return consts, truth, tries


def _worker_init() -> None:
    """Send worker stdout (FastJet's banner, Pythia's messages) to stderr: stdout carries results."""
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), 1)


def _job(args):
    signal, n, seed, pthat_min, n_constituents = args
    return generate_jets(signal, n, seed, pthat_min, n_constituents)


def write(params: PythiaGenConfig, out: Path, progress: bool = True) -> dict:
    """Generate ``params.jets`` jets in worker processes and append them to ``out`` in order."""
    from trigdeploy.data.generate.writers import split_counts, toptag_writer, write_jet_chunks

    _modules()
    if params.workers <= 0:
        raise TrigdeployError(f"workers must be positive, got {params.workers}")
    chunks = split_counts(params.jets, params.chunk_size, params.signal_fraction)
    jobs = [
        # Pythia seeds must lie in [1, 900000000].
        (signal, n, 1 + (params.seed * 1_000_003 + index * 2 + k) % 899_999_999, params.pthat_min,
         params.n_constituents)
        for index, (n_sig, n_bkg) in enumerate(chunks)
        for k, (n, signal) in enumerate(((n_sig, True), (n_bkg, False)))
        if n > 0
    ]
    start = time.perf_counter()
    tries = {True: 0, False: 0}
    with ProcessPoolExecutor(max_workers=params.workers, initializer=_worker_init) as pool:
        # submitted before the output file is opened: forked workers must not inherit its descriptor
        # (HDF5's lock would outlive the parent's close and the written file could not be re-read)
        pending = pool.map(_job, jobs)

        def produce(_rng, _n, signal):
            const, truth, n_tries = next(pending)
            tries[signal] += n_tries
            return const, truth

        with toptag_writer(out, params.n_constituents, params.ttv, params.jets) as writer, \
                tqdm(total=params.jets, unit="jet", desc=f"pythia → {Path(out).name}", disable=not progress) as bar:
            write_jet_chunks(writer, chunks, params.seed, produce, bar.update)
    return {
        "file": str(out),
        "rows": params.jets,
        "seconds": time.perf_counter() - start,
        "events_tried": {"signal": tries[True], "background": tries[False]},
        "workers": params.workers,
    }
