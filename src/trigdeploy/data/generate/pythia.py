"""Real event generation: Pythia8 + FastJet (extra ``[gen]``), in two public layouts.

``layout: toptag`` (the Top Quark Tagging layout). 14 TeV pp. Signal: ``Top:gg2ttbar`` +
``Top:qqbar2ttbar`` with both W decaying hadronically; background: ``HardQCD:all``. Multiple
interactions off, ``PhaseSpace:pTHatMin`` (default 500 GeV) set low enough that the 550–650 GeV
jet window is populated; that cut still biases the spectrum (jets from lower pT-hat are
missing). Visible final-state particles are clustered anti-kT R = 0.8 (no detector simulation);
the leading jet must have 550 < pT < 650 GeV and |η| < 2, and for signal it must contain a
hadronically decaying top and its b, q, q′ within ΔR < 0.8 (the truth columns hold that top's
four-momentum).

``layout: hls4ml_jets`` (hls4ml's jet dataset): five classes of leading jets, 900–1100 GeV by
default (pT-hat ≥ 850): gluon and light-quark (u, d, s) jets from ``HardQCD:all``, labelled by
the outgoing hard parton within ΔR < 0.8 of the jet axis (c, b and unmatched jets are dropped);
W and Z jets from ``WeakDoubleBoson:ffbar2WW`` / ``ffbar2gmZgmZ`` (pure Z) with hadronic decays,
both decay quarks within ΔR < 0.8; top jets as above. Per jet: the 53 jet features of
``hlf`` (those the dataset lists; ``j_ptfrac`` and the pruned mass are NaN: their exact
definitions are not published with the dataset and no pruning is implemented here), the
one-hot labels, and the 16 features of the pT-leading constituents (the rotated coordinates
``etarot``/``phirot`` are NaN: the dataset's rotation is not specified). N-subjettiness uses
exclusive-kT axes; trimming R_sub = 0.2, f_cut = 0.05.

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

from trigdeploy.errors import TrigdeployError
from trigdeploy.generators import PythiaGenConfig

R_JET = 0.8
ETA_MAX = 2.0
MAX_TRIES_PER_JET = 2000
HADRONIC = ("onMode = off", "onIfAny = 1 2 3 4 5")
# process settings per kind of sample; the hls4ml layout's classes draw on them (g and q share "qcd")
PROCESSES = {
    "top": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *(f"24:{s}" for s in HADRONIC)],
    "qcd": ["HardQCD:all = on"],
    "w": ["WeakDoubleBoson:ffbar2WW = on", *(f"24:{s}" for s in HADRONIC)],
    "z": ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", *(f"23:{s}" for s in HADRONIC)],
}
HLS4ML_CLASS_PROCESS = {"j_g": "qcd", "j_q": "qcd", "j_w": "w", "j_z": "z", "j_t": "top"}
TRIM_R, TRIM_FCUT = 0.2, 0.05


def _modules():
    try:
        import fastjet
        import pythia8mc
    except ImportError as exc:
        raise TrigdeployError(
            f"the pythia generator needs the [gen] extra ({exc.name} missing): pip install 'trigdeploy[gen]'"
        ) from None
    return pythia8mc, fastjet


def _pythia(process: str, seed: int, pthat_min: float):
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
        *PROCESSES[process],
    ]
    for s in settings:
        py.readString(s)
    if not py.init():
        raise TrigdeployError(
            f"pythia: initialisation failed for process {process!r} (seed {seed}, pTHatMin {pthat_min})"
        )
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


def _hadronic_bosons(event, pid: int) -> list[tuple]:
    """For each W (``pid`` 24) or Z (23) decaying to quarks: (its four-vector, [(eta, phi) of the quarks])."""
    out = []
    for i in range(event.size()):
        p = event[i]
        if abs(p.id()) != pid or p.iBotCopyId() != i:
            continue
        quarks = [event[d] for d in p.daughterList() if 1 <= abs(event[d].id()) <= 5]
        if len(quarks) == 2:
            out.append(((p.e(), p.px(), p.py(), p.pz()), [(q.eta(), q.phi()) for q in quarks]))
    return out


def _parton_class(process_record, eta: float, phi: float) -> str | None:
    """``j_g`` / ``j_q`` by the outgoing hard parton (status 23) nearest the jet axis within R = 0.8;
    None for c, b or no parton within R."""
    best, best_dr = None, R_JET
    for i in range(process_record.size()):
        p = process_record[i]
        if p.status() != 23:
            continue
        dr = _delta_r(p.eta(), p.phi(), eta, phi)
        if dr < best_dr:
            best, best_dr = p.id(), dr
    return None if best is None else _class_of_parton(best)


def _class_of_parton(pid: int) -> str | None:
    """``j_g`` for a gluon, ``j_q`` for a light quark (u, d, s), None otherwise (c, b)."""
    return "j_g" if pid == 21 else "j_q" if 1 <= abs(pid) <= 3 else None


def _matched(kind: str, py, jet) -> tuple | None:
    """The truth four-vector of ``jet`` for sample ``kind`` ("top", "qcd", or an hls4ml class), or None
    when the jet is not of that kind."""
    jeta, jphi = jet.eta(), jet.phi_std()
    if kind == "qcd":
        return (0.0, 0.0, 0.0, 0.0)
    if kind in ("j_g", "j_q"):
        return (0.0, 0.0, 0.0, 0.0) if _parton_class(py.process, jeta, jphi) == kind else None
    found = (
        _hadronic_tops(py.event) if kind in ("top", "j_t") else _hadronic_bosons(py.event, 24 if kind == "j_w" else 23)
    )
    matched = [v for v, prongs in found if all(_delta_r(e, f, jeta, jphi) < R_JET for e, f in prongs)]
    return matched[0] if matched else None


# Relative margin of the pre-selection: it rejects an event only when its leading jet misses the window by more
# than this (SlowJet's and FastJet's anti-kT jets agreed to 1e-15 in η and exactly in pT on the samples measured).
PRESELECT_MARGIN = 1e-6


class Preselection:
    """Events that cannot give an accepted jet, rejected before Python touches their particles: reading them
    into FastJet costs about 2.5 ms of binding calls and clustering 0.9 ms, Pythia's own anti-kT (``SlowJet``
    on its fjcore: the same visible final-state particles, R and E-scheme) 0.65 ms, and about half the events
    have no leading jet in the window. Rejected only when every jet that could lead (within the margin of the
    leading pT) misses the pT or |η| window by more than the margin, or, for gluon and light-quark jets, when
    no outgoing hard parton of that class exists. Every other event takes the FastJet path unchanged: the
    same accepted jets and file as without it."""

    def __init__(self, kind: str, pt_min: float, pt_max: float) -> None:
        pythia8mc, _ = _modules()
        self.kind, self.pt_min, self.pt_max = kind, pt_min, pt_max
        # power -1 (anti-kT), R, pT_min of a jet, |η| of a particle (none cut), select 2 (visible final state)
        self.slow = pythia8mc.SlowJet(-1, R_JET, 0.5 * pt_min * (1 - 1e-3), 1e9, 2)

    def may_pass(self, py) -> bool:
        """False only for an event none of whose possible leading jets can be accepted."""
        if self.kind in ("j_g", "j_q") and not _class_possible(py.process, self.kind):
            return False
        slow, m = self.slow, PRESELECT_MARGIN
        slow.analyze(py.event)
        if slow.sizeJet() == 0:
            return False
        lead = slow.pT(0)
        for i in range(slow.sizeJet()):
            pt = slow.pT(i)
            if pt < lead * (1 - m):
                break
            eta = slow.p(i).eta()
            if self.pt_min * (1 - m) < pt < self.pt_max * (1 + m) and abs(eta) < ETA_MAX + m:
                return True
        return False


def _class_possible(process_record, kind: str) -> bool:
    """Whether an outgoing hard parton (status 23) of class ``kind`` exists (``_parton_class`` needs one)."""
    for i in range(process_record.size()):
        p = process_record[i]
        if p.status() == 23 and _class_of_parton(p.id()) == kind:
            return True
    return False


def generate_jets(
    kind: str, n: int, seed: int, window: tuple[float, float, float], n_constituents: int, hls4ml: bool = False
):
    """``n`` accepted leading jets of sample ``kind`` ("top"/"qcd" for the toptag layout, an hls4ml class
    otherwise). Toptag: ``(constituents (n, k, 4) float32, truth (n, 4) float32, tries)``; hls4ml:
    ``(jets (n, 59) float32, constituents (n, k, 16) float32, tries)``."""
    _, fastjet = _modules()
    pthat_min, pt_min, pt_max = window
    py = _pythia(HLS4ML_CLASS_PROCESS.get(kind, kind), seed, pthat_min)
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    pre = Preselection(kind, pt_min, pt_max)
    if hls4ml:
        from trigdeploy.data.layouts import HLS4ML_JET_NAMES, HLS4ML_PARTICLE_NAMES

        rows = np.zeros((n, len(HLS4ML_JET_NAMES)), np.float32)
        consts = np.zeros((n, n_constituents, len(HLS4ML_PARTICLE_NAMES)), np.float32)
    else:
        consts = np.zeros((n, n_constituents, 4), np.float32)
        truth = np.zeros((n, 4), np.float32)
    have, tries = 0, 0
    while have < n:
        tries += 1
        if tries > MAX_TRIES_PER_JET * n:
            raise TrigdeployError(
                f"pythia: only {have} of {n} {kind} jets accepted in {tries - 1} events: no leading "
                f"jet of that kind in {pt_min:g} < pT < {pt_max:g} GeV, |η| < {ETA_MAX:g} with pT-hat "
                f"≥ {pthat_min:g}; check pt_min, pt_max and pthat_min"
            )
        if not py.next():
            continue
        ev = py.event
        if not pre.may_pass(py):
            continue
        parts = [  # the record fetched as one list: ev[i] per index costs a binding call each (~8 % of an event)
            fastjet.PseudoJet(p.px(), p.py(), p.pz(), p.e()) for p in ev.particles() if p.isFinal() and p.isVisible()
        ]
        seq = fastjet.ClusterSequence(parts, jet_def)
        jets = fastjet.sorted_by_pt(seq.inclusive_jets(pt_min * 0.5))
        if not jets:
            continue
        jet = jets[0]
        if not (pt_min < jet.pt() < pt_max and abs(jet.eta()) < ETA_MAX):
            continue
        match = _matched(kind, py, jet)
        if match is None:
            continue
        c = list(fastjet.sorted_by_pt(jet.constituents()))
        if hls4ml:
            rows[have], consts[have] = hls4ml_jet_row(fastjet, jet, c, kind, n_constituents)
        else:
            if kind == "top":
                truth[have] = match
            c = c[:n_constituents]
            consts[have, : len(c)] = [(x.e(), x.px(), x.py(), x.pz()) for x in c]
        have += 1
    return (rows, consts, tries) if hls4ml else (consts, truth, tries)


def _nsubjettiness(fastjet, parts: list, p: np.ndarray) -> np.ndarray:
    """τ1, τ2, τ3 for β = 1 and 2 (exclusive-kT axes, normalised by Σ pT · R0^β): shape (2, 3)."""
    out = np.zeros((2, 3))
    if not parts:
        return out
    pt = np.hypot(p[:, 1], p[:, 2])
    y = 0.5 * np.log(np.maximum(p[:, 0] + p[:, 3], 1e-300) / np.maximum(p[:, 0] - p[:, 3], 1e-300))
    phi = np.arctan2(p[:, 2], p[:, 1])
    cs = fastjet.ClusterSequence(parts, fastjet.JetDefinition(fastjet.kt_algorithm, R_JET))
    for n in (1, 2, 3):
        axes = cs.exclusive_jets(min(n, len(parts)))
        dphi = np.abs(phi[:, None] - np.array([a.phi_std() for a in axes])[None, :])
        dphi = np.minimum(dphi, 2 * np.pi - dphi)
        dr = np.sqrt((y[:, None] - np.array([a.rap() for a in axes])[None, :]) ** 2 + dphi**2).min(axis=1)
        for b, beta in enumerate((1.0, 2.0)):
            out[b, n - 1] = (pt * dr**beta).sum() / max(pt.sum() * R_JET**beta, 1e-300)
    return out


def hls4ml_jet_row(fastjet, jet, constituents: list, kind: str, n_constituents: int):
    """One jet in hls4ml's layout: its 59 values (``layouts.HLS4ML_JET_NAMES``) and its pT-leading
    constituents' 16 features (``layouts.HLS4ML_PARTICLE_NAMES``)."""
    from trigdeploy.data.generate import hlf
    from trigdeploy.data.layouts import HLS4ML_JET_CLASSES, HLS4ML_JET_NAMES

    p = np.array([(x.e(), x.px(), x.py(), x.pz()) for x in constituents], np.float64)
    zlogz, ecf, ecf_mmdt, masses, groomed = hlf.jet_hlf(p)
    tau = _nsubjettiness(fastjet, constituents, p)
    tau_g = _nsubjettiness(fastjet, [constituents[i] for i in groomed], p[groomed])
    trim = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.kt_algorithm, TRIM_R))
    kept = [s for s in trim.inclusive_jets(0.0) if s.pt() > TRIM_FCUT * jet.pt()]
    m_trim = hlf.mass(np.sum([(s.e(), s.px(), s.py(), s.pz()) for s in kept], axis=0)) if kept else 0.0
    v = {
        "j_ptfrac": np.nan,
        "j_pt": jet.pt(),
        "j_eta": jet.eta(),
        "j_mass": jet.m(),
        "j_zlogz": zlogz,
        "j_mass_trim": m_trim,
        "j_mass_mmdt": masses[0],
        "j_mass_prun": np.nan,
        "j_mass_sdb2": masses[1],
        "j_mass_sdm1": masses[2],
        "j_multiplicity": len(constituents),
    }
    for suffix, t in (("", tau), ("_mmdt", tau_g)):
        for b in (1, 2):
            for i in (1, 2, 3):
                v[f"j_tau{i}_b{b}{suffix}"] = t[b - 1, i - 1]
            v[f"j_tau32_b{b}{suffix}"] = t[b - 1, 2] / t[b - 1, 1] if t[b - 1, 1] > 0 else 0.0
    for suffix, values in (("", ecf), ("_mmdt", ecf_mmdt)):
        for name, x in zip(hlf.ECF_NAMES, values):
            v[f"j_{name}{suffix}"] = x
    for c in (*HLS4ML_JET_CLASSES, "j_undef"):
        v[c] = float(c == kind)
    row = np.array([v[name] for name in HLS4ML_JET_NAMES], np.float32)

    return row, _particle_rows(jet, p[:n_constituents], n_constituents)


