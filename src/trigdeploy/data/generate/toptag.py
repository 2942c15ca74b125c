"""Fast, vectorised top-vs-QCD jet generator in the Top Quark Tagging Reference Dataset layout.

Not a parton shower, but built from the physics that makes top tagging hard:

* **Top jets**: t → b W⁺, W → q q̄′, exact two-body decays with Breit–Wigner masses, boosted to
  the jet pT; each decay quark may radiate once (Sudakov-sampled, up to ΔR 0.8), and 20 % of b
  quarks decay semileptonically, the neutrino taking 10–50 % of the b energy out of the jet.
  Kept only if b, q and q̄′ lie within ΔR < 0.8 of the jet axis (the reference dataset's truth
  matching).
* **QCD jets**: a quark or gluon (colour factor C_F or C_A) whose hardest splitting is drawn from
  the double-logarithmic Sudakov (with its hard-collinear term), ρ = m²/(p_T R)², with z from
  the soft 1/z spectrum; each daughter may split again inside the parent's opening angle
  (angular ordering). A falling mass spectrum with a real tail of two- and three-prong jets.
* **Soft radiation** in both: independent soft gluons, dP ∝ α_s C/π dz/z dθ/θ, up to the jet
  radius, each taking its energy from its emitter.
* **Hadronisation**: each parton becomes a Poisson number of massless particles (mean growing
  with ln E, larger for gluons), energy fractions from a Gamma(0.8) Dirichlet, transverse
  momentum relative to the parton ~ Rayleigh(0.3 GeV).
* **Underlying event** (Poisson soft particles over the cone) and **detector response**:
  σ/E = 50 %/√E ⊕ 5 %; neutral particles (35 %) take the direction of their 0.1 × 0.1
  calorimeter cell; a 0.3 GeV constituent threshold.

The jet is every particle within ΔR < 0.8 of the summed axis; accepted if 550 < pT < 650 GeV and
|η| < 2. Constituents are pT-ordered, truncated/zero-padded to 200. Measured on 16k jets: mass
alone gives AUC ≈ 0.90, a BDT on the 14 ``toptag_jet`` features ≈ 0.98 (published taggers on
the real dataset: 0.972–0.986).
"""

from __future__ import annotations

import numpy as np

from trigdeploy.data import kinematics as kin

R_JET = 0.8
PT_MIN, PT_MAX, ETA_MAX = 550.0, 650.0, 2.0
ALPHA_S = 0.11
C_F, C_A = 4.0 / 3.0, 3.0
M_TOP, W_TOP = 172.5, 1.4
M_W, W_W = 80.4, 2.1
M_B = 4.8
N_PARTONS = 6  # slots per jet: top 3 quarks (+1 splitting each), QCD up to 4
N_HADRONS = 40  # particles per parton at most
N_UE = 20  # underlying-event particles at most
UE_MEAN = 4.0  # mean underlying-event particles in the cone
KT_HAD = 0.30  # GeV, hadronisation transverse momentum scale
GAMMA_SHAPE = 0.8  # Dirichlet shape of hadron energy fractions
PT_THRESHOLD = 0.3  # GeV, constituent threshold
NEUTRAL_FRACTION = 0.35  # photons + neutral hadrons: measured by the calorimeter only
TOWER = 0.1  # calorimeter cell size in eta and phi (neutral directions are cell centres)
TOP_FSR_R = 0.8  # angular range of radiation off the top decay quarks
N_SOFT = 8  # slots for soft gluon emissions per jet
SOFT_RATE = 2.0  # mean soft emissions per unit colour factor (α_s C/π ∫dz/z ∫dθ/θ)
SOFT_Z = (0.01, 0.15)  # energy-fraction range of soft emissions (log-uniform: dz/z)
SOFT_THETA = 0.02  # smallest angle of a soft emission (log-uniform up to the jet radius)
B_SEMILEPTONIC = 0.2  # b → c ℓ ν: the neutrino takes a fraction of the b energy out of the jet
NU_FRACTION = (0.1, 0.5)


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
    semileptonic = rng.uniform(size=n) < B_SEMILEPTONIC
    visible = np.where(semileptonic, 1.0 - rng.uniform(*NU_FRACTION, n), 1.0)
    quarks_ml[:, 0] *= visible[:, None]
    colour = np.full((n, 3), C_F)
    hard, soft, _ = _split(rng, quarks_ml, colour, np.full((n, 3), TOP_FSR_R))
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


