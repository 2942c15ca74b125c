"""Fast, vectorised top-vs-QCD jet generator in the Top Quark Tagging Reference Dataset layout.

Not a parton shower, but built from the physics that makes top tagging hard:

* **Top jets**: t → b W⁺, W → q q̄′, exact two-body decays with Breit–Wigner masses, boosted to
  the jet pT; each decay quark may radiate once (Sudakov-sampled, angular range 0.4), so the
  three prongs get substructure and the jet mass a low tail from radiation and prongs outside
  the cone. Kept only if b, q and q̄′ lie within ΔR < 0.8 of the jet axis (as in the reference
  dataset's truth matching).
* **QCD jets**: a quark or gluon (colour factor C_F or C_A) whose hardest splitting is drawn from
  the double-logarithmic Sudakov (with its hard-collinear term), ρ = m²/(p_T R)², with z from
  the soft 1/z spectrum; each daughter may split again inside the parent's opening angle
  (angular ordering). A falling mass spectrum with a real tail of two- and three-prong jets.
* **Hadronisation**: each parton becomes a Poisson number of massless particles (mean growing
  with ln E, larger for gluons), energy fractions from a Gamma(0.8) Dirichlet, transverse
  momentum relative to the parton ~ Rayleigh(0.3 GeV).
* **Underlying event** (Poisson soft particles over the cone) and **calorimeter-like smearing**
  (σ/E = 50 %/√E ⊕ 5 %), a 0.3 GeV constituent threshold.

The jet is every particle within ΔR < 0.8 of the summed axis; accepted if 550 < pT < 650 GeV and
|η| < 2. Constituents are pT-ordered, truncated/zero-padded to 200.
"""

from __future__ import annotations

import numpy as np

from trigdeploy.data import kinematics as kin

R_JET = 0.8
PT_MIN, PT_MAX, ETA_MAX = 550.0, 650.0, 2.0
ALPHA_S = 0.14
C_F, C_A = 4.0 / 3.0, 3.0
M_TOP, W_TOP = 172.5, 1.4
M_W, W_W = 80.4, 2.1
M_B = 4.8
N_PARTONS = 6          # slots per jet: top 3 quarks (+1 splitting each), QCD up to 4
N_HADRONS = 40         # particles per parton at most
N_UE = 20              # underlying-event particles at most
UE_MEAN = 4.0          # mean underlying-event particles in the cone
KT_HAD = 0.30          # GeV, hadronisation transverse momentum scale
GAMMA_SHAPE = 0.8      # Dirichlet shape of hadron energy fractions
PT_THRESHOLD = 0.3     # GeV, constituent threshold


def _sudakov_rho(rng: np.random.Generator, colour: np.ndarray, rho_max: float = 0.2) -> np.ndarray:
    """ρ = m²/(p_T R)² of the hardest emission; 0 where no emission above ρ ≈ 1e-6.

    Inverts Σ(ρ) = exp(−α_s C/π (½L² − B L)), L = ln 1/ρ, with the hard-collinear term
    B = 3/4 (quarks) or 11/12 (gluons) that tames the large-mass edge.
    """
    u = rng.uniform(size=colour.shape)
    b = np.where(colour > 2, 11.0 / 12.0, 0.75)
    x = -np.log(u) * np.pi / (ALPHA_S * colour)
    log_inv = b + np.sqrt(b**2 + 2.0 * x)
    rho = np.exp(-log_inv)
    rho = np.where(rho < 1e-6, 0.0, rho)
    return np.minimum(rho, rho_max)


def _split(rng: np.random.Generator, p4: np.ndarray, colour: np.ndarray, r_max: np.ndarray):
    """Split massless partons ``p4`` once (Sudakov within opening angle ``r_max``).

    Returns (hard daughter, soft daughter, opening angle); the soft daughter is zero where
    no resolvable emission happened.
    """
    e = p4[..., 0]
    rho = _sudakov_rho(rng, colour)
    # z from dz/z on [z_min, 1/2], where z(1-z) = rho is the edge of the angular range.
    z_min = np.clip(0.5 * (1.0 - np.sqrt(np.clip(1.0 - 4.0 * rho, 0.0, 1.0))), 1e-4, 0.5)
    z = z_min * np.exp(rng.uniform(size=e.shape) * np.log(0.5 / z_min))
    theta = r_max * np.sqrt(rho / np.clip(z * (1.0 - z), 1e-12, None))
    emitted = (rho > 0) & (theta < r_max) & (e > 0)
    theta = np.where(emitted, theta, 0.0)
    z = np.where(emitted, z, 0.0)
    n = p4[..., 1:] / np.clip(e, 1e-12, None)[..., None]
    az = rng.uniform(-np.pi, np.pi, e.shape)
    hard_dir = kin.tilt(n, z * theta, az)
    soft_dir = kin.tilt(n, (1.0 - z) * theta, az + np.pi)
    hard = np.concatenate([((1 - z) * e)[..., None], ((1 - z) * e)[..., None] * hard_dir], -1)
    soft = np.concatenate([(z * e)[..., None], (z * e)[..., None] * soft_dir], -1)
    return hard, soft, theta


