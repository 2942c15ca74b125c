"""Compiled (numba) top-tagging features: one pass per jet over its live constituents.

The contract is ``features.toptag_jet_features_numpy`` (the vectorised numpy definition, kept as
the reference): the same formulas in float64 in the same order per element, so the two agree to
float32 rounding of the stored features (only the order of the sums over constituents differs).
Each jet is computed on its own, so a jet's features do not depend on the chunk it is read in:
the cache is the same whatever the chunking or the number of workers.

Inputs are the raw constituent blocks ``(n, k, 4)`` = (E, px, py, pz), any float dtype; a
constituent is live when E > 0 (the public files zero-pad after the last one).
"""

from __future__ import annotations

import math

import numba
import numpy as np

R0 = 0.8
ECF_CONSTITUENTS = 40
KMEANS_STEPS = 3
LOG_PT_PAD = -10.0
N_JET_FEATURES = 14
ECF_BLOCK = 32  # jets whose e3 sums run side by side
_TWO_PI = 2.0 * math.pi


@numba.njit(inline="always", error_model="numpy")
def _dphi(a, b):
    d = a - b
    if -3.0 < d < 3.0:  # (d + π) / 2π lies in (0.02, 0.98): floor is 0 and the formula gives d exactly
        return d
    return d - _TWO_PI * math.floor((d + math.pi) / _TWO_PI)


@numba.njit(inline="always", error_model="numpy")
def _to_axis(eta, phi, m, axis_eta, axis_phi, d2, dphi):
    """ΔR² and Δφ of the first ``m`` constituents to one axis (no branch: the loop vectorises; the
    wrap formula gives Δφ itself when no wrap is needed, so the values equal ``_dphi``'s)."""
    for i in range(m):
        de = eta[i] - axis_eta
        d = phi[i] - axis_phi
        d = d - _TWO_PI * math.floor((d + math.pi) / _TWO_PI)
        dphi[i] = d
        d2[i] = de * de + d * d


@numba.njit(inline="always", error_model="numpy")
def _d2(e1, p1, e2, p2):
    de = e1 - e2
    dp = _dphi(p1, p2)
    return de * de + dp * dp


@numba.njit(inline="always", error_model="numpy")
def _eta(pz, pt):
    return math.asinh(pz / pt) if pt > 0.0 else 0.0


@numba.njit(inline="always", error_model="numpy")
def _seed(values, col, eta, phi, m):
    """The constituent with the largest value (the first of equals), as numpy's argmax over all
    columns picks it: when every value is 0 that is column 0, live or not."""
    best = -1.0
    at = -1
    for i in range(m):
        if values[i] > best:
            best = values[i]
            at = i
    if at < 0 or (best <= 0.0 and col[0] != 0):
        return 0.0, 0.0  # an empty column: η = φ = 0
    if best <= 0.0:
        return eta[0], phi[0]
    return eta[at], phi[at]


@numba.njit(inline="always", error_model="numpy")
def _live(const, j, k, pt, eta, phi, col):
    """Jet ``j``'s live constituents (E > 0) into ``pt``, ``eta``, ``phi`` and their columns ``col``; their
    count and the jet's summed four-momentum (over every column: padding adds zeros)."""
    je = 0.0
    jx = 0.0
    jy = 0.0
    jz = 0.0
    m = 0
    for i in range(k):
        e = np.float64(const[j, i, 0])
        x = np.float64(const[j, i, 1])
        y = np.float64(const[j, i, 2])
        zz = np.float64(const[j, i, 3])
        je += e
        jx += x
        jy += y
        jz += zz
        if e > 0.0:
            p = math.sqrt(x * x + y * y)
            pt[m] = p
            eta[m] = _eta(zz, p)
            phi[m] = math.atan2(y, x)
            col[m] = i
            m += 1
    return m, je, jx, jy, jz


@numba.njit(inline="always", error_model="numpy")
def _seeds(pt, eta, phi, col, m, values, sdd, sdp, seed_eta, seed_phi):
    """Greedy seeds: the hardest constituent, then the largest pT · min ΔR² to the seeds so far; ``sdd``,
    ``sdp`` hold every constituent's ΔR² and Δφ to each seed."""
    for i in range(m):
        values[i] = pt[i]
    seed_eta[0], seed_phi[0] = _seed(values, col, eta, phi, m)
    for s in range(1, 3):
        _to_axis(eta, phi, m, seed_eta[s - 1], seed_phi[s - 1], sdd[s - 1], sdp[s - 1])
        for i in range(m):
            best = sdd[0, i]
            for a in range(1, s):
                best = min(best, sdd[a, i])
            values[i] = pt[i] * best
        seed_eta[s], seed_phi[s] = _seed(values, col, eta, phi, m)
    _to_axis(eta, phi, m, seed_eta[2], seed_phi[2], sdd[2], sdp[2])  # every N's first step starts here