def _soft_emissions(rng: np.random.Generator, partons: np.ndarray, colours: np.ndarray):
    """Add independent soft gluons, dP ∝ α_s C/π dz/z dθ/θ, each taking energy from its emitter.

    The emitter of each gluon is drawn with probability ∝ its colour factor; gluons go into
    ``N_SOFT`` extra parton slots. This is the soft, wide-angle radiation that fills QCD jets
    (and top jets) beyond their hardest splittings.
    """
    n, k = colours.shape
    partons = partons.copy()
    live = partons[..., 0] > 1.0
    weight = np.where(live, colours, 0.0)
    total = weight.sum(1)
    count = np.minimum(rng.poisson(SOFT_RATE * total / C_A), N_SOFT)
    cum = np.cumsum(weight, 1) / np.where(total > 0, total, 1.0)[:, None]
    soft = np.zeros((n, N_SOFT, 4))
    rows = np.arange(n)
    lo, hi = np.log(SOFT_Z[0]), np.log(SOFT_Z[1])
    for j in range(N_SOFT):
        active = j < count
        emitter = np.minimum((rng.uniform(size=n)[:, None] > cum).sum(1), k - 1)
        parent = partons[rows, emitter]
        e = parent[:, 0]
        z = np.exp(rng.uniform(lo, hi, n))
        theta = np.exp(rng.uniform(np.log(SOFT_THETA), np.log(R_JET), n))
        direction = kin.tilt(parent[:, 1:] / np.clip(e, 1e-12, None)[:, None], theta, rng.uniform(-np.pi, np.pi, n))
        ok = active & (e > 1.0)
        soft[:, j, 0] = np.where(ok, z * e, 0.0)
        soft[:, j, 1:] = np.where(ok[:, None], (z * e)[:, None] * direction, 0.0)
        partons[rows, emitter] = np.where(ok[:, None], parent * (1.0 - z)[:, None], parent)
    return np.concatenate([partons, soft], 1), np.concatenate([colours, np.full((n, N_SOFT), C_A)], 1)


def _hadronise(rng: np.random.Generator, partons: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Particles (n, max multiplicity, 4) from partons (n, K, 4); empty slots are zero.

    Works on the flat list of all particles of the chunk (no padding per parton), then
    scatters them into one row per jet.
    """
    n, k = colours.shape
    e = partons[..., 0]
    live = e > 1.0
    mean = np.where(live, 1.0 + 2.1 * np.log(np.clip(e, 1.0, None)), 0.0)
    mean *= np.where(colours > 2, 1.45, 1.0)
    mult = np.clip(rng.poisson(mean), np.where(live, 1, 0), N_HADRONS).ravel()
    parent = np.repeat(np.arange(n * k), mult)  # jet-major: parent // k is the jet
    w = rng.gamma(GAMMA_SHAPE, size=len(parent))
    sums = np.bincount(parent, weights=w, minlength=n * k)
    e_flat = e.ravel()
    energy = w / np.where(sums > 0, sums, 1.0)[parent] * e_flat[parent]
    kt = rng.rayleigh(KT_HAD, size=len(parent))
    angle = np.clip(kt / np.clip(energy, 1e-6, None), 0.0, 1.2)
    axis = partons.reshape(-1, 4)[parent, 1:] / np.clip(e_flat[parent], 1e-12, None)[:, None]
    direction = kin.tilt(axis, angle, rng.uniform(-np.pi, np.pi, len(parent)))
    per_jet = mult.reshape(n, k).sum(1)
    jet = parent // k
    position = np.arange(len(parent)) - np.repeat(np.cumsum(per_jet) - per_jet, per_jet)
    out = np.zeros((n, max(int(per_jet.max(initial=0)), 1), 4))
    out[jet, position, 0] = energy
    out[jet, position, 1:] = energy[:, None] * direction
    return out


def _underlying_event(rng: np.random.Generator, n: int, eta, phi) -> np.ndarray:
    count = np.clip(rng.poisson(UE_MEAN, n), 0, N_UE)
    occupied = np.arange(N_UE)[None, :] < count[:, None]
    r = R_JET * np.sqrt(rng.uniform(size=(n, N_UE)))
    a = rng.uniform(-np.pi, np.pi, (n, N_UE))
    pt = 0.3 + rng.exponential(0.9, (n, N_UE))
    p4 = kin.from_pt_eta_phi_m(pt, eta[:, None] + r * np.cos(a), phi[:, None] + r * np.sin(a), 0.0)
    return p4 * occupied[..., None]


def _smear(rng: np.random.Generator, p4: np.ndarray) -> np.ndarray:
    """Energy resolution for all particles; neutral ones get the direction of their calorimeter cell."""
    e = p4[..., 0]
    sigma = np.sqrt(0.25 / np.clip(e, 1e-6, None) + 0.05**2)
    scale = np.clip(1.0 + sigma * rng.standard_normal(e.shape), 0.0, None)
    p4 = p4 * scale[..., None]
    if TOWER > 0:
        neutral = (rng.uniform(size=e.shape) < NEUTRAL_FRACTION) & (e > 0)
        pt, eta, phi = kin.pt(p4), kin.eta(p4), kin.phi(p4)
        eta_c = (np.floor(eta / TOWER) + 0.5) * TOWER
        phi_c = (np.floor(phi / TOWER) + 0.5) * TOWER
        e_new = p4[..., 0]
        pt_c = e_new / np.cosh(eta_c)  # massless, energy kept
        tower = kin.from_pt_eta_phi_m(pt_c, eta_c, phi_c, 0.0)
        p4 = np.where(neutral[..., None], tower, p4)
        del pt, eta, phi
    return p4


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
    partons, colours = _soft_emissions(rng, partons, colours)
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
