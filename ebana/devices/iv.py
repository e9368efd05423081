"""Drivers for one device (or an array of devices): sinusoids, PWL waveforms, pulse trains.

Public API:

- :func:`sinusoid` -- I-V hysteresis under ``V = A·sin(2πft)`` (adaptive integration);
- :func:`pulse_waveform` -- PWL breakpoints of a SET/RESET pulse train with finite edges;
- :func:`drive_pwl` -- the state under any PWL waveform (same ODE ngspice integrates);
- :func:`pulse_train` -- conductance after each ideal rectangular pulse (``apply_pulse``).

All return plain arrays in SI units (s, V, A, S, J); nothing here plots or prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import DeviceModel
from ebana.devices.integrate import integrate_drive
from ebana.errors import DeviceError

__all__ = ["IVTrace", "PulseTrain", "sinusoid", "pulse_waveform", "drive_pwl", "pulse_train",
           "loop_area"]


@dataclass(frozen=True, slots=True)
class IVTrace:
    """A driven trajectory: time t (s), voltage v (V), state x (–), current i (A)."""

    t: np.ndarray
    v: np.ndarray
    x: np.ndarray
    i: np.ndarray


@dataclass(frozen=True, slots=True)
class PulseTrain:
    """Pulse-train response: pulse index n (0 = before), amplitude v (V), state x (–),
    conductance g at V_READ (S) and energy of each pulse (J)."""

    n: np.ndarray
    v: np.ndarray
    x: np.ndarray
    g: np.ndarray
    energy: np.ndarray


def _check_pos(name: str, value: float, unit: str) -> None:
    if not np.isfinite(value) or value <= 0:
        raise DeviceError(f"{name}={value!r}{unit} must be > 0")


def sinusoid(model: DeviceModel, amplitude: float | None = None, frequency: float | None = None,
             cycles: int | None = None, x0: float | None = None,
             points_per_cycle: int = 400) -> IVTrace:
    """I-V loop under ``V = amplitude·sin(2π·frequency·t)`` (V, Hz) for ``cycles`` periods.

    Defaults come from ``model.demo``.
    """
    d = model.demo
    amplitude = d.amplitude if amplitude is None else amplitude
    frequency = d.frequency if frequency is None else frequency
    cycles = d.cycles if cycles is None else cycles
    x0 = d.x0 if x0 is None else x0
    _check_pos("amplitude", amplitude, " V")
    _check_pos("frequency", frequency, " Hz")
    _check_pos("cycles", cycles, "")
    if not 0 <= x0 <= 1:
        raise DeviceError(f"x0={x0!r} must lie in [0, 1]")
    period = 1.0 / frequency
    t = np.linspace(0.0, cycles * period, int(round(cycles * points_per_cycle)) + 1)
    w = 2 * np.pi * frequency
    pol = model.polarity
    lo, hi = model.bounds
    x, _ = integrate_drive(model._gated_rate, None, np.array(float(x0)),
                           lambda tt: pol * amplitude * np.sin(w * tt), t,
                           lo=lo, hi=hi, h_max=period / points_per_cycle)
    v = amplitude * np.sin(w * t)
    return IVTrace(t=t, v=v, x=x, i=model.current(v, x))


def pulse_waveform(v_set: float, v_reset: float, t_pulse: float, n_set: int, n_reset: int,
                   t_gap: float | None = None, t_edge: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PWL breakpoints (t, v) of n_set pulses at v_set then n_reset at v_reset.

    Each pulse has width ``t_pulse`` (s, flat top), edges ``t_edge`` (default 1 % of the width)
    and a 0 V gap ``t_gap`` (default = width) after it. Also returns the end time of each pulse
    (after its gap), where the state is sampled.
    """
    _check_pos("t_pulse", t_pulse, " s")
    t_gap = t_pulse if t_gap is None else t_gap
    t_edge = 0.01 * t_pulse if t_edge is None else t_edge
    amps = [v_set] * n_set + [v_reset] * n_reset
    t, v, ends = [], [], []
    now = 0.0
    for a in amps:
        t += [now, now + t_edge, now + t_edge + t_pulse, now + 2 * t_edge + t_pulse]
        v += [0.0, a, a, 0.0]
        now += 2 * t_edge + t_pulse + t_gap
        ends.append(now)
    t.append(now)
    v.append(0.0)
    return np.array(t), np.array(v), np.array(ends)


def drive_pwl(model: DeviceModel, t_pts: np.ndarray, v_pts: np.ndarray, t_out: np.ndarray,
              x0: float) -> IVTrace:
    """State and current at times ``t_out`` under the PWL waveform (t_pts (s), v_pts (V))."""
    pol = model.polarity
    lo, hi = model.bounds
    t_pts = np.asarray(t_pts, dtype=float)
    v_pts = np.asarray(v_pts, dtype=float)
    x, _ = integrate_drive(model._gated_rate, None, np.array(float(x0)),
                           lambda tt: pol * np.interp(tt, t_pts, v_pts), np.asarray(t_out),
                           t_breaks=t_pts, lo=lo, hi=hi,
                           h_max=float(np.min(np.diff(t_pts)[np.diff(t_pts) > 0])))
    v = np.interp(t_out, t_pts, v_pts)
    return IVTrace(t=np.asarray(t_out), v=v, x=x, i=model.current(v, x))


def pulse_train(model: DeviceModel, v_set: float | None = None, v_reset: float | None = None,
                t_pulse: float | None = None, n_set: int | None = None,
                n_reset: int | None = None, x0: float | None = None) -> PulseTrain:
    """Ideal rectangular pulses: n_set at v_set (V, > 0) then n_reset at v_reset (V, < 0)."""
    d = model.demo
    v_set = d.v_set if v_set is None else v_set
    v_reset = d.v_reset if v_reset is None else v_reset
    t_pulse = d.t_pulse if t_pulse is None else t_pulse
    n_set = d.n_pulses if n_set is None else n_set
    n_reset = d.n_pulses if n_reset is None else n_reset
    x0 = d.x0 if x0 is None else x0
    if v_set <= 0 or v_reset >= 0:
        raise DeviceError(f"pulse train: need v_set > 0 V and v_reset < 0 V, got {v_set!r}, "
                          f"{v_reset!r}")
    _check_pos("t_pulse", t_pulse, " s")
    if n_set < 0 or n_reset < 0:
        raise DeviceError(f"pulse train: pulse counts must be >= 0, got {n_set}, {n_reset}")
    amps = np.array([0.0] + [v_set] * n_set + [v_reset] * n_reset)
    xs = [float(x0)]
    es = [0.0]
    x = np.array(float(x0))
    for a in amps[1:]:
        r = model.apply_pulse(x, a, t_pulse)
        x = r.x
        xs.append(float(x))
        es.append(float(r.energy))
    xs_a = np.array(xs)
    return PulseTrain(n=np.arange(amps.size), v=amps, x=xs_a, g=model.conductance(xs_a),
                      energy=np.array(es))


def loop_area(v: np.ndarray, i: np.ndarray) -> float:
    """Total lobe area of an I-V loop (W): |∮I dV| of each half cycle (between sign changes
    of v), summed, so the two opposite lobes of a pinched loop do not cancel."""
    v = np.asarray(v, dtype=float)
    i = np.asarray(i, dtype=float)
    sign = np.sign(v)
    cuts = np.flatnonzero(sign[1:] * sign[:-1] < 0) + 1
    total = 0.0
    for seg in np.split(np.arange(v.size), cuts):
        if seg.size > 2:
            total += abs(float(np.trapezoid(i[seg], v[seg])))
    return total
