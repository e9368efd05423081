"""Programming through a passive crossbar: half-select biasing schemes and the parallel update.

Public API: :data:`ARRAY_SCHEMES`, :data:`HALF_SELECT`, :class:`WriteStats`, :class:`PassiveArray`,
:func:`row_phases`, :func:`check_voltage_dependence`, :func:`half_select_fractions`.

The pulse layer (:mod:`ebana.updates.pulses`, :mod:`ebana.updates.algorithms`) decides for every
device (i, j) of a crossbar a pulse of signed amplitude ``v_ij`` (V) and width ``t_ij`` (s). With
``device.array_scheme = "selector"`` (the default) every device is reached on its own (a selector
per cell) and receives exactly that pulse, all at once. A passive array has no selectors: a line
voltage reaches every device on the line. The schemes here drive wordline i (row) and bitline j
(column) with voltages ``V_r`` and ``V_c`` so that each device sees ``V_r - V_c`` (V) for the time
the lines hold them; devices that are not being written see a *partial* voltage and move by
exactly what the device model does at that voltage (thresholded devices stay put below their
threshold, continuous-drift devices drift). Wires are ideal here (no IR drop).

**Row by row** (``row_v2``, ``row_v3``; arrays.md §3). Rows are written one after the other; a row
takes one phase per polarity that it needs (SET, then RESET), because one wordline cannot bias
potentiating and depressing cells at once. In a phase of row i with signed amplitude ``a`` (V, the
largest |v_ij| of the phase, its sign the polarity) and duration ``T = max t_ij`` (s) of the cells
it writes (the *selected* columns):

======================================  ==================  ======================
device                                  ``row_v2`` (V/2)    ``row_v3`` (V/3)
======================================  ==================  ======================
line levels                             row i: a/2;         row i: a; other rows:
                                        selected column j   a/3; selected column j
                                        during its pulse:   during its pulse:
                                        a/2 - v_ij; all     a - v_ij; other
                                        others 0            columns: 2a/3
(i, j) selected, during its pulse       v_ij                v_ij
(i, j) selected, rest of the phase      a/2                 a/3
(i, k) unselected column, whole phase   a/2                 a/3
(i', j) other row, during j's pulse     v_ij - a/2          v_ij - 2a/3
(i', j) other row, rest of the phase    0                   -a/3
(i', k) other row and column            0                   -a/3
======================================  ==================  ======================

Column pulses start with the phase. For PWM (``|v_ij| = a``) the partial voltages are exactly
±a/2 and ±a/3 of the textbook schemes; with PAM amplitudes they reach ``v_ij - a/2`` (V/2) and
``v_ij - 2a/3`` (V/3). The write time of a crossbar is the sum of its phase durations, so for
one polarity and equal widths t it is rows × t. ``column_v2`` / ``column_v3`` are the same with
rows and columns exchanged (bitline j selected, the wordlines carry the per-cell pulses).

**Parallel outer product** (``outer_product``; Gokmen & Vlasov, Front. Neurosci. 10:333 (2016),
the RPU stochastic update; aihwkit's pulsed update). All rows and columns fire at once: in each
of ``BL`` time slots of width ``t_slot`` row i fires a pulse of ``+a/2`` with probability ``p_i``
and column j one of ``-a/2`` with probability ``q_j``; a device where both fire sees ``a`` (a
coincidence: the programming pulse), one where only one fires sees ``a/2`` (half-selected). The
expected coincidence time is ``BL·p_i·q_j·t_slot``, an outer product, while EqProp's requested
pulse times ``τ_ij = sign(v_ij)·t_ij`` form a full matrix. The update therefore writes the best
rank-``k`` approximation of τ (truncated SVD, computed by the digital periphery; ``k =
device.array_rank``): for a term ``s·u·wᵀ``, ``p_i = |u_i|/max|u|``, ``q_j = |w_j|/max|w|``,
``t_slot = s·max|u|·max|w|/BL``, and four sign quadrants (u > 0, w > 0 and u < 0, w < 0 with
``a = v_set``; the mixed ones with ``a = v_reset``) are written one after the other, each in BL
slots. Its write time is ``BL·t_slot`` per non-empty quadrant, independent of the array size.

**Dead partial voltages, in one pass.** When every partial voltage of a row / column write lies
in the dead zone of a separable device (``g(V) = 0``, e.g. VTEAM between its thresholds) and the
device has no cycle-to-cycle noise, only the selected devices move, each exactly by its own pulse;
every other segment is a hold at a fixed state, with energy ``V·I(V, x)·T``. :class:`PassiveArray`
then writes the crossbar in one pass (:meth:`PassiveArray._write_dead`): the pulses at once, and
per cell and partial voltage the time it spends there before its own pulse (prefix sums over the
rows) and after it (suffix sums), so O(rows·cols) instead of O(rows²·cols). States, energy, write
time and disturb (0) equal those of the step-by-step write (``tests/test_array_schemes.py``).
Anything else (V/3 at amplitudes beyond three thresholds, continuous drift, PAM amplitudes with
many distinct partial voltages, c2c noise) takes the step-by-step write.

**Crossbars** are separate arrays with their own drivers, written at the same time: an update's
write time is the largest of its crossbars' (s). **Disturb** is the state change (|Δx|, –) a
device accumulates while it is *not* selected (half- or unselected, including a selected cell's
tail at a/2 or a/3), summed over the update and reported per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Iterator, Sequence

import numpy as np

from ebana.config import ARRAY_SCHEMES
from ebana.devices.base import PulseResult
from ebana.errors import ConfigError

__all__ = ["ARRAY_SCHEMES", "HALF_SELECT", "WriteStats", "PassiveArray", "row_phases", "row_plan", "dead_times",
           "outer_phases",
           "check_voltage_dependence", "half_select_fractions", "protected", "uniform_params"]

HALF_SELECT = ARRAY_SCHEMES[1:]
"""Schemes without selectors: devices that are not written see partial voltages."""

_PROBE_STATES = np.linspace(0.1, 0.9, 9)
"""States (–) at which :func:`check_voltage_dependence` compares the full and partial rates."""


def half_select_fractions(scheme: str) -> tuple[float, ...]:
    """Partial voltages of a scheme as fractions of the programming amplitude (–)."""
    if scheme in ("row_v2", "column_v2", "outer_product"):
        return (0.5,)
    if scheme in ("row_v3", "column_v3"):
        return (1.0 / 3.0, -1.0 / 3.0)
    return ()


def check_voltage_dependence(model, scheme: str, v_set: float, v_reset: float, name: str) -> None:
    """Refuse a half-select scheme on a device that moves as fast at the partial voltage as at
    the full one of the same polarity, at every probe state (no voltage dependence: the scheme
    could not tell selected devices from the rest).

    ``model``: the device model (nominal, read-mapped); ``v_set`` > 0 and ``v_reset`` < 0 (V): the
    programming amplitudes; ``name``: the model's name for the message.
    """
    for a in (v_set, v_reset):
        full = np.abs(model.dxdt(np.float64(a), _PROBE_STATES))
        if not np.any(full > 0):
            continue
        for f in sorted({abs(f) for f in half_select_fractions(scheme)}):   # same polarity as a
            part = np.abs(model.dxdt(np.float64(f * a), _PROBE_STATES))
            if np.all(part >= full * (1 - 1e-9)):
                raise ConfigError(f"device.array_scheme = {scheme!r} needs a device whose drift depends on the "
                                  f"voltage: device.model = {name!r} moves as fast at {f * a:.4g} V (half-selected) "
                                  f"as at {a:.4g} V (selected)")


def protected(model, scheme: str, v_set: float, v_reset: float) -> bool:
    """True when no half-selected device moves under PWM at ``v_set``/``v_reset`` (V): every partial
    voltage of the scheme is inside the model's dead zone at every probe state."""
    for a in (v_set, v_reset):
        for f in half_select_fractions(scheme):
            if np.any(model.dxdt(np.float64(f * a), _PROBE_STATES) != 0):
                return False
    return True


