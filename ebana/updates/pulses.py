"""Programming pulses: requested conductance changes -> PWM / PAM pulses -> device states.

Public API: :class:`Calibration`, :func:`calibrate`, :class:`Pulses`, :func:`pwm`,
:func:`pam_amplitude`, :func:`pam_width`, :class:`Programmed`, :func:`program`,
:func:`state_for_conductance`.

**Sign convention** (the only place it is defined). A requested change ``dg > 0`` (S) means
*potentiate* (raise G). ebana orients every device model so that a positive voltage
potentiates (``ebana.devices.base``), so potentiating pulses have amplitude ``v_set > 0`` and
depressing pulses ``v_reset < 0``; ``dg = 0`` sends no pulse. The training loop requests
``dg = -lr * direction(dL/dG)`` (descent), so a positive gradient depresses.

**Learning rate in pulse terms.** :func:`calibrate` measures the *nominal* response of a
model: the mean rate dG/dt (S/s) at each amplitude over states x in [0.1, 0.9] (short pulses,
|Δx| ≈ 1e-3). One number per polarity, the same for every device: the device's own state
dependence (its nonlinearity) is what the study is about, so it is not compensated.

* **PWM**: amplitude fixed at ``v_set`` / ``v_reset``; width ``t = |dg| / rate`` (s), i.e.
  ``1/rate`` seconds per siemens; optionally rounded to whole clock periods ``t_clock``,
  dropped below ``t_min`` and cut at ``t_max``. For the ideal linear device the rate is the
  same in every state, so PWM delivers exactly the requested change (tested).
* **PAM**: width fixed at ``t_pam = dg_ref / rate`` (the PWM width of the reference request
  ``dg_ref``); amplitude ``|V| = |v_d| * |dg| / dg_ref`` clipped to ``v_max`` and optionally
  quantised to ``levels`` DAC steps. No threshold offset: like the seed study, requests that
  map below a thresholded device's threshold do not move it (the PAM dead zone). For a
  device whose rate is linear in V (ideal, HP) PAM equals PWM.
* **PAM with N pulses** ("higher frequency", devices.md §7): the window ``t_pam`` is split
  into N pulses of ``t_pam/N`` at the single pulse's amplitude, with a read of G between
  pulses (write-verify): a device stops as soon as its target is reached or crossed. A device
  whose rate is linear in V gets exactly the single pulse's change (N x 1/N); a device that
  switches faster than nominal stops early, so its overshoot is at most one short pulse's
  change instead of the whole window's. (Two alternatives were measured and rejected: sizing
  each pulse from the remaining request delivers only 1 - (1 - 1/N)^N >= 63 % on a linear
  device; ramping the amplitude to deliver the rest, N·remaining/(N - j), makes the last pulse
  cross a threshold at full amplitude and overshoot 20-200x.) N = 1 is open-loop PAM.
* **Open-loop "higher frequency"** (``pam_frequency`` f, the seed study's remedy as it ran it:
  shorter pulses, nothing read back; devices.md §7, t_p = 1/f): every pulse lasts t_pam/(N f) at the
  same amplitude. A device whose rate is linear in V gets 1/f of its request (the nominal learning
  rate in pulse terms drops by f); a thresholded device's overshoot shrinks by the same factor.
  Splitting a pulse into f open-loop pulses of 1/f each at one amplitude would change nothing: the
  state equations are autonomous in time, so f back-to-back pulses are one pulse of the total width.

Energy is the device physics' ``∫V·I dt`` of every pulse (J, from
:meth:`~ebana.devices.base.DeviceModel.apply_pulse`); reads between PAM pulses are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ebana.devices.base import PulseResult
from ebana.errors import DeviceError

__all__ = ["Calibration", "calibrate", "Pulses", "pwm", "pam_amplitude", "pam_width", "Programmed",
           "program", "state_for_conductance", "CAL_STATES", "CAL_DX"]

CAL_STATES = np.linspace(0.1, 0.9, 17)
"""States (–) over which the nominal response is averaged."""
CAL_DX = 1e-3
"""Target mean |Δx| (–) of the calibration pulses: small enough to be linear."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Nominal response of a device model at the two programming amplitudes."""

    v_set: float     # V (> 0), potentiating amplitude
    v_reset: float   # V (< 0), depressing amplitude
    rate_set: float  # S/s (> 0), mean dG/dt at v_set
    rate_reset: float  # S/s (> 0), mean -dG/dt at v_reset

    @property
    def t_per_siemens(self) -> tuple[float, float]:
        """PWM learning rate in pulse terms: seconds of pulse per siemens (set, reset)."""
        return 1.0 / self.rate_set, 1.0 / self.rate_reset