def _particle_rows(jet, k: np.ndarray, n_constituents: int) -> np.ndarray:
    """The 16 features (``layouts.HLS4ML_PARTICLE_NAMES``) of the pT-leading constituents ``k`` (E, px, py, pz)
    of ``jet``, zero-padded to ``n_constituents`` rows."""
    pt = np.hypot(k[:, 1], k[:, 2])
    mom = np.sqrt(k[:, 1] ** 2 + k[:, 2] ** 2 + k[:, 3] ** 2)
    eta = np.arcsinh(k[:, 3] / np.maximum(pt, 1e-300))
    phi = np.arctan2(k[:, 2], k[:, 1])
    dphi = (phi - jet.phi_std() + np.pi) % (2 * np.pi) - np.pi
    j = np.array([jet.px(), jet.py(), jet.pz()])
    cos_rel = (k[:, 1:] @ j) / np.maximum(mom * np.linalg.norm(j), 1e-300)
    feats = np.stack(
        [
            k[:, 1],
            k[:, 2],
            k[:, 3],
            k[:, 0],
            k[:, 0] / jet.e(),
            pt,
            pt / jet.pt(),
            eta,
            eta - jet.eta(),
            np.full(len(k), np.nan),
            phi,
            dphi,
            np.full(len(k), np.nan),
            np.hypot(eta - jet.eta(), dphi),
            k[:, 3] / np.maximum(mom, 1e-300),
            cos_rel,
        ],
        axis=1,
    )
    out = np.zeros((n_constituents, feats.shape[1]), np.float32)
    out[: len(k)] = feats
    return out


