"""Per-device adaptive Runge-Kutta for constant pulses: the fast path of non-separable models.

Public API: :func:`integrate_each`, :class:`BatchIntegrated`, :data:`RTOL`, :data:`ATOL`,
:data:`MAX_ITER`, :data:`MARGIN`, :data:`INTEGRATORS`.

Under a constant pulse a device's state obeys an *autonomous* ODE ``ds/dt = F(s; V)`` (TEAM:
the threshold is on the current V/R(s); Stanford-PKU: temperature and field enhancement depend
on the gap), so no closed form exists but every device can be integrated on its own clock.
:func:`integrate_each` steps all devices at once with Dormand-Prince 5(4) in normalised time
τ = time/t ∈ [0, 1], each device with its **own** step size and error test (the reference
integrator, :func:`ebana.devices.integrate.integrate_pulse`, shares one step size over all
devices at rtol 1e-9, so the slowest device sets the work of every other one). The write
energy ``E = ∫ V·I dt`` (J) is a second solution component, error-controlled in the same
pass. What an autonomous 1-D ODE allows:

* a device whose rate is 0 (below threshold, pushed against the bound it sits on, or at a
  fixed point) never moves again: its state is kept and the rest of the pulse dissipates
  ``(1 - τ)·t·P(s)`` exactly;
* the rate is evaluated without bound gating (stages may look :data:`MARGIN` past a bound), so
  a step that crosses a hard bound stays smooth; the crossing time comes from the step's cubic
  Hermite interpolant of state and energy, and the device rests on the bound from there;
* finished devices leave the working set (rebuilt when 10 % of it have finished), so the
  cost follows the devices still integrating.

Devices whose rate or power is not finite at their initial state get NaN; the caller sends
them through the reference integrator (:class:`BatchIntegrated`).
Error against the reference integrator: ``tests/devices/test_batch_integrate.py``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ebana.devices.base import DeviceModel
from ebana.devices.integrate import integrate_pulse
from ebana.errors import DeviceError

__all__ = ["RTOL", "ATOL", "MAX_ITER", "MARGIN", "INTEGRATORS", "integrate_each", "BatchIntegrated"]

RTOL = 1e-7
"""Relative tolerance per step on state and energy (–)."""
ATOL = 1e-9
"""Absolute tolerance per step on the normalised state (–)."""
MAX_ITER = 5000
"""Step attempts of the slowest device before :class:`DeviceError`."""
INTEGRATORS = ("fast", "adaptive")
"""Values of the models' ``integrator`` parameter: this module, or the reference integrator."""
_H0_DX = 0.02  # first step: a state change of about this much (–)
MARGIN = 0.02
"""How far past a bound (fraction of the state range) a Runge-Kutta stage may look (–)."""
COMPACT = 0.9
"""The working set is rebuilt when at most this fraction of it is still integrating (–)."""

# Dormand & Prince (1980); row 7 equals the 5th-order weights (first same as last).
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)

Factory = Callable[[np.ndarray], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]]
"""``make(idx)`` -> ``f(s)`` giving (ds/dτ, dE/dτ) of the devices ``idx`` (flat indices) at s."""


