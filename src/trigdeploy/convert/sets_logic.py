"""A fixed-point Deep Sets (``models.deepsets.IntegerSets``) as alkaid logic: the whole set at once, or folded in time.

``trace``: one combinational program, one copy of φ per particle, a new event every clock once alkaid pipelines it.

``fold``: a design that takes a new event every ``F`` clocks (II = F) with ``N / F`` copies of φ. It is an alkaid
``FSM`` of these blocks, each checked on its own and together:

* a counter ``c`` (its initial value F − 1, then ``(c + 1) mod F`` every clock, no reset port: a new event is taken
  at the first clock after configuration and every F clocks after it);
* the port register: the event's words, captured when ``c = F − 1`` (the clock the port holds the event);
* φ on one slice of ``N / F`` particles (the slice the counter selects; the jet's values beside it: with L1 words
  its two words, with ``features.jet_features`` its J values), pipelined by alkaid at the clock period: the slice's
  exact sum of masked φ outputs, and with J jet values that sum plus ψ of them as well;
* the accumulator: the first slice's sum loaded (plus ψ, so ψ counts once per event, as in ``trace``), each next
  one added, exactly (its grid holds every partial sum: ψ's range and F times the slice sum's, so nothing wraps);
* ρ, pipelined: the full sum rounded and saturated onto the pool's grid, then ρ's layers (as in ``trace``);
* the output register, written once per event.

Integer sums do not depend on their order, so the folded design's logits are the whole design's bit for bit.
Event ``k`` arrives at clock ``k F``; its logits are in the output register from clock ``k F + F + Lφ + Lρ``
(``Lφ``, ``Lρ``: φ's and ρ's pipeline stages) for F clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from trigdeploy.errors import TrigdeployError
from trigdeploy.logits import compare

EMULATED_EVENTS = 64  # events the cycle-by-cycle emulation of a folded design checks before it is written


def onto(x, grid):
    """``x`` on ``grid`` (a ``deepsets.Grid``): its rounding, saturation; an unsigned grid takes negatives to 0."""
    from alkaid.trace.ops import quantize

    return quantize(x, int(grid.signed), grid.integer, grid.frac, "SAT", grid.rounding)


def _set_of(sets, inp, n: int):
    """(features on the port's grid, masks) of ``n`` particles from the traced port ``inp``."""
    from alkaid.trace.ops import quantize

    f, port = sets.features, sets.port
    if sets.front is not None:  # L1 words: the front computes the set, the model's input quantizer rounds it
        p = replace(sets.front, particles=n).trace(inp)
        return onto(p[:, :f], port), p[:, f:]
    p = inp[: n * (f + 1)].reshape(n, f + 1)
    return quantize_port(p[:, :f], port), quantize(p[:, f:], 0, 1, 0)  # one mask bit per particle


def _port(sets, n: int):
    """The traced port: ``n`` particles' values flat, particle-major, then the jet's (L1: its two words)."""
    from alkaid.trace import FVArrayInput

    return FVArrayInput((3 * n + 2,) if sets.front is not None else (n * (sets.features + 1) + sets.jet,))


def _phi_parts(sets, inp, n: int):
    """(the exact sum of φ over the ``n`` particles present at the port ``inp``, that sum plus ψ of the jet's values
    or None without them)."""
    h, mask = _set_of(sets, inp, n)
    for dense, grid in sets.phi:
        h = onto(dense(h), grid)  # ``Dense.__call__`` traces as it computes
    pooled = (h * mask).sum(axis=0)
    if sets.psi is None:
        return pooled, None
    return pooled, pooled + sets.psi(quantize_port(inp[n * (sets.features + 1) :], sets.port))


def _phi_sum(sets, inp, n: int):
    """The exact sum of φ over the ``n`` particles present at the port ``inp`` (plus ψ of the jet's values)."""
    pooled, with_psi = _phi_parts(sets, inp, n)
    return pooled if with_psi is None else with_psi


def quantize_port(x, port):
    """Traced values ``x`` on the port's signed grid (the model's input quantizer), as the particles' are."""
    from alkaid.trace.ops import quantize

    return quantize(x, int(port.signed), port.integer, port.frac)


def _rho(sets, x):
    x = onto(x, sets.pool)
    for dense, grid in sets.rho:
        x = dense(x) if grid is None else onto(dense(x), grid)
    return x


def trace(sets):
    """alkaid ``CombLogic`` of the whole Deep Sets: φ on each of the N particles, their exact sum, ρ."""
    from alkaid.trace import trace as alkaid_trace

    inp = _port(sets, sets.particles)
    return alkaid_trace(inp, _rho(sets, _phi_sum(sets, inp, sets.particles)))


def design(sets, n_fold: int, clock_ns: float):
    """The design export writes for ``sets`` folded ``n_fold`` times (the target's ``sets_rtl.fold``), the check it must pass
    before it is written (``check(x, reference)`` → a ``logits.compare`` record) and the ``Folded`` design
    (None at fold 1: the whole set at once, ``trace``, checked by alkaid's interpreter on every event)."""
    if n_fold == 1:
        from trigdeploy.convert import to_rtl

        comb = trace(sets)
        return comb, lambda x, reference: to_rtl.check(comb, x, reference), None
    folded = fold(sets, n_fold, clock_ns)
    return folded.fsm, lambda x, reference: check(folded, x, reference), folded


def _kifs(qints) -> tuple[tuple[int, int, int], ...]:
    return tuple((int(q.kif[0]), int(q.kif[1]), int(q.kif[2])) for q in qints)


def _counter(fold: int, flags: tuple[int, ...]):
    """``c`` → (``(c + 1) mod fold``, then one bit per value of ``flags``: ``c`` equals it)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    bits = max(1, int(np.ceil(np.log2(fold))))
    inp = FVArrayInput((1,))
    c = quantize(inp, 0, bits, 0)[0]
    nxt = c + 1.0
    nxt = nxt - (nxt >= fold) * float(fold)
    equal = [(c >= v) * 1.0 - (c >= v + 1) * 1.0 for v in flags]  # 1 where c = v (c >= v + 1 is 0 at the top)
    return alkaid_trace(inp, [quantize(nxt, 0, bits, 0), *(quantize(e, 0, 1, 0) for e in equal)])


def _adder(acc, part):
    """(accumulator, slice sum) → their sum on the accumulator's grid (it holds every partial sum: exact)."""
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    h = len(acc)
    inp = FVArrayInput((2 * h,))
    a, b = np.array(acc).T, np.array(part).T
    return alkaid_trace(inp, quantize(quantize(inp[:h], *a) + quantize(inp[h:], *b), *a))


def _rho_logic(sets, acc):
    from alkaid.trace import FVArrayInput
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.ops import quantize

    inp = FVArrayInput((len(acc),))
    return alkaid_trace(inp, _rho(sets, quantize(inp, *np.array(acc).T)))


@dataclass(frozen=True)
class Folded:
    """A Deep Sets folded ``fold`` times: its ``FSM``, φ's and ρ's pipeline stages (the blocks the FSM holds,
    in order), the counter, the adder, and when event 0's logits are in the output register (``out_at``)."""

    fsm: object
    fold: int
    per_slice: int  # particles per clock: copies of φ
    phi: tuple
    rho: tuple
    counter: object
    adder: object
    out_at: int
    jet_words: int  # the jet's values after the particles' (L1: its eta and phi words; features: J values; or 0)
    psi: bool  # φ's slice block gives the slice sum, then the slice sum plus ψ (the first slice loads the latter)


def fold(sets, fold: int, clock_ns: float) -> Folded:
    """``sets`` folded ``fold`` (≥ 2, dividing N) times (the module docstring), its blocks pipelined at
    ``clock_ns``. alkaid 0.8's pipelining of one program into stages and its FSM's signal views (a view
    offset by a register: the slice) are what it is built from (private in alkaid 0.8, the series the project
    allows; the tests build and simulate it)."""
    from alkaid.trace import trace as alkaid_trace
    from alkaid.trace.pipeline import _split_comb_logic

    n = sets.particles
    if fold < 1 or n % fold:
        raise TrigdeployError(f"sets_rtl.fold: {fold} does not divide the model's {n} particles")
    if fold == 1:
        raise TrigdeployError("sets_rtl.fold: 1 is the whole set at once (trace), not a folded design")
    m = n // fold
    inp = _port(sets, m)
    pooled, with_psi = _phi_parts(sets, inp, m)
    part = alkaid_trace(inp, pooled if with_psi is None else [pooled, with_psi])
    h = len(part.out_qint) if with_psi is None else len(part.out_qint) // 2
    acc = _kifs(_partial_sums(s, first, fold) for s, first in zip(part.out_qint[:h], part.out_qint[-h:]))
    phi = _split_comb_logic(part, latency_cutoff=clock_ns, verbose=False)
    rho = _split_comb_logic(_rho_logic(sets, acc), latency_cutoff=clock_ns, verbose=False)
    lp, lr = len(phi), len(rho)
    counter = _counter(fold, (fold - 1, (lp - 1) % fold, (lp + lr - 2) % fold))
    adder = _adder(acc, _kifs(part.out_qint[:h]))
    parts = (phi, rho, counter, adder)
    jet = 2 if sets.front is not None else sets.jet
    fsm = _fsm(parts, fold, _kifs(part.inp_qint), acc, fold + lp + lr, (jet, with_psi is not None))
    return Folded(fsm, fold, m, phi, rho, counter, adder, fold + lp + lr, jet, with_psi is not None)


def _partial_sums(s, first, fold: int):
    """The interval of every partial sum of an event: the first slice's value (``first``: the slice sum, or with the
    jet's values the slice sum plus ψ), then ``j`` more slice sums (``s``), j = 0 … fold − 1."""
    from alkaid.types import QInterval

    low, high = first.min + (fold - 1) * min(0.0, s.min), first.max + (fold - 1) * max(0.0, s.max)
    return QInterval(low, high, min(s.step, first.step))


def _fsm(parts, fold: int, per_slice: tuple, acc: tuple, out_at: int, jet_psi: tuple[int, bool]):
    """The blocks wired (the module docstring): ``per_slice`` the precisions of φ's port (a slice, then the jet's
    values), ``acc`` the accumulator's; ``jet_psi``: (the jet's values at the port, φ's block adds ψ)."""
    from alkaid.stateful import FSM, Conn, ModuloSchedule, Signal
    from alkaid.stateful.fsm import _comb_io_signals

    phi, rho, counter, adder = parts
    logic = {"ctl": counter, "add": adder, **{f"phi{i}": c for i, c in enumerate(phi)}}
    logic.update({f"rho{i}": c for i, c in enumerate(rho)})
    io = {name: _comb_io_signals(name, c) for name, c in logic.items()}
    jet, psi = jet_psi
    w = len(per_slice) - jet  # values of one slice
    port = per_slice[:w] * fold + per_slice[w:]
    inp = Signal("model_inp", True, port, reg=False, mode="r", schedule=ModuloSchedule((0, 1), fold))
    held = Signal("inp_reg", False, port, reg=True)
    cnt = Signal("cnt", False, _kifs(counter.inp_qint), rst_to=(fold - 1,), reg=True)
    flags = io["ctl"][1]
    capture, first, emit = flags[1:2], flags[2:3], flags[3:4]
    conns = [Conn(cnt, io["ctl"][0]), Conn(flags[0:1], cnt), Conn(inp, held, enable_if=capture)]
    part = Signal("inp_reg", False, port, reg=True, view=(0, w), _dynamic_bias=(cnt, w))  # slice c of the event
    conns.append(Conn(part, io["phi0"][0][0:w]))
    if jet:
        conns.append(Conn(held[w * fold : w * fold + jet], io["phi0"][0][w : w + jet]))
    conns += _stages(phi, "phi", io)
    h, last = len(acc), io[f"phi{len(phi) - 1}"][1]
    total = Signal("acc_reg", False, acc, reg=True)
    load = last[h : 2 * h] if psi else last  # the first slice's sum, plus ψ
    conns += [Conn(total, io["add"][0][0:h]), Conn(last[0:h] if psi else last, io["add"][0][h : 2 * h])]
    conns.append(Conn(load, total, enable_if=first, alt_src=io["add"][1]))  # the first slice loads, others add
    conns.append(Conn(total, io["rho0"][0]))
    conns += _stages(rho, "rho", io)
    out_k = _kifs(rho[-1].out_qint)
    out = Signal("model_out", True, out_k, reg=True, mode="w", schedule=ModuloSchedule((out_at, out_at + 1), fold))
    conns.append(Conn(io[f"rho{len(rho) - 1}"][1], out, enable_if=emit))
    return FSM(logic, tuple(conns))


def _stages(stages, name: str, io) -> list:
    """A pipeline's registers: stage ``i``'s outputs held for stage ``i + 1``."""
    from alkaid.stateful import Conn, Signal

    conns = []
    for i in range(1, len(stages)):
        r = Signal(f"{name}{i}_reg", False, _kifs(stages[i].inp_qint), reg=True)
        conns += [Conn(io[f"{name}{i - 1}"][1], r), Conn(r, io[f"{name}{i}"][0])]
    return conns


def _compose(stages, x: np.ndarray) -> np.ndarray:
    for comb in stages:
        x = np.asarray(comb.predict(np.ascontiguousarray(x, np.float64)), np.float64).reshape(len(x), -1)
    return x


def blocks_predict(folded: Folded, x: np.ndarray) -> np.ndarray:
    """The folded design's blocks on every event of ``x`` (the port's values, one row per event), the way the FSM
    feeds them: φ's stages on each slice (the jet's values beside each), the first slice's sum (plus ψ) loaded, the
    adder over the other slices in order, ρ's stages on the sum."""
    x = np.asarray(x, np.float64)
    rows, fold = len(x), folded.fold
    jet = x[:, x.shape[1] - folded.jet_words :] if folded.jet_words else x[:, :0]
    slices = x[:, : x.shape[1] - folded.jet_words].reshape(rows, fold, -1)
    slices = np.concatenate([slices, np.repeat(jet[:, None, :], fold, axis=1)], axis=2)
    part = _compose(folded.phi, slices.reshape(rows * fold, -1)).reshape(rows, fold, -1)
    h = part.shape[2] // 2 if folded.psi else part.shape[2]
    acc = part[:, 0, -h:]  # the first slice's sum (plus ψ)
    for j in range(1, fold):
        acc = _compose((folded.adder,), np.concatenate([acc, part[:, j, :h]], axis=1))
    return _compose(folded.rho, acc)


def emulate(folded: Folded, x: np.ndarray) -> np.ndarray:
    """alkaid's cycle-by-cycle emulation of the FSM: event ``k`` on the port at clock ``k · fold``, its logits read
    from the output register at clock ``out_at + k · fold``."""
    from alkaid.stateful.fsm import FSMEmu  # FSM.predict reads a one-clock-in-F port one event late (alkaid 0.8.2)

    fsm = folded.fsm
    emu = FSMEmu(fsm)
    rows, fold = len(x), folded.fold
    out = np.empty((rows, fsm.out_signals[0].size))
    for t in range(rows * fold + folded.out_at):
        if t % fold == 0 and t // fold < rows:
            emu.buffers["model_inp"][:] = x[t // fold]
        emu.eval()
        emu.tick()
        emu.eval()
        k, r = divmod(t + 1 - folded.out_at, fold)
        if r == 0 and 0 <= k < rows:
            out[k] = emu.buffers["model_out"]
    return out


def check(folded: Folded, x: np.ndarray, reference: np.ndarray) -> dict:
    """The folded design against ``reference``: its blocks on every event (``blocks_predict``), and alkaid's
    emulation of the whole FSM, clock by clock, on the first ``EMULATED_EVENTS``; both must be exact. The
    record is the blocks' (every event), with the emulation's beside it."""
    out = compare(blocks_predict(folded, x), reference)
    n = min(EMULATED_EVENTS, len(x))
    emulated = compare(emulate(folded, np.asarray(x[:n], np.float64)), np.asarray(reference)[:n])
    out["emulated"] = {k: emulated[k] for k in ("n_events", "n_mismatch", "max_abs_diff")}
    out["ok"] = bool(out["ok"] and emulated["ok"])
    out["n_mismatch"] = max(out["n_mismatch"], emulated["n_mismatch"])
    return out
