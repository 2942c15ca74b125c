"""The high-level jet features of hls4ml's jet dataset, from a jet's constituents (numba, float64).

Definitions (Larkoski, Moult, Neill; arXiv:1305.0007, 1409.6298, 1609.07483), with the
energy-correlation functions normalised by the jet's scalar pT sum, z_i = pT_i / Σ pT, and the
angles ΔR_ij in rapidity–azimuth (FastJet contrib ``EnergyCorrelator``'s ``pt_R`` measure):

* e2^(β) = Σ_{i<j} z_i z_j ΔR_ij^β; e3^(β) = Σ_{i<j<k} z_i z_j z_k (ΔR_ij ΔR_ik ΔR_jk)^β;
  the generalised ₁e₃^(β) and ₂e₃^(β) keep the smallest one or two of the three angles;
* C1^(β) = e2^(β) (β = 0, 1, 2); C2^(β) = e3^(β) / (e2^(β))²; D2^(β) = e3^(β) / (e2^(β))³;
  D2^(α=1,β) = e3^(1) / (e2^(β))^(3/β); M2^(β) = ₁e₃^(β) / e2^(β); N2^(β) = ₂e₃^(β) / (e2^(β))²;
  a ratio whose denominator is 0 (a jet of one constituent) is 0;
* groomed (``_mmdt``): the modified mass-drop tagger, soft drop with β = 0 and z_cut = 0.1 on the
  Cambridge/Aachen reclustering (R = 0.8) of the constituents: decluster, keep the harder branch
  until min(pT1, pT2)/(pT1 + pT2) > z_cut; ``sdb2``/``sdm1``: the same with β = 2 and β = −1
  (z_cut · (ΔR12/R0)^β);
* zlogz = Σ z_i ln z_i over the constituents; multiplicity = their number.
"""

from __future__ import annotations

import numba as nb
import numpy as np

R0 = 0.8
Z_CUT = 0.1
# the 13 energy-correlation ratios, in the order of the dataset's columns (j_c1_b0 … j_n2_b2)
ECF_NAMES = (
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
)
SOFT_DROP_BETAS = (0.0, 2.0, -1.0)  # mmdt, sdb2, sdm1


@nb.njit(cache=True)
def _kinematics(p: np.ndarray):
    """pT, rapidity and azimuth of four-momenta ``p`` (n, 4: E, px, py, pz)."""
    n = p.shape[0]
    pt, y, phi = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        e, px, py, pz = p[i, 0], p[i, 1], p[i, 2], p[i, 3]
        pt[i] = np.sqrt(px * px + py * py)
        y[i] = 0.5 * np.log(max(e + pz, 1e-300) / max(e - pz, 1e-300))
        phi[i] = np.arctan2(py, px)
    return pt, y, phi


@nb.njit(cache=True)
def _dr(y1, phi1, y2, phi2) -> float:
    dphi = abs(phi1 - phi2)
    if dphi > np.pi:
        dphi = 2.0 * np.pi - dphi
    return np.sqrt((y1 - y2) ** 2 + dphi * dphi)


@nb.njit(cache=True)
def ca_tree(p: np.ndarray):
    """Cambridge/Aachen clustering of ``p`` (n ≥ 1, E-scheme) into one tree: node four-momenta (2n−1, 4),
    children (−1 for a constituent), the ΔR of each merge, and the root."""
    n = p.shape[0]
    m = 2 * n - 1
    mom = np.zeros((m, 4))
    mom[:n] = p
    left, right = -np.ones(m, np.int64), -np.ones(m, np.int64)
    dr = np.zeros(m)
    pt, y, phi = np.zeros(m), np.zeros(m), np.zeros(m)
    pt[:n], y[:n], phi[:n] = _kinematics(p)
    active = list(range(n))
    nxt = n
    while len(active) > 1:
        best, bi, bj = 1e300, 0, 1
        for a in range(len(active)):
            i = active[a]
            for b in range(a + 1, len(active)):
                j = active[b]
                d = _dr(y[i], phi[i], y[j], phi[j])
                if d < best:
                    best, bi, bj = d, a, b
        i, j = active[bi], active[bj]
        mom[nxt] = mom[i] + mom[j]
        left[nxt], right[nxt], dr[nxt] = i, j, best
        k_pt, k_y, k_phi = _kinematics(mom[nxt : nxt + 1])
        pt[nxt], y[nxt], phi[nxt] = k_pt[0], k_y[0], k_phi[0]
        active.pop(bj)  # bj > bi: remove the later one first
        active[bi] = nxt
        nxt += 1
    return mom, left, right, dr, pt, active[0]