def integrate_each(make: Factory, s0: np.ndarray, lo: float, hi: float, rtol: float = RTOL,
                   atol: float = ATOL) -> tuple[np.ndarray, np.ndarray]:
    """(state, energy) at τ = 1 of every device (flat arrays), each on its own step size.

    ``make(idx)`` builds the right-hand side of the devices ``idx`` in normalised time (rates
    already multiplied by each device's pulse width, *not* bound-gated: stages may look up to
    :data:`MARGIN` past a bound). A step that crosses a bound ends the device there: the
    crossing time comes from the cubic Hermite interpolant of the step (state and energy), and
    the rest of the pulse dissipates ``P(bound)`` at rest. Energy is in the units of ``make``'s
    second component (J). NaN: a rate or power not finite at s0 (the caller integrates those
    devices by other means).
    """
    s0 = np.asarray(s0, dtype=float).ravel()
    out_s, out_e = s0.copy(), np.zeros(s0.shape)
    idx = np.arange(s0.size)
    f = make(idx)
    r, p = f(s0)
    bad = ~(np.isfinite(r) & np.isfinite(p))
    out_s[bad] = out_e[bad] = np.nan
    # never moves (no drive, or pushed against its bound): dissipates P(s0) for the whole pulse
    rest = ((r == 0) | ((s0 >= hi) & (r > 0)) | ((s0 <= lo) & (r < 0))) & ~bad
    out_e[rest] = p[rest]
    go = ~(bad | rest)
    idx, s, r, p = idx[go], s0[go], r[go], p[go]
    if not idx.size:
        return out_s, out_e
    f = make(idx)
    e = np.zeros(idx.size)
    tau = np.zeros(idx.size)
    h = np.minimum(1.0, _H0_DX / np.abs(r))
    run = np.ones(idx.size, dtype=bool)  # working-set devices still integrating
    a_lo, a_hi = lo - MARGIN * (hi - lo), hi + MARGIN * (hi - lo)
    for _ in range(MAX_ITER):
        h = np.minimum(h, 1.0 - tau)
        ks, kp = [r], [p]
        for row in _A[1:]:
            si = s.copy()
            for a, k in zip(row, ks):
                if a:
                    si += (h * a) * k
            ri, pi = f(np.clip(si, a_lo, a_hi))
            ks.append(ri)
            kp.append(pi)
        s5 = s + h * sum(a * k for a, k in zip(_A[6], ks) if a)
        e5 = e + h * sum(a * k for a, k in zip(_A[6], kp) if a)
        err_s = h * sum(c * k for c, k in zip(_E, ks) if c)
        err_e = h * sum(c * k for c, k in zip(_E, kp) if c)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            norm = np.maximum(np.abs(err_s) / (atol + rtol * np.maximum(np.abs(s), np.abs(s5))),
                              np.abs(err_e) / (rtol * (np.maximum(np.abs(e), np.abs(e5)) + np.abs(h * p))
                                               + 1e-300))
            norm = np.where(np.isfinite(norm) & np.isfinite(s5), norm, np.inf)
            ok = run & ((norm <= 1.0) | (h <= 1e-15))
            grow = np.where(norm == 0, 5.0, np.clip(0.9 * norm ** -0.2, 0.2, 5.0))
            shrink = np.clip(0.9 * norm ** -0.25, 0.1, 0.9)
        cross = ok & np.where(r > 0, s5 >= hi, s5 <= lo)
        if cross.any():  # ends on its bound: crossing time by the step's Hermite interpolant
            c = np.flatnonzero(cross)
            bound = np.where(r[c] > 0, hi, lo)
            th = _crossing(s[c], s5[c], h[c] * r[c], h[c] * ks[6][c], bound)
            e_c = _hermite(th, e[c], e5[c], h[c] * p[c], h[c] * kp[6][c])
            p_b = f(np.where(cross, np.where(r > 0, hi, lo), s))[1][c]
            out_s[idx[c]] = bound
            out_e[idx[c]] = e_c + (1.0 - tau[c] - th * h[c]) * p_b
            run &= ~cross
            ok &= ~cross
        tau = np.where(ok & (h >= 1.0 - tau), 1.0, np.where(ok, tau + h, tau))
        s = np.where(ok, s5, s)
        e = np.where(ok, e5, e)
        r = np.where(ok, ks[6], r)
        p = np.where(ok, kp[6], p)
        h = h * np.where(ok, grow, shrink)
        stop = ok & (r == 0)  # reached a fixed point: rests to the end, exactly
        e = np.where(stop, e + (1.0 - tau) * p, e)
        done = ok & ((tau >= 1.0) | stop)
        if done.any() or cross.any():
            out_s[idx[done]], out_e[idx[done]] = s[done], e[done]
            run &= ~done
            n = int(run.sum())
            if not n:
                return out_s, out_e
            if n <= COMPACT * run.size:  # compact: the cost follows the devices still running
                idx, s, e, tau, h, r, p = (a[run] for a in (idx, s, e, tau, h, r, p))
                run = np.ones(n, dtype=bool)
                f = make(idx)
    raise DeviceError(f"device fast integrator: {int(run.sum())} devices not done after {MAX_ITER} steps")


