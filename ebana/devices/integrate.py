"""Vectorised adaptive Runge-Kutta (Dormand-Prince 5(4)) for device state equations.

Public API:

- :func:`integrate_pulse` -- constant-voltage pulses of per-device width; returns the final
  state and the energy ``∫ V·I dt`` (J) for every device.
- :func:`integrate_drive` -- a time-varying voltage ``v(t)`` shared by all devices; returns
  the state at requested output times.

Both step all devices together with one step size (the error norm is the maximum over
devices), clip the state to the model's bounds after every stage and land exactly on
requested times and waveform breakpoints. Tolerances are named module constants.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ebana.errors import DeviceError

__all__ = ["RTOL", "ATOL", "MAX_STEPS", "integrate_pulse", "integrate_drive"]

RTOL = 1e-9
"""Relative tolerance on state and energy per step."""
ATOL = 1e-12
"""Absolute tolerance on the normalised state (dimensionless)."""
MAX_STEPS = 200_000
"""Accepted-plus-rejected steps before the integrator gives up with :class:`DeviceError`."""

# Dormand & Prince (1980) tableau.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_B5 = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_B4 = np.array([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])
_E = _B5 - _B4

Rate = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (v_native, s) -> ds/dt (1/s)
Power = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (v_native, s) -> V*I (W)


def _dp5_step(f, t, y, h, clip):
    """One Dormand-Prince step of ``dy/dt = f(t, y)``; returns (y5, err, k1)."""
    ks = []
    for i in range(7):
        yi = y
        for j, a in enumerate(_A[i]):
            if a != 0.0:
                yi = yi + (h * a) * ks[j]
        ks.append(f(t + _C[i] * h, clip(yi)))
    y5 = y + h * sum(b * k for b, k in zip(_B5, ks) if b != 0.0)
    err = h * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
    return y5, err, ks[0]


def _error_norm(y_old, y_new, err, rtol, atol_s, h, dy):
    # row 0: state, row 1: energy. Energy scale includes h*|P| so that e=0 at start is fine.
    sc_s = atol_s + rtol * np.maximum(np.abs(y_old[0]), np.abs(y_new[0]))
    sc_e = 1e-300 + rtol * (np.maximum(np.abs(y_old[1]), np.abs(y_new[1])) + np.abs(h * dy[1]))
    return max(float(np.max(np.abs(err[0]) / sc_s, initial=0.0)),
               float(np.max(np.abs(err[1]) / sc_e, initial=0.0)))


def _run(f, y, t0, stops, record, lo, hi, rtol, atol, h0, h_max=np.inf):
    """Integrate from t0 through sorted ``stops``; return y at the stops flagged in ``record``."""

    # a device that starts exactly on a bound may stay there (e.g. Joglekar at x = 1)
    lo = np.minimum(lo, y[0])
    hi = np.maximum(hi, y[0])

    def clip(z):
        return np.stack([np.clip(z[0], lo, hi), z[1]])

    out = []
    t = t0
    h = h0
    n_steps = 0
    for t_stop, keep in zip(stops, record):
        while t < t_stop:
            h = min(h, h_max, t_stop - t)
            last = h >= (t_stop - t) * (1 - 1e-12)
            if last:
                h = t_stop - t
            y_new, err, dy = _dp5_step(f, t, y, h, clip)
            y_new = clip(y_new)
            norm = _error_norm(y, y_new, err, rtol, atol, h, dy)
            n_steps += 1
            if n_steps > MAX_STEPS:
                raise DeviceError(f"device integrator: no convergence after {MAX_STEPS} steps")
            if norm <= 1.0 or h <= 1e-15 * max(abs(t), abs(t_stop)):
                t = t_stop if last else t + h
                y = y_new
                fac = 5.0 if norm == 0 else min(5.0, 0.9 * norm ** -0.2)
            else:
                fac = max(0.1, 0.9 * norm ** -0.25)
                last = False
            h = h * fac
        if keep:
            out.append(y.copy())
    return out


def integrate_pulse(
    rate: Rate, power: Power, s0: np.ndarray, v: np.ndarray, t: np.ndarray,
    lo: float = 0.0, hi: float = 1.0, rtol: float = RTOL, atol: float = ATOL,
) -> tuple[np.ndarray, np.ndarray]:
    """State and energy after constant-voltage pulses.

    Time is normalised per device (τ = time/t, τ ∈ [0, 1]) so that all devices, whatever
    their width, integrate over the same interval with one shared step size.

    Parameters
    ----------
    rate, power : callables of (v_native (V), s) giving ds/dt (1/s, already bound-gated) and V·I (W)
    s0, v, t : broadcastable arrays; state (–), native voltage (V), width (s)
    lo, hi : state bounds

    Returns
    -------
    (s1, energy) with energy in J.
    """
    s0, v, t = (np.array(a, dtype=float) for a in np.broadcast_arrays(s0, v, t))
    if s0.size == 0 or not np.any(t > 0):
        return s0.copy(), np.zeros(s0.shape)

    def f(_tau, y):
        return np.stack([t * rate(v, y[0]), t * power(v, y[0])])

    y0 = np.stack([s0, np.zeros_like(s0)])
    r0 = np.abs(f(0.0, y0)[0])
    h0 = float(min(1.0, 0.05 / max(np.max(r0), 1e-300)))
    (y1,) = _run(f, y0, 0.0, [1.0], [True], lo, hi, rtol, atol, h0)
    return y1[0], y1[1]


def integrate_drive(
    rate: Rate, power: Power | None, s0: np.ndarray, v_of_t: Callable[[float], float],
    t_out: np.ndarray, t_breaks: np.ndarray | None = None,
    lo: float = 0.0, hi: float = 1.0, rtol: float = RTOL, atol: float = ATOL,
    h_max: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """State and cumulative energy under a shared time-varying native voltage.

    Parameters
    ----------
    v_of_t : callable giving the native voltage (V) at time t (s)
    t_out : increasing output times (s), the first one being the start time
    t_breaks : waveform corners (s) where a step must end (PWL breakpoints, pulse edges)
    h_max : largest step (s); defaults to the spacing of the output grid

    Returns
    -------
    (s, e): arrays of shape ``(len(t_out),) + s0.shape``; energy in J from t_out[0]
    (zeros when ``power`` is None).
    """
    s0 = np.asarray(s0, dtype=float)
    shape = s0.shape
    t_out = np.asarray(t_out, dtype=float)
    if t_out.ndim != 1 or t_out.size < 1 or np.any(np.diff(t_out) < 0):
        raise DeviceError("drive: t_out must be a non-empty increasing 1-D array of times (s)")
    stops = t_out[1:]
    record = np.ones(stops.size, dtype=bool)
    if t_breaks is not None and len(t_breaks):
        tb = np.asarray(t_breaks, dtype=float)
        tb = tb[(tb > t_out[0]) & (tb < t_out[-1])]
        stops = np.concatenate([stops, tb])
        record = np.concatenate([record, np.zeros(tb.size, dtype=bool)])
        order = np.argsort(stops, kind="stable")
        stops, record = stops[order], record[order]
        # drop breakpoints that coincide with an output time
        dup = np.zeros(stops.size, dtype=bool)
        dup[1:] = (np.diff(stops) == 0) & ~record[1:]
        dup[:-1] |= (np.diff(stops) == 0) & ~record[:-1]
        stops, record = stops[~dup], record[~dup]

    zeros = np.zeros(s0.size)

    def f(tt, y):
        vn = np.full(y[0].shape, v_of_t(tt))
        return np.stack([rate(vn, y[0]), zeros if power is None else power(vn, y[0])])

    y0 = np.stack([s0.ravel(), np.zeros(s0.size)])
    span = t_out[-1] - t_out[0]
    if h_max is None:
        h_max = span / max(stops.size, 1) if span > 0 else 1.0
    outs = [y0] + _run(f, y0, float(t_out[0]), stops, record, lo, hi, rtol, atol,
                       h0=max(h_max * 1e-3, 1e-300), h_max=h_max)
    arr = np.stack(outs)
    return arr[:, 0].reshape((-1,) + shape), arr[:, 1].reshape((-1,) + shape)