@numba.njit(inline="always", error_model="numpy")
def _kmeans_step(pt, eta, m, n_axes, d2, dphi, ax_eta, ax_phi, sw, se, sp):
    """One exclusive-kT-like step: each constituent to its nearest axis (the first of equals), each axis
    moved to the pT-weighted centre of its constituents."""
    for a in range(n_axes):
        sw[a] = 0.0
        se[a] = 0.0
        sp[a] = 0.0
    for i in range(m):
        near = 0
        best = d2[0, i]
        for a in range(1, n_axes):
            if d2[a, i] < best:
                best = d2[a, i]
                near = a
        sw[near] += pt[i]
        se[near] += pt[i] * eta[i]
        sp[near] += pt[i] * dphi[near, i]
    for a in range(n_axes):
        if sw[a] > 0.0:
            ax_eta[a] = se[a] / sw[a]
            ax_phi[a] = ax_phi[a] + sp[a] / sw[a]


@numba.njit(inline="always", error_model="numpy")
def _tau(pt, eta, phi, m, n_axes, w, sum_pt):
    """N-subjettiness τ_N (N = ``n_axes``) from the seeds, after ``KMEANS_STEPS`` steps. ``w``: the kernel's
    work arrays (seeds' distances, distances, axes, sums, values)."""
    sdd, sdp, dd, dp, seed_eta, seed_phi, ax_eta, ax_phi, sw, se, sp, values = w
    for a in range(n_axes):
        ax_eta[a] = seed_eta[a]
        ax_phi[a] = seed_phi[a]
    for step in range(KMEANS_STEPS):
        if step == 0:  # the axes are the seeds: their distances are known
            _kmeans_step(pt, eta, m, n_axes, sdd, sdp, ax_eta, ax_phi, sw, se, sp)
        else:
            for a in range(n_axes):
                _to_axis(eta, phi, m, ax_eta[a], ax_phi[a], dd[a], dp[a])
            _kmeans_step(pt, eta, m, n_axes, dd, dp, ax_eta, ax_phi, sw, se, sp)
    for a in range(n_axes):
        _to_axis(eta, phi, m, ax_eta[a], ax_phi[a], dd[a], dp[a])
    for i in range(m):
        best = dd[0, i]
        for a in range(1, n_axes):
            best = min(best, dd[a, i])
        values[i] = pt[i] * math.sqrt(best)
    t = 0.0
    for i in range(m):
        t += values[i]
    return t / (sum_pt * R0)


@numba.njit(inline="always", error_model="numpy")
def _ecf_block(out, j0, nb, qmax, zl, rl, e2l, e3l, acc):
    """C2 and D2 of a block of ``nb`` jets from row ``j0``: e2 = Σ_a<b z_a z_b R_ab and e3 = Σ_a<b<c z_a z_b
    z_c R_ab R_ac R_bc, jets in the inner loops (vectorised): each jet's terms add in (a, b, c) order
    whatever the block, and its empty lanes add exact zeros."""
    for i in range(nb):
        e2l[i] = 0.0
        e3l[i] = 0.0
    for a in range(qmax):
        for b in range(a + 1, qmax):
            for i in range(nb):
                e2l[i] += zl[a, i] * zl[b, i] * rl[a, b, i]
                acc[i] = 0.0
            for c in range(b + 1, qmax):
                for i in range(nb):
                    acc[i] += zl[c, i] * rl[a, c, i] * rl[b, c, i]
            for i in range(nb):
                e3l[i] += zl[a, i] * zl[b, i] * rl[a, b, i] * acc[i]
    for i in range(nb):
        e2 = e2l[i]
        out[j0 + i, 9] = e3l[i] / (e2 * e2) if e2 > 0.0 else 0.0
        out[j0 + i, 10] = e3l[i] / (e2 * e2 * e2) if e2 > 0.0 else 0.0


@numba.njit(inline="always", error_model="numpy")
def _ecf_lane(pt, eta, phi, col, m, sum_pt, jj, zl, rl):
    """z and the upper triangle of R of the live constituents among the first ``ECF_CONSTITUENTS`` columns
    into lane ``jj`` of the block (zero past its own count, which is returned)."""
    q = 0
    while q < m and col[q] < ECF_CONSTITUENTS:
        q += 1
    for a in range(ECF_CONSTITUENTS):
        zl[a, jj] = pt[a] / sum_pt if a < q else 0.0
        for b in range(a + 1, ECF_CONSTITUENTS):
            rl[a, b, jj] = math.sqrt(_d2(eta[a], phi[a], eta[b], phi[b])) if b < q else 0.0
    return q


@numba.njit(inline="always", error_model="numpy")
def _shapes(out, j, pt, eta, phi, m, jeta, jphi, sum_pt):
    """Girth, pT dispersion and the leading constituent's pT fraction of jet ``j``."""
    sum_pt2 = 0.0
    lead = 0.0
    girth = 0.0
    for i in range(m):
        sum_pt2 += pt[i] * pt[i]
        lead = max(lead, pt[i])
        girth += pt[i] * math.sqrt(_d2(eta[i], phi[i], jeta, jphi))
    out[j, 11] = girth / sum_pt
    out[j, 12] = math.sqrt(sum_pt2) / sum_pt
    out[j, 13] = lead / sum_pt