@dataclass
class WriteStats:
    """What the writes since the last :meth:`PassiveArray.take_stats` cost (accumulated)."""

    t_write: float = 0.0   # s, write time (crossbars in parallel, writes in sequence)
    disturb: float = 0.0   # –, sum over devices of |Δx| while not selected


Step = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One time step of a crossbar: voltage (V), duration (s) and selected mask, each (rows, cols)."""


def row_phases(v: np.ndarray, t: np.ndarray, scheme: str) -> tuple[list[Step], float]:
    """Steps and write time (s) of one crossbar written row by row (module docstring table).

    ``v`` (V, signed) and ``t`` (s) are the per-cell pulses, shape (rows, cols); cells with
    ``v == 0`` or ``t == 0`` are not written. ``scheme``: ``row_v2`` or ``row_v3``. The phase
    quantities come from :func:`row_plan`; here each row's phase becomes whole-array steps.
    """
    plan, _ = row_plan(v, t, scheme)
    n_r, n_c = v.shape
    steps: list[Step] = []
    t_total = 0.0
    for i in range(n_r):
        for _, sel_all, has, h_all, u_all, during, t_all in plan:   # the row's SET phase, then its RESET
            if not has[i]:
                continue
            sel, h, u, t_ph = sel_all[i], h_all[i], u_all[i], t_all[i]
            d1 = np.where(sel, t[i], t_ph)
            s1 = np.where(sel, during[i], u)[None, :].repeat(n_r, axis=0)   # other rows
            s1[i] = np.where(sel, v[i], h)                                  # the selected row
            m1 = np.zeros((n_r, n_c), dtype=bool)
            m1[i] = sel
            steps.append((s1, np.broadcast_to(d1, (n_r, n_c)), m1))
            d2 = t_ph - d1
            if np.any(d2 > 0):   # the rest of the phase after each cell's own pulse
                s2 = np.full((n_r, n_c), u)
                s2[i] = h
                steps.append((s2, np.broadcast_to(d2, (n_r, n_c)), np.zeros((n_r, n_c), dtype=bool)))
            t_total += float(t_ph)
    return steps, t_total


MAX_DEAD_VOLTAGES = 16
"""Most distinct partial voltages a one-pass write (:meth:`PassiveArray._write_dead`) accumulates."""


def row_plan(v: np.ndarray, t: np.ndarray, scheme: str) -> tuple[list[tuple], float]:
    """The phases of a row-by-row write as arrays over rows (module docstring table), in the
    order of :func:`row_phases` (every row's SET phase before its RESET phase).

    Returns (phases, write time s); each phase is ``(pol, sel, has, h, u, during, t_ph)``:
    ``sel`` (rows, cols) the cells it writes, ``has`` (rows,) the rows that have it, ``h`` and
    ``u`` (rows,) the voltages of the row's unselected cells and of other rows' unselected cells,
    ``during`` (rows, cols) what other rows see on a selected column during its pulse (V), and
    ``t_ph`` (rows,) the phase duration (s, 0 where the row has no such phase).
    """
    third = scheme == "row_v3"
    want = (v != 0) & (t > 0)
    phases, t_total = [], 0.0
    for pol in (1.0, -1.0):
        sel = want & (np.sign(v) == pol)
        has = sel.any(axis=1)
        a = pol * np.max(np.where(sel, np.abs(v), 0.0), axis=1, initial=0.0)
        t_ph = np.max(np.where(sel, t, 0.0), axis=1, initial=0.0)
        h = a / 3.0 if third else a / 2.0
        u = -a / 3.0 if third else np.zeros_like(a)
        during = v - (2.0 * a / 3.0 if third else a / 2.0)[:, None]
        phases.append((pol, sel, has, h, u, during, t_ph))
        t_total += float(t_ph.sum())
    return phases, t_total


def _partial_voltages(phases: list[tuple]) -> np.ndarray:
    """The distinct nonzero partial voltages (V) of a row-by-row write (sorted)."""
    vals = [np.concatenate([h[has], u[has], during[sel]]) for _, sel, has, h, u, during, _ in phases]
    vals = np.unique(np.concatenate(vals)) if vals else np.zeros(0)
    return vals[vals != 0]


def dead_times(phases: list[tuple], volts: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per partial voltage ``volts[k]`` and cell: the time (s) spent at it before the cell's own
    pulse and after it, (K, rows, cols) each, for a write whose partial voltages move nothing.

    Other rows' phases count before the cell's pulse when their row comes first; in its own row the
    cell sees ``h`` while not pulsed (before its pulse in the SET phase when it is RESET-pulsed,
    after in the RESET phase when it is SET-pulsed) and ``h`` for the rest of its own phase after
    its pulse."""
    n_r, n_c = t.shape
    before = np.zeros((volts.size, n_r, n_c))
    after = np.zeros((volts.size, n_r, n_c))
    pulsed_set = phases[0][1]
    for pol, sel, has, h, u, during, t_ph in phases:
        t_sel = np.where(sel, t, 0.0)
        for k, vk in enumerate(volts):
            # what one row's phase gives the other rows, per column; prefix / suffix sums over rows
            tau = np.where(sel & (during == vk), t_sel, 0.0) + np.where((u == vk)[:, None] & has[:, None],
                                                                         t_ph[:, None] - t_sel, 0.0)
            csum = np.cumsum(tau, axis=0)
            before[k] += csum - tau                   # rows above
            after[k] += csum[-1][None, :] - csum      # rows below
            # the row's own cells: h while not pulsed, and the rest of the phase after the pulse
            own = ((h == vk) & has)[:, None]
            if not own.any():
                continue
            rest = np.where(own & sel, t_ph[:, None] - t_sel, 0.0)
            idle = np.where(own & ~sel, t_ph[:, None], 0.0)
            after[k] += rest
            if pol > 0:    # the SET phase comes first: a cell pulsed later (RESET) is still before
                before[k] += idle
            else:          # the RESET phase: SET-pulsed cells are after, the others before
                after[k] += np.where(pulsed_set, idle, 0.0)
                before[k] += np.where(pulsed_set, 0.0, idle)
    return before, after


def outer_phases(v: np.ndarray, t: np.ndarray, v_set: float, v_reset: float, bl: int, rank: int,
                 rng: np.random.Generator) -> Iterator[Step | float]:
    """Steps of one crossbar written by the stochastic outer product (module docstring).

    Yields the (rows, cols) steps of every slot; the write time (s) of each quadrant is yielded as
    a float after its slots. ``v``/``t``: per-cell pulses (V, s); ``v_set`` > 0, ``v_reset`` < 0:
    the coincidence amplitudes (V); ``bl``: slots per quadrant; ``rank``: SVD terms.
    """
    tau = np.where((v != 0) & (t > 0), np.sign(v) * t, 0.0)
    if not np.any(tau):
        return
    uu, ss, wt = np.linalg.svd(tau, full_matrices=False)
    n_r, n_c = tau.shape
    for r in range(min(rank, ss.size)):
        s = float(ss[r])
        if not s > ss[0] * 1e-12:
            break
        u, w = uu[:, r], wt[r]
        mu, mw = float(np.max(np.abs(u))), float(np.max(np.abs(w)))
        p, q = np.abs(u) / mu, np.abs(w) / mw
        t_slot = s * mu * mw / bl
        for su, sw in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
            rows = (np.sign(u) == su) & (p > 0)
            cols = (np.sign(w) == sw) & (q > 0)
            if not (rows.any() and cols.any()):
                continue
            a = v_set if su * sw > 0 else v_reset
            for _ in range(bl):
                fr = rows & (rng.random(n_r) < p)
                fc = cols & (rng.random(n_c) < q)
                both = fr[:, None] & fc[None, :]
                one = fr[:, None] | fc[None, :]
                volt = np.where(both, a, np.where(one, 0.5 * a, 0.0))
                yield volt, np.where(one, t_slot, 0.0), both
            yield bl * t_slot


class PassiveArray:
    """Writes per-cell pulses through the network's crossbars with one of :data:`HALF_SELECT`.

    ``shapes``: (rows, cols) of every crossbar, in the order of the flat device vector;
    ``model``: the devices (parameters may be per-device arrays, flat); ``v_set`` > 0, ``v_reset``
    < 0 (V): programming amplitudes (the outer product's coincidence amplitudes); ``bl``, ``rank``:
    the outer product's slots per quadrant and SVD terms; ``rng``: its stochastic pulse trains and
    the model's cycle-to-cycle noise; ``energy``: integrate ``∫V·I dt`` of every segment (J);
    ``index``: flat cell positions of the devices of masked crossbars (None: every cell is one).
    The line voltages are those of every cell; only devices see them (an absent cell takes none).
    """

    def __init__(self, scheme: str, shapes: Sequence[tuple[int, ...]], model, *, v_set: float, v_reset: float,
                 rng: np.random.Generator, energy: bool = True, bl: int = 31, rank: int = 1,
                 index: np.ndarray | None = None) -> None:
        if scheme not in HALF_SELECT:
            raise ConfigError(f"device.array_scheme = {scheme!r} is not a passive-array scheme; known: "
                              f"{', '.join(HALF_SELECT)}")
        self.scheme, self.model, self.rng, self.energy = scheme, model, rng, energy
        self.shapes = [tuple(int(n) for n in s) for s in shapes]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.index = index
        self.v_set, self.v_reset, self.bl, self.rank = float(v_set), float(v_reset), int(bl), int(rank)
        self.stats = WriteStats()

    def take_stats(self) -> WriteStats:
        """The accumulated write time and disturb, then start again from zero."""
        out, self.stats = self.stats, WriteStats()
        return out

    def _crossbar_steps(self, v: np.ndarray, t: np.ndarray) -> tuple[Iterator, list[float]]:
        """Step iterator of one crossbar and a list that receives its write time(s) (s)."""
        times: list[float] = []
        if self.scheme == "outer_product":
            def gen() -> Iterator[Step]:
                for item in outer_phases(v, t, self.v_set, self.v_reset, self.bl, self.rank, self.rng):
                    if isinstance(item, float):
                        times.append(item)
                    else:
                        yield item
            return gen(), times
        column = self.scheme.startswith("column")
        rs = "row_v3" if self.scheme.endswith("v3") else "row_v2"
        steps, t_tot = row_phases(v.T if column else v, t.T if column else t, rs)
        times.append(t_tot)
        if column:
            steps = [(s.T, d.T, m.T) for s, d, m in steps]
        return iter(steps), times

    one_pass: bool = True
    """Write dead-partial-voltage row / column schemes in one pass (False: always step by step)."""

    def _dead(self, volts: np.ndarray) -> bool:
        """True when no device moves at any of ``volts`` (V): a separable model with g = 0 there
        (every device, per-device parameters included) and no cycle-to-cycle noise."""
        m = self.model
        c2c = getattr(m.params, "c2c", None)
        if not getattr(m, "separable", False) or (c2c is not None and np.any(np.asarray(c2c) > 0)):
            return False
        with np.errstate(all="ignore"):
            g = m._drift(m.polarity * np.asarray(volts, dtype=float).reshape(-1, 1))
        return bool(np.all(np.asarray(g) == 0))

    def _pulse(self, x: np.ndarray, volt: np.ndarray, dur: np.ndarray, active: np.ndarray,
               uniform: bool) -> tuple[np.ndarray, np.ndarray]:
        """One step: the ``active`` devices get ``volt`` (V) for ``dur`` (s). Returns the new states
        and each device's energy (J, 0 where inactive; zeros without ``energy``). ``uniform``: one
        parameter set for every device (only the active ones are passed to the model)."""
        e = np.zeros(x.shape)
        if uniform:
            idx = np.flatnonzero(active)
            r = self.model.apply_pulse(x[idx], volt[idx], dur[idx], rng=self.rng, energy=self.energy)
            x_new = x.copy()
            x_new[idx] = r.x
            if self.energy:
                e[idx] = r.energy
            return x_new, e
        r = self.model.apply_pulse(x, volt, np.where(active, dur, 0.0), rng=self.rng, energy=self.energy)
        return r.x, (np.where(active, r.energy, 0.0) if self.energy else e)

    def _write_dead(self, x: np.ndarray, v: np.ndarray, t: np.ndarray) -> PulseResult | None:
        """The one-pass write of a row / column scheme whose partial voltages move nothing (module
        docstring); None when this write does not qualify. ``v``, ``t``: per-cell pulses (flat)."""
        column = self.scheme.startswith("column")
        rs = "row_v3" if self.scheme.endswith("v3") else "row_v2"
        plans = []
        for k, shape in enumerate(self.shapes):
            sl = slice(self.offsets[k], self.offsets[k + 1])
            vk, tk = v[sl].reshape(shape), t[sl].reshape(shape)
            vk, tk = (vk.T, tk.T) if column else (vk, tk)
            phases, t_tot = row_plan(vk, tk, rs)
            plans.append((phases, t_tot, tk))
        volts = np.unique(np.concatenate([_partial_voltages(p) for p, _, _ in plans] + [np.zeros(0)]))
        if volts.size > MAX_DEAD_VOLTAGES or not self._dead(volts):
            return None
        if self.energy:
            before, after = [], []
            for phases, _, tk in plans:
                b, a = dead_times(phases, volts, tk)
                before.append((b.transpose(0, 2, 1) if column else b).reshape(volts.size, -1))
                after.append((a.transpose(0, 2, 1) if column else a).reshape(volts.size, -1))
            before, after = np.concatenate(before, axis=1), np.concatenate(after, axis=1)
            if self.index is not None:
                before, after = before[:, self.index], after[:, self.index]
        dv, dt = (v, t) if self.index is None else (v[self.index], t[self.index])
        x1, e = self._pulse(x, dv, dt, (dv != 0) & (dt > 0), uniform_params(self.model))
        if self.energy:
            for k, vk in enumerate(volts):
                e = e + vk * (self.model.current(vk, x) * before[k] + self.model.current(vk, x1) * after[k])
        self.stats.t_write += max((t_tot for _, t_tot, _ in plans), default=0.0)
        return PulseResult(x=x1, energy=e if self.energy else np.full(x.shape, np.nan))

    def write(self, x: np.ndarray, v: np.ndarray, t: np.ndarray) -> PulseResult:
        """Apply the per-cell pulses ``v`` (V) and ``t`` (s) (flat, like ``x``) through the arrays.

        Returns the new states and the energy (J per device, every segment it saw, selected or
        not; NaN without ``energy``); adds write time and disturb to :attr:`stats`.
        """
        x = np.array(x, dtype=float)
        v, t = np.asarray(v, dtype=float), np.asarray(t, dtype=float)
        e = np.zeros(x.shape)
        if self.index is not None:   # masked crossbars: the devices' pulses onto every cell (none elsewhere)
            v_cells, t_cells = np.zeros(int(self.offsets[-1])), np.zeros(int(self.offsets[-1]))
            v_cells[self.index], t_cells[self.index] = v, t
            v, t = v_cells, t_cells
        if self.one_pass and self.scheme != "outer_product":
            fast = self._write_dead(x, v, t)
            if fast is not None:
                return fast
        its, times = [], []
        for k, shape in enumerate(self.shapes):
            sl = slice(self.offsets[k], self.offsets[k + 1])
            it, tm = self._crossbar_steps(v[sl].reshape(shape), t[sl].reshape(shape))
            its.append(it)
            times.append(tm)
        uniform = uniform_params(self.model)
        for group in zip_longest(*its):
            n = int(self.offsets[-1])
            volt, dur, sel = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
            for k, step in enumerate(group):
                if step is not None:
                    sl = slice(self.offsets[k], self.offsets[k + 1])
                    volt[sl], dur[sl], sel[sl] = step[0].ravel(), step[1].ravel(), step[2].ravel()
            if self.index is not None:   # what the devices see
                volt, dur, sel = volt[self.index], dur[self.index], sel[self.index]
            active = (volt != 0) & (dur > 0)
            if not active.any():
                continue
            x_new, de = self._pulse(x, volt, dur, active, uniform)
            if self.energy:
                e += de
            self.stats.disturb += float(np.abs(x_new - x)[~sel].sum())
            x = x_new
        self.stats.t_write += max((sum(tm) for tm in times), default=0.0)
        return PulseResult(x=x, energy=e if self.energy else np.full(x.shape, np.nan))


def uniform_params(model) -> bool:
    """True when every device shares the model's parameters (no per-device arrays)."""
    return all(np.ndim(getattr(model.params, f)) == 0 for f in (*model.d2d_fields, "range_r_on", "range_r_off"))