@nb.njit(cache=True)
def soft_drop(left, right, dr, pt, root: int, beta: float) -> int:
    """The node soft drop keeps (z_cut ``Z_CUT``, radius ``R0``): the first declustering whose softer
    branch carries more than z_cut (ΔR/R0)^β of the pT, following the harder branch until then."""
    node = root
    while left[node] >= 0:
        a, b = left[node], right[node]
        z = min(pt[a], pt[b]) / max(pt[a] + pt[b], 1e-300)
        if z > Z_CUT * (dr[node] / R0) ** beta:
            return node
        node = a if pt[a] >= pt[b] else b
    return node


@nb.njit(cache=True)
def leaves(left, right, node: int) -> np.ndarray:
    """The constituents (leaf indices) under ``node``."""
    out, stack = [], [node]
    while len(stack):
        k = stack.pop()
        if left[k] < 0:
            out.append(k)
        else:
            stack.append(left[k])
            stack.append(right[k])
    return np.sort(np.array(out, np.int64))


@nb.njit(cache=True)
def mass(p4) -> float:
    """The invariant mass of one four-vector (E, px, py, pz); 0 where it would be imaginary."""
    m2 = p4[0] ** 2 - p4[1] ** 2 - p4[2] ** 2 - p4[3] ** 2
    return np.sqrt(m2) if m2 > 0 else 0.0


@nb.njit(cache=True)
def ecf_ratios(p: np.ndarray) -> np.ndarray:
    """The 13 ratios of ``ECF_NAMES`` for the constituents ``p`` (n, 4)."""
    n = p.shape[0]
    out = np.zeros(13)
    if n == 0:
        return out
    pt, y, phi = _kinematics(p)
    z = pt / max(pt.sum(), 1e-300)
    r = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            r[i, j] = r[j, i] = _dr(y[i], phi[i], y[j], phi[j])
    e2_0 = e2_1 = e2_2 = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            w = z[i] * z[j]
            e2_0 += w
            e2_1 += w * r[i, j]
            e2_2 += w * r[i, j] ** 2
    e3_1 = e3_2 = g1_1 = g1_2 = g2_1 = g2_2 = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            wij = z[i] * z[j]
            for k in range(j + 1, n):
                w = wij * z[k]
                a, b, c = r[i, j], r[i, k], r[j, k]
                lo = min(a, b, c)
                hi = max(a, b, c)
                mid = a + b + c - lo - hi
                e3_1 += w * a * b * c
                e3_2 += w * (a * b * c) ** 2
                g1_1 += w * lo
                g1_2 += w * lo * lo
                g2_1 += w * lo * mid
                g2_2 += w * (lo * mid) ** 2

    def ratio(num, den):
        return num / den if den > 0 else 0.0

    out[0], out[1], out[2] = e2_0, e2_1, e2_2
    out[3], out[4] = ratio(e3_1, e2_1**2), ratio(e3_2, e2_2**2)
    out[5], out[6] = ratio(e3_1, e2_1**3), ratio(e3_2, e2_2**3)
    out[7], out[8] = ratio(e3_1, e2_1**3), ratio(e3_1, e2_2**1.5)
    out[9], out[10] = ratio(g1_1, e2_1), ratio(g1_2, e2_2)
    out[11], out[12] = ratio(g2_1, e2_1**2), ratio(g2_2, e2_2**2)
    return out


@nb.njit(cache=True)
def jet_hlf(p: np.ndarray):
    """For the constituents ``p`` (n ≥ 1, 4) of one jet: zlogz, the 13 ratios of the whole jet and of its
    mMDT-groomed part, the soft-drop masses (mMDT, β = 2, β = −1) and the indices of the constituents
    the mMDT keeps (one C/A clustering serves all of them)."""
    pt = np.sqrt(p[:, 1] ** 2 + p[:, 2] ** 2)
    z = pt / max(pt.sum(), 1e-300)
    zlogz = 0.0
    for v in z:
        if v > 0:
            zlogz += v * np.log(v)
    mom, left, right, dr, node_pt, root = ca_tree(p)
    masses = np.zeros(3)
    groomed = root
    for k in range(3):
        node = soft_drop(left, right, dr, node_pt, root, SOFT_DROP_BETAS[k])
        masses[k] = mass(mom[node])
        if k == 0:
            groomed = node
    kept = leaves(left, right, groomed)
    return zlogz, ecf_ratios(p), ecf_ratios(p[kept]), masses, kept