def _nominal_rate(model, v: float) -> float:
    """Mean dG/dt (S/s) at amplitude v over CAL_STATES (signed), from short exact pulses."""
    lo, hi = model.bounds
    xs = np.clip(CAL_STATES, lo, hi)
    g0 = model.conductance(xs)
    t = float(model.demo.t_pulse)
    for _ in range(40):
        x1 = model.apply_pulse(xs, v, t, energy=False).x
        dx = float(np.mean(np.abs(x1 - xs)))
        if 0.3 * CAL_DX <= dx <= 3 * CAL_DX:
            return float(np.mean(model.conductance(x1) - g0)) / t
        if dx == 0.0:
            t *= 1e3
            if t > 1e6:
                break
        else:
            t *= CAL_DX / dx
    raise DeviceError(f"{model.name}: a pulse of {v:g} V does not move the state (below the "
                      f"threshold, v_th_set={model.v_th_set}, v_th_reset={model.v_th_reset} V?)")


def calibrate(model, v_set: float, v_reset: float) -> Calibration:
    """Nominal rates of ``model`` at ``v_set`` (> 0 V) and ``v_reset`` (< 0 V)."""
    if not v_set > 0 or not v_reset < 0:
        raise DeviceError(f"{model.name}: need v_set > 0 V and v_reset < 0 V, got {v_set}, {v_reset}")
    if np.any(np.asarray(model.params.c2c) > 0):
        model = model.replace(c2c=0.0)
    up, down = _nominal_rate(model, v_set), _nominal_rate(model, v_reset)
    if not (up > 0 and down < 0):
        raise DeviceError(f"{model.name}: v_set={v_set} V must raise and v_reset={v_reset} V lower "
                          f"the conductance (measured {up:.3g}, {down:.3g} S/s)")
    return Calibration(v_set=float(v_set), v_reset=float(v_reset), rate_set=up, rate_reset=-down)


@dataclass(frozen=True, slots=True)
class Pulses:
    """One pulse per device: signed amplitude ``v`` (V; 0 = none) and width ``t`` (s)."""

    v: np.ndarray
    t: np.ndarray

    @property
    def sent(self) -> np.ndarray:
        """Boolean mask of devices that receive a pulse."""
        return (self.v != 0) & (self.t > 0)


def pwm(dg: np.ndarray, cal: Calibration, *, t_clock: float = 0.0, t_min: float = 0.0,
        t_max: float | None = None) -> Pulses:
    """PWM pulses for requested changes ``dg`` (S): width = |dg| / nominal rate (s)."""
    dg = np.asarray(dg, dtype=float)
    up = dg > 0
    t = np.abs(dg) / np.where(up, cal.rate_set, cal.rate_reset)
    if t_clock > 0:
        t = np.round(t / t_clock) * t_clock
    t = np.where(t < t_min, 0.0, t)
    if t_max is not None:
        t = np.minimum(t, t_max)
    v = np.where(dg == 0, 0.0, np.where(up, cal.v_set, cal.v_reset))
    return Pulses(v=np.where(t > 0, v, 0.0), t=t)


def pam_width(cal: Calibration, dg_ref: float) -> tuple[float, float]:
    """PAM window (s) per polarity: the PWM width of the reference request ``dg_ref`` (S)."""
    return dg_ref / cal.rate_set, dg_ref / cal.rate_reset


def pam_amplitude(dg_abs: np.ndarray, v_ref: float, dg_ref: float, v_max: float, levels: int = 0) -> np.ndarray:
    """|V| (V) = |v_ref| * dg_abs / dg_ref, clipped to v_max, optionally quantised to levels steps."""
    a = np.minimum(np.abs(v_ref) * np.asarray(dg_abs, dtype=float) / dg_ref, v_max)
    if levels:
        step = v_max / levels
        a = np.round(a / step) * step
    return a


@dataclass(frozen=True, slots=True)
class Programmed:
    """Outcome of programming an array of devices."""

    x: np.ndarray         # new states (–)
    energy: np.ndarray    # J per device, summed over its pulses
    n_pulses: np.ndarray  # pulses per device (int)
    t_write: float = 0.0  # s, write time with every device pulsed at once (longest pulse per PAM slot)


