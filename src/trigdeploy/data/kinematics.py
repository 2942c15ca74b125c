"""Vectorised four-vector helpers (E, px, py, pz in the last axis) used by the generators."""

from __future__ import annotations

import numpy as np


def from_pt_eta_phi_m(pt, eta, phi, m) -> np.ndarray:
    """Four-vectors ``(..., 4)`` = (E, px, py, pz) from collider coordinates."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.stack([e, px, py, pz], axis=-1)


def pt(p4: np.ndarray) -> np.ndarray:
    """Transverse momentum of four-vectors (E, px, py, pz) in the last axis."""
    return np.hypot(p4[..., 1], p4[..., 2])


def eta(p4: np.ndarray) -> np.ndarray:
    """Pseudorapidity; 0 for null vectors."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.arcsinh(p4[..., 3] / pt(p4))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def phi(p4: np.ndarray) -> np.ndarray:
    """Azimuth of four-vectors (E, px, py, pz) in the last axis."""
    return np.arctan2(p4[..., 2], p4[..., 1])


def mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass of four-vectors (E, px, py, pz); 0 where it would be imaginary."""
    m2 = p4[..., 0] ** 2 - (p4[..., 1:] ** 2).sum(-1)
    return np.sqrt(np.clip(m2, 0.0, None))


def delta_phi(a, b) -> np.ndarray:
    """a − b wrapped into [−π, π) (floor is several times faster than % on float arrays)."""
    d = np.subtract(a, b)
    two_pi = d.dtype.type(2 * np.pi) if isinstance(d, np.ndarray) else 2 * np.pi
    return d - two_pi * np.floor((d + two_pi / 2) / two_pi)


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    """ΔR = √(Δη² + Δφ²), Δφ wrapped into [-π, π)."""
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Boost four-vectors ``p4`` by velocity ``beta`` (``(..., 3)``, broadcastable)."""
    b2 = np.clip((beta**2).sum(-1, keepdims=True), 0.0, 1.0 - 1e-15)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = (beta * p4[..., 1:]).sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    e = gamma * (p4[..., :1] + bp)
    p = p4[..., 1:] + coef * bp * beta + gamma * beta * p4[..., :1]
    return np.concatenate([e, p], axis=-1)


def random_unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Isotropic unit vectors ``shape + (3,)``."""
    cos_t = rng.uniform(-1.0, 1.0, shape)
    sin_t = np.sqrt(1.0 - cos_t**2)
    ph = rng.uniform(-np.pi, np.pi, shape)
    return np.stack([sin_t * np.cos(ph), sin_t * np.sin(ph), cos_t], axis=-1)


def two_body_decay(rng: np.random.Generator, parent: np.ndarray, m1, m2) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay of ``parent`` four-vectors into masses ``m1``, ``m2`` (lab frame)."""
    m = mass(parent)
    m1 = np.broadcast_to(m1, m.shape)
    m2 = np.broadcast_to(m2, m.shape)
    arg = (m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)
    pstar = np.sqrt(np.clip(arg, 0.0, None)) / (2.0 * m)
    n = random_unit(rng, m.shape)
    p = pstar[..., None] * n
    d1 = np.concatenate([np.sqrt(pstar**2 + m1**2)[..., None], p], axis=-1)
    d2 = np.concatenate([np.sqrt(pstar**2 + m2**2)[..., None], -p], axis=-1)
    beta = parent[..., 1:] / parent[..., :1]
    return boost(d1, beta), boost(d2, beta)


def perpendicular_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to the unit vectors ``n`` and to each other."""
    ref = np.zeros_like(n)
    use_x = np.abs(n[..., 2]) > 0.9
    ref[..., 2] = np.where(use_x, 0.0, 1.0)
    ref[..., 0] = np.where(use_x, 1.0, 0.0)
    u = np.cross(n, ref)
    norm = np.linalg.norm(u, axis=-1, keepdims=True)
    u = np.where(norm > 1e-12, u / np.where(norm > 1e-12, norm, 1.0), ref)
    v = np.cross(n, u)
    return u, v


def tilt(n: np.ndarray, angle: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Unit vectors at polar ``angle`` from ``n`` and the given ``azimuth`` around it."""
    u, v = perpendicular_basis(n)
    s = np.sin(angle)[..., None]
    return np.cos(angle)[..., None] * n + s * np.cos(azimuth)[..., None] * u + s * np.sin(azimuth)[..., None] * v