def _top_partons(rng: np.random.Generator, n: int, pt, eta, phi):
    """Partons (n, 6, 4), their colour factors and the truth top and decay quarks."""
    m_t = np.clip(rng.standard_cauchy(n) * W_TOP / 2 + M_TOP, 150.0, 195.0)
    m_w = np.clip(rng.standard_cauchy(n) * W_W / 2 + M_W, 65.0, 95.0)
    top = kin.from_pt_eta_phi_m(pt, eta, phi, m_t)
    b, w = kin.two_body_decay(rng, top, M_B, m_w)
    q1, q2 = kin.two_body_decay(rng, w, 0.0, 0.0)
    quarks = np.stack([b, q1, q2], axis=1)  # (n, 3, 4)
    # massless partons along the quark directions for the shower
    pmag = np.linalg.norm(quarks[..., 1:], axis=-1, keepdims=True)
    quarks_ml = np.concatenate([pmag, quarks[..., 1:]], axis=-1)
    colour = np.full((n, 3), C_F)
    hard, soft, _ = _split(rng, quarks_ml, colour, np.full((n, 3), 0.4))
    partons = np.concatenate([hard, soft], axis=1)
    colours = np.concatenate([colour, np.full((n, 3), C_A)], axis=1)
    return partons, colours, top, quarks


def _qcd_partons(rng: np.random.Generator, n: int, pt, eta, phi):
    """Partons (n, 6, 4) of a QCD jet with up to two levels of splitting."""
    gluon = rng.uniform(size=n) < 0.55
    colour = np.where(gluon, C_A, C_F)
    jet = kin.from_pt_eta_phi_m(pt, eta, phi, 0.0)
    a, b, theta = _split(rng, jet, colour, np.full(n, R_JET))
    colours_ab = np.stack([colour, np.full(n, C_A)], axis=1)
    ab = np.stack([a, b], axis=1)
    r2 = np.where(theta > 0, theta, R_JET)[:, None].repeat(2, 1)
    hard2, soft2, _ = _split(rng, ab, colours_ab, r2)
    partons = np.zeros((n, N_PARTONS, 4))
    partons[:, 0:2] = hard2
    partons[:, 2:4] = soft2
    colours = np.concatenate([colours_ab, np.full((n, 2), C_A), np.full((n, 2), C_A)], axis=1)
    return partons, colours