def _worker_init() -> None:
    """Send worker stdout (FastJet's banner, Pythia's messages) to stderr: stdout carries results."""
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), 1)


def _job(args):
    return generate_jets(*args)


def write(params: PythiaGenConfig, out: Path, progress: bool = True) -> dict:
    """Generate ``params.jets`` jets in worker processes and append them to ``out`` in order."""
    from trigdeploy.data.generate.writers import split_counts, toptag_writer, write_jet_chunks

    _modules()
    if params.workers <= 0:
        raise TrigdeployError(f"workers must be positive, got {params.workers}")
    chunks = split_counts(params.jets, params.chunk_size, params.signal_fraction)
    if params.layout == "hls4ml_jets":
        return _write_hls4ml(params, out, progress)
    jobs = [
        # Pythia seeds must lie in [1, 900000000].
        (
            "top" if signal else "qcd",
            n,
            1 + (params.seed * 1_000_003 + index * 2 + k) % 899_999_999,
            params.window(),
            params.n_constituents,
        )
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

        with (
            toptag_writer(out, params.n_constituents, params.ttv, params.jets) as writer,
            tqdm(total=params.jets, unit="jet", desc=f"pythia → {Path(out).name}", disable=not progress) as bar,
        ):
            write_jet_chunks(writer, chunks, params.seed, produce, bar.update)
    return {
        "file": str(out),
        "rows": params.jets,
        "seconds": time.perf_counter() - start,
        "events_tried": {"signal": tries[True], "background": tries[False]},
        "workers": params.workers,
    }


def _hls4ml_jobs(params: PythiaGenConfig) -> list[tuple[int, tuple]]:
    """(chunk index, ``generate_jets`` arguments) per class per chunk: each chunk holds the five classes
    in equal numbers (the first classes take the remainder)."""
    from trigdeploy.data.layouts import HLS4ML_JET_CLASSES

    jobs = []
    k = len(HLS4ML_JET_CLASSES)
    for index, start in enumerate(range(0, params.jets, params.chunk_size)):
        n = min(params.chunk_size, params.jets - start)
        for c, name in enumerate(HLS4ML_JET_CLASSES):
            count = n // k + (1 if c < n % k else 0)
            if count:  # Pythia seeds must lie in [1, 900000000]
                seed = 1 + (params.seed * 1_000_003 + index * k + c) % 899_999_999
                jobs.append((index, (name, count, seed, params.window(), params.n_constituents, True)))
    return jobs


def _write_hls4ml(params: PythiaGenConfig, out: Path, progress: bool) -> dict:
    """Five classes of jets into hls4ml's jet layout (``layouts``), chunk by chunk, rows shuffled within
    each chunk (seeded), written atomically."""
    import tables

    from trigdeploy.data import layouts
    from trigdeploy.io import atomic_path

    jobs = _hls4ml_jobs(params)
    start = time.perf_counter()
    tries: dict[str, int] = {}
    n_names, n_particle = len(layouts.HLS4ML_JET_NAMES), len(layouts.HLS4ML_PARTICLE_NAMES)
    with ProcessPoolExecutor(max_workers=params.workers, initializer=_worker_init) as pool:
        pending = pool.map(_job, [args for _, args in jobs])  # before the file is opened (see write)
        with (
            atomic_path(Path(out)) as tmp,
            tables.open_file(str(tmp), "w") as f,
            tqdm(
                total=params.jets, unit="jet", desc=f"pythia hls4ml_jets → {Path(out).name}", disable=not progress
            ) as bar,
        ):
            f.create_array("/", layouts.HLS4ML_JET_NAMES_KEY, np.array([n.encode() for n in layouts.HLS4ML_JET_NAMES]))
            f.create_array(
                "/", layouts.HLS4ML_PARTICLE_NAMES_KEY, np.array([n.encode() for n in layouts.HLS4ML_PARTICLE_NAMES])
            )
            jets = f.create_earray(
                "/", layouts.HLS4ML_JETS_KEY, tables.Float32Atom(), (0, n_names), expectedrows=params.jets
            )
            consts = f.create_earray(
                "/",
                layouts.HLS4ML_CONSTITUENTS_KEY,
                tables.Float32Atom(),
                (0, params.n_constituents, n_particle),
                expectedrows=params.jets,
            )
            by_chunk: dict[int, list] = {}
            for (index, args), (rows, parts, n_tries) in zip(jobs, pending):
                tries[args[0]] = tries.get(args[0], 0) + n_tries
                by_chunk.setdefault(index, []).append((rows, parts))
                if sum(len(r) for r, _ in by_chunk[index]) < min(
                    params.chunk_size, params.jets - index * params.chunk_size
                ):
                    continue
                rows = np.concatenate([r for r, _ in by_chunk[index]])
                parts = np.concatenate([p for _, p in by_chunk.pop(index)])
                order = np.random.default_rng([params.seed, index]).permutation(len(rows))
                jets.append(rows[order])
                consts.append(parts[order])
                bar.update(len(rows))
    return {
        "file": str(out),
        "rows": params.jets,
        "layout": "hls4ml_jets",
        "seconds": time.perf_counter() - start,
        "events_tried": tries,
        "workers": params.workers,
    }