def _hermite(th, y0, y1, d0, d1):
    """Cubic Hermite interpolant at θ ∈ [0, 1] of a step from y0 to y1 with slopes d0, d1 (per step)."""
    return (y0 + th * (d0 + th * (3 * (y1 - y0) - 2 * d0 - d1 + th * (2 * (y0 - y1) + d0 + d1))))


def _crossing(s0, s1, d0, d1, bound, iters: int = 60):
    """θ ∈ [0, 1] where the step's Hermite interpolant meets ``bound`` (bisection; s0 and s1 lie
    on either side of it)."""
    a, b = np.zeros(s0.shape), np.ones(s0.shape)
    side = np.sign(s1 - s0)
    for _ in range(iters):
        m = 0.5 * (a + b)
        past = (_hermite(m, s0, s1, d0, d1) - bound) * side >= 0
        a, b = np.where(past, a, m), np.where(past, m, b)
    return 0.5 * (a + b)


class BatchIntegrated(DeviceModel):
    """Mixin: :meth:`apply_pulse` by :func:`integrate_each` unless ``params.integrator`` is
    ``"adaptive"`` (the reference integrator, as before this path existed).

    State and energy come from one pass; the energy is that of the read-mapped device (it uses
    :meth:`_power`), so :attr:`closed_energy_rescaled` holds.
    """

    closed_energy_rescaled = True

    def _closed_form(self, x, vn, t):
        if self.params.integrator == "adaptive":
            return None
        shape = x.shape
        xf, vf, tf = (np.ravel(a) for a in (x, vn, t))
        lo, hi = self.bounds

        def make(idx):
            m = self.restrict(idx, shape)
            w = tf[idx]
            rhs = m._pulse_rhs(vf[idx])

            def f(s):
                with np.errstate(all="ignore"):
                    r, pw = rhs(s)
                return w * r, w * pw

            return f

        s1, e = integrate_each(make, xf, lo, hi)
        bad = np.flatnonzero(~np.isfinite(s1))
        if bad.size:  # not finite at the start: the reference integrator decides
            m = self.restrict(bad, shape)
            s1[bad], e[bad] = integrate_pulse(m._gated_rate, m._power, xf[bad], vf[bad], tf[bad], lo, hi)
        s1, e = s1.reshape(shape), e.reshape(shape)
        self._memo = (x, vn, t, e)
        return s1

    def _pulse_rhs(self, vn: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``s -> (ds/dt (1/s, not bound-gated), V·I (W, read-mapped))`` at the fixed native
        voltages vn (V) of the devices; models override it to precompute what does not depend
        on s (the default evaluates :meth:`_rate` and :meth:`_power`)."""
        return lambda s: (self._rate(vn, s), self._power(vn, s))

    def _read_map(self) -> tuple[np.ndarray | float, np.ndarray | float]:
        """(a (S), b (–)) with read-mapped ``G'(s) = a + b·G(s)``, G the native read conductance
        (module docstring of :mod:`ebana.devices.base`); (0, 1) for a native device."""
        p = self.params
        if p.range_r_on is None:
            return 0.0, 1.0
        g0, g1 = self._native_read_g(np.float64(0.0)), self._native_read_g(np.float64(1.0))
        b = (1.0 / p.range_r_on - 1.0 / p.range_r_off) / (g1 - g0)
        return 1.0 / p.range_r_off - b * g0, b

    def _closed_energy(self, x, vn, t, x1):
        m = getattr(self, "_memo", None)
        self._memo = None
        if m is None or m[0] is not x or m[1] is not vn or m[2] is not t:
            return None  # the integrator then computes it
        return m[3]