@numba.njit(cache=True, nogil=True, error_model="numpy")
def jet_features(const, out):
    """Fill ``out`` ``(n, 14)`` float64 with ``features.JET_FEATURES`` of ``const`` ``(n, k, 4)``."""
    n, k = const.shape[0], const.shape[1]
    pt, eta, phi, values = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    col = np.empty(k, np.int64)
    # ΔR² and Δφ of each live constituent to the three seeds and to each axis; seeds, axes, per-axis sums
    sdd, sdp, dd, dp = np.empty((3, k)), np.empty((3, k)), np.empty((3, k)), np.empty((3, k))
    seed_eta, seed_phi, ax_eta, ax_phi = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    sw, se, sp, taus = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    w = (sdd, sdp, dd, dp, seed_eta, seed_phi, ax_eta, ax_phi, sw, se, sp, values)
    zl = np.empty((ECF_CONSTITUENTS, ECF_BLOCK))  # a block of jets side by side (lanes) for e3
    rl = np.empty((ECF_CONSTITUENTS, ECF_CONSTITUENTS, ECF_BLOCK))
    e2l, e3l, acc = np.empty(ECF_BLOCK), np.empty(ECF_BLOCK), np.empty(ECF_BLOCK)
    qmax = 0
    for j in range(n):
        jj = j % ECF_BLOCK
        j0 = j - jj
        nb = min(ECF_BLOCK, n - j0)
        if jj == 0:
            qmax = 0
        m, je, jx, jy, jz = _live(const, j, k, pt, eta, phi, col)
        jpt = math.sqrt(jx * jx + jy * jy)
        jeta = _eta(jz, jpt)
        jphi = math.atan2(jy, jx)
        jm = math.sqrt(max(je * je - (jx * jx + jy * jy + jz * jz), 0.0))
        sum_pt = 0.0
        for i in range(m):
            sum_pt += pt[i]
        if sum_pt <= 0.0:
            sum_pt = 1.0
        _seeds(pt, eta, phi, col, m, values, sdd, sdp, seed_eta, seed_phi)
        for n_axes in range(1, 4):
            taus[n_axes - 1] = _tau(pt, eta, phi, m, n_axes, w, sum_pt)
        qmax = max(qmax, _ecf_lane(pt, eta, phi, col, m, sum_pt, jj, zl, rl))
        out[j, 0] = jpt
        out[j, 1] = jeta
        out[j, 2] = jm
        out[j, 3] = m
        out[j, 4] = taus[0]
        out[j, 5] = taus[1]
        out[j, 6] = taus[2]
        out[j, 7] = taus[1] / taus[0] if taus[0] > 0.0 else 0.0
        out[j, 8] = taus[2] / taus[1] if taus[1] > 0.0 else 0.0
        _shapes(out, j, pt, eta, phi, m, jeta, jphi, sum_pt)
        if jj == nb - 1:
            _ecf_block(out, j0, nb, qmax, zl, rl, e2l, e3l, acc)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def constituent_features(const, n_lead, out):
    """Fill ``out`` ``(n, 3 n_lead)`` float64: log(pT/pT_jet), Δη, Δφ of the leading ``n_lead``
    columns (``LOG_PT_PAD``, 0, 0 where a column is empty or absent)."""
    n, k = const.shape[0], const.shape[1]
    for j in range(n):
        je = 0.0
        jx = 0.0
        jy = 0.0
        jz = 0.0
        for i in range(k):
            je += np.float64(const[j, i, 0])
            jx += np.float64(const[j, i, 1])
            jy += np.float64(const[j, i, 2])
            jz += np.float64(const[j, i, 3])
        jpt = math.sqrt(jx * jx + jy * jy)
        jeta = _eta(jz, jpt)
        jphi = math.atan2(jy, jx)
        for i in range(n_lead):
            if i < k and const[j, i, 0] > 0:
                x = np.float64(const[j, i, 1])
                y = np.float64(const[j, i, 2])
                p = math.sqrt(x * x + y * y)
                out[j, 3 * i] = math.log(p / jpt)
                out[j, 3 * i + 1] = _eta(np.float64(const[j, i, 3]), p) - jeta
                out[j, 3 * i + 2] = _dphi(math.atan2(y, x), jphi)
            else:
                out[j, 3 * i] = LOG_PT_PAD
                out[j, 3 * i + 1] = 0.0
                out[j, 3 * i + 2] = 0.0


def compute_jet_features(const: np.ndarray) -> np.ndarray:
    """``(n, 14)`` float64 jet features of ``const`` ``(n, k, 4)`` (compiled)."""
    out = np.empty((len(const), N_JET_FEATURES))
    jet_features(const, out)
    return out


def compute_constituent_features(const: np.ndarray, n_lead: int) -> np.ndarray:
    """``(n, 3 n_lead)`` float64 constituent features of ``const`` ``(n, k, 4)`` (compiled)."""
    out = np.empty((len(const), 3 * n_lead))
    constituent_features(const, n_lead, out)
    return out