def program(model, x: np.ndarray, dg: np.ndarray, cal: Calibration, *, scheme: str = "pwm",
            t_clock: float = 0.0, t_min: float = 0.0, t_max: float | None = None,
            pam_pulses: int = 1, dg_ref: float | None = None, v_max: float | None = None,
            pam_levels: int = 0, energy: bool = True, pam_frequency: float = 1.0,
            rng: np.random.Generator | None = None,
            apply: Callable[[np.ndarray, np.ndarray, np.ndarray], PulseResult] | None = None) -> Programmed:
    """Apply the pulses that request ``dg`` (S) to devices in states ``x`` (vectorised).

    ``scheme`` is ``"pwm"`` or ``"pam"`` (module docstring). Loops only over PAM pulse slots.
    ``pam_frequency`` f >= 1: PAM pulses of t_pam/(N f) (open-loop higher frequency).
    ``apply(x, v, t)``: how the per-device pulses (V, s) reach the devices; None: each device on
    its own (``model.apply_pulse``); a passive array's writer
    (:meth:`ebana.updates.array_schemes.PassiveArray.write`) also returns the energy of the devices
    it half-selects, and keeps its own write time (``t_write`` is then 0).
    """
    x = np.asarray(x, dtype=float)
    dg = np.asarray(dg, dtype=float)
    if scheme == "pwm":
        p = pwm(dg, cal, t_clock=t_clock, t_min=t_min, t_max=t_max)
        if apply is not None:
            r = apply(x, p.v, p.t)
            return Programmed(x=r.x, energy=r.energy if energy else np.zeros(x.shape),
                              n_pulses=p.sent.astype(np.int64))
        r = model.apply_pulse(x, p.v, p.t, rng=rng, energy=energy)
        e = np.where(p.sent, r.energy, 0.0) if energy else np.zeros(x.shape)
        return Programmed(x=r.x, energy=e, n_pulses=p.sent.astype(np.int64),
                          t_write=float(np.max(p.t, initial=0.0)))
    if scheme != "pam":
        raise DeviceError(f"unknown pulse scheme {scheme!r}; known: pam, pwm")
    if dg_ref is None or not dg_ref > 0:
        raise DeviceError(f"PAM needs a reference request dg_ref > 0 S, got {dg_ref!r}")
    v_max = 2.0 * max(cal.v_set, -cal.v_reset) if v_max is None else v_max
    n = int(pam_pulses)
    w_set, w_reset = pam_width(cal, dg_ref)
    up = dg > 0
    sign = np.sign(dg)
    if not pam_frequency >= 1:
        raise DeviceError(f"pam_frequency must be >= 1, got {pam_frequency!r}")
    width = np.where(up, w_set, w_reset) / (n * pam_frequency)
    v_ref = np.where(up, cal.v_set, cal.v_reset)
    target = model.conductance(x) + dg if n > 1 else None  # only write-verify reads it
    a = pam_amplitude(np.abs(dg), v_ref, dg_ref, v_max, pam_levels)  # the single pulse's amplitude
    e_tot = np.zeros(x.shape)
    count = np.zeros(x.shape, dtype=np.int64)
    t_write = 0.0
    for j in range(n):
        remaining = dg if j == 0 else target - model.conductance(x)
        active = (sign != 0) & (remaining * sign > 0)
        if not active.any():
            break
        sent = active & (a > 0)
        v = np.where(sent, sign * a, 0.0)
        t = np.where(sent, width, 0.0)
        if apply is not None:
            r = apply(x, v, t)
            x = r.x
            if energy:
                e_tot += r.energy
        else:
            r = model.apply_pulse(x, v, t, rng=rng, energy=energy)
            x = r.x
            if energy:
                e_tot += np.where(sent, r.energy, 0.0)
            t_write += float(np.max(t, initial=0.0))
        count += sent
    return Programmed(x=x, energy=e_tot, n_pulses=count, t_write=t_write)


def state_for_conductance(model, g: np.ndarray, iters: int = 80) -> np.ndarray:
    """States x (–) with ``model.conductance(x) = g`` (S), by vectorised bisection.

    The conductance is monotone increasing in x; g outside [G(lo), G(hi)] maps to the bound.
    """
    g = np.asarray(g, dtype=float)
    lo_b, hi_b = model.bounds
    lo = np.full(g.shape, lo_b)
    hi = np.full(g.shape, hi_b)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = model.conductance(mid) < g
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    x = 0.5 * (lo + hi)
    # land exactly on the bounds where g is at (or beyond) them
    x = np.where(g <= model.conductance(np.float64(lo_b)), lo_b, x)
    return np.where(g >= model.conductance(np.float64(hi_b)), hi_b, x)