def _hadronise(rng: np.random.Generator, partons: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Particles (n, K*N_HADRONS, 4) from partons (n, K, 4); empty slots are zero."""
    e = partons[..., 0]
    live = e > 1.0
    mean = np.where(live, 1.0 + 2.1 * np.log(np.clip(e, 1.0, None) / 1.0), 0.0)
    mean *= np.where(colours > 2, 1.45, 1.0)
    mult = np.clip(rng.poisson(mean), np.where(live, 1, 0), N_HADRONS)
    slot = np.arange(N_HADRONS)
    occupied = slot[None, None, :] < mult[..., None]
    w = rng.gamma(GAMMA_SHAPE, size=occupied.shape) * occupied
    frac = w / np.clip(w.sum(-1, keepdims=True), 1e-12, None)
    energy = frac * e[..., None]
    kt = rng.rayleigh(KT_HAD, size=energy.shape)
    angle = np.clip(kt / np.clip(energy, 1e-6, None), 0.0, 1.2)
    n = partons[..., 1:] / np.clip(e, 1e-12, None)[..., None]
    n = np.broadcast_to(n[..., None, :], energy.shape + (3,))
    direction = kin.tilt(n, angle, rng.uniform(-np.pi, np.pi, energy.shape))
    p4 = np.concatenate([energy[..., None], energy[..., None] * direction], -1)
    return p4.reshape(p4.shape[0], -1, 4)


def _underlying_event(rng: np.random.Generator, n: int, eta, phi) -> np.ndarray:
    count = np.clip(rng.poisson(UE_MEAN, n), 0, N_UE)
    occupied = np.arange(N_UE)[None, :] < count[:, None]
    r = R_JET * np.sqrt(rng.uniform(size=(n, N_UE)))
    a = rng.uniform(-np.pi, np.pi, (n, N_UE))
    pt = 0.3 + rng.exponential(0.9, (n, N_UE))
    p4 = kin.from_pt_eta_phi_m(pt, eta[:, None] + r * np.cos(a), phi[:, None] + r * np.sin(a), 0.0)
    return p4 * occupied[..., None]


def _smear(rng: np.random.Generator, p4: np.ndarray) -> np.ndarray:
    e = p4[..., 0]
    sigma = np.sqrt(0.25 / np.clip(e, 1e-6, None) + 0.05**2)
    scale = np.clip(1.0 + sigma * rng.standard_normal(e.shape), 0.0, None)
    return p4 * scale[..., None]


def _cluster(particles: np.ndarray, n_constituents: int):
    """Jet four-vector and pT-ordered constituents (n, n_constituents, 4) within ΔR < 0.8."""
    ppt = kin.pt(particles)
    keep = ppt > PT_THRESHOLD
    axis = (particles * keep[..., None]).sum(1)
    dr = kin.delta_r(kin.eta(particles), kin.phi(particles), kin.eta(axis)[:, None], kin.phi(axis)[:, None])
    keep &= dr < R_JET
    order = np.argsort(-np.where(keep, ppt, -1.0), axis=1, kind="stable")
    sorted_p = np.take_along_axis(particles * keep[..., None], order[..., None], axis=1)
    jet = sorted_p.sum(1)
    const = np.zeros((particles.shape[0], n_constituents, 4))
    k = min(n_constituents, sorted_p.shape[1])
    const[:, :k] = sorted_p[:, :k]
    return jet, const, keep.sum(1)


def _propose(rng: np.random.Generator, n: int, signal: bool, n_constituents: int):
    """Generate ``n`` candidate jets; returns arrays and the acceptance mask."""
    # falling parent spectrum over a window wider than the acceptance (radiation leaves the cone)
    u = rng.uniform(size=n)
    lo, hi, k = 530.0, 720.0, 4.0
    pt = (lo ** (1 - k) + u * (hi ** (1 - k) - lo ** (1 - k))) ** (1 / (1 - k))
    eta = rng.uniform(-2.3, 2.3, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    if signal:
        partons, colours, top, quarks = _top_partons(rng, n, pt, eta, phi)
    else:
        partons, colours = _qcd_partons(rng, n, pt, eta, phi)
        top = np.zeros((n, 4))
    particles = np.concatenate([_hadronise(rng, partons, colours), _underlying_event(rng, n, eta, phi)], axis=1)
    particles = _smear(rng, particles)
    jet, const, _ = _cluster(particles, n_constituents)
    jpt, jeta = kin.pt(jet), kin.eta(jet)
    ok = (jpt > PT_MIN) & (jpt < PT_MAX) & (np.abs(jeta) < ETA_MAX)
    if signal:
        dr = kin.delta_r(kin.eta(quarks), kin.phi(quarks), jeta[:, None], kin.phi(jet)[:, None])
        ok &= (dr < R_JET).all(axis=1)
    return const, top, ok


def generate_chunk(
    rng: np.random.Generator, n: int, signal: bool, n_constituents: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n`` accepted jets of one class.

    Returns ``(constituents (n, n_constituents, 4) float32, truth top four-vectors (n, 4)
    float32)``, four-vectors ordered (E, px, py, pz) in GeV.
    """
    consts, truths, have, rounds = [], [], 0, 0
    while have < n:
        rounds += 1
        if rounds > 50:
            raise RuntimeError(f"toptag generator accepted only {have} of {n} jets in 50 rounds")
        batch = max(256, int((n - have) * 1.6))
        const, top, ok = _propose(rng, batch, signal, n_constituents)
        consts.append(const[ok][: n - have])
        truths.append(top[ok][: n - have])
        have += len(consts[-1])
    return (
        np.concatenate(consts).astype(np.float32),
        np.concatenate(truths).astype(np.float32),
    )
