"""TEAM memristor (Kvatinsky et al., IEEE TCAS-I 60(1), 2013): current thresholds.

Native x ∈ [x_on, x_off] (m), ``s = (x_off - x)/(x_off - x_on)``; with i = v/R(s):
``dx/dt = k_off·(i/i_off - 1)^α_off·f_off(x)`` for i > i_off, ``k_on·(i/i_on - 1)^α_on·f_on(x)``
for i < i_on, else 0. Kvatinsky windows ``f_off = exp(-exp((x - a_off)/w_c))``,
``f_on = exp(-exp(-(x - a_on)/w_c))`` with a_off = x_off, a_on = x_on (boundary use, as in
Xyce), plus hard bounds. Native positive current switches OFF (``polarity = -1``).

The threshold is on the current, which depends on the state, so the model is not separable:
pulses are integrated adaptively. Preset: Technion Verilog-A (Kvatinsky et al. 2011 report)
speeds and thresholds with **i_on = -8.9 µA** (the published +8.9 µA makes the state drift at
zero bias, devices.md §9.6), and Xyce's R_ON = 50 Ω, R_OFF = 1 kΩ. The voltage thresholds
reported are state dependent; ``v_th_set = |i_on|·R_ON`` is the smallest over all states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import Demo, DeviceParams
from ebana.devices.batch_integrate import INTEGRATORS, BatchIntegrated
from ebana.devices.registry import register
from ebana.devices.vteam import IV_FORMS, resistance, spice_resistance
from ebana.errors import DeviceError

__all__ = ["TEAMParams", "TEAM"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TEAMParams(DeviceParams):
    """TEAM parameters."""

    model = "team"
    r_on: float = 50.0
    """ON resistance (ohm)."""
    r_off: float = 1e3
    """OFF resistance (ohm)."""
    x_on: float = 0.0
    """State bound of R_ON (m)."""
    x_off: float = 3e-9
    """State bound of R_OFF (m)."""
    k_on: float = -8e-13
    """ON speed (m/s, < 0)."""
    k_off: float = 8e-13
    """OFF speed (m/s, > 0)."""
    alpha_on: float = 3.0
    """ON exponent (–)."""
    alpha_off: float = 3.0
    """OFF exponent (–)."""
    i_on: float = -8.9e-6
    """ON current threshold (A, < 0)."""
    i_off: float = 115e-6
    """OFF current threshold (A, > 0)."""
    w_c: float = 107e-12
    """Kvatinsky window width (m)."""
    iv: str = "linear"
    """I-V form: linear or exponential."""
    window: str = "kvatinsky"
    """kvatinsky or none."""

    integrator: str = "fast"
    """Pulse integration: ``fast`` (per-device adaptive RK, :mod:`ebana.devices.batch_integrate`) or
    ``adaptive`` (the shared-step reference integrator, rtol 1e-9)."""

    def validate(self) -> None:
        self.positive("r_on", "k_off", "alpha_on", "alpha_off", "i_off", "w_c")
        self.above("r_off", "r_on", "ohm")
        self.above("x_off", "x_on", "m")
        self._check(np.asarray(self.k_on) < 0, "k_on", self.k_on, "< 0 m/s")
        self._check(np.asarray(self.i_on) < 0, "i_on", self.i_on, "< 0 A")
        if self.iv not in IV_FORMS:
            raise DeviceError(f"{self.model}: iv={self.iv!r} must be linear or exponential")
        if self.window not in ("kvatinsky", "none"):
            raise DeviceError(f"{self.model}: window={self.window!r} must be kvatinsky or none")
        if self.integrator not in INTEGRATORS:
            raise DeviceError(f"{self.model}: integrator={self.integrator!r} must be fast or adaptive")


def _power_of(u: np.ndarray, alpha: np.ndarray, n: int | None) -> np.ndarray:
    """u**alpha (u >= 0); by n - 1 multiplications when every exponent equals the integer n."""
    if n is None:
        return u ** alpha
    out = u
    for _ in range(n - 1):
        out = out * u
    return out


@register("team")
class TEAM(BatchIntegrated):
    """Threshold adaptive memristor model (current thresholds)."""

    kind = "thresholded"
    citation = ("Kvatinsky et al., IEEE TCAS-I 60(1):211 (2013); preset: Technion Verilog-A "
                "(2011 report) with i_on sign fixed, R from Xyce MemristorTEAM")
    Params = TEAMParams
    polarity = -1
    presets = {"adaptive": {"integrator": "adaptive"}}
    """``adaptive``: the shared-step reference integrator for every pulse (as before the fast path)."""
    d2d_fields = ("r_on", "r_off", "k_on", "k_off", "i_on", "i_off")
    demo = Demo(amplitude=1.0, frequency=100.0, v_set=1.0, v_reset=-1.0, t_pulse=1.5e-5, x0=0.1)

    @property
    def v_th_set(self):
        return -self.params.i_on * self.params.r_on

    @property
    def v_th_reset(self):
        return -self.params.i_off * self.params.r_on

    def _current(self, vn, x):
        return vn / resistance(self.params, x)

    def _rate(self, vn, x):
        p = self.params
        d = p.x_off - p.x_on
        i = self._current(vn, x)
        xm = p.x_off - x * d
        if p.window == "kvatinsky":
            f_off = np.exp(-np.exp((xm - p.x_off) / p.w_c))
            f_on = np.exp(-np.exp(-(xm - p.x_on) / p.w_c))
        else:
            f_off = f_on = 1.0
        off = p.k_off * np.maximum(i / p.i_off - 1, 0.0) ** p.alpha_off * f_off
        on = p.k_on * np.maximum(i / p.i_on - 1, 0.0) ** p.alpha_on * f_on
        return -np.where(i > p.i_off, off, np.where(i < p.i_on, on, 0.0)) / d

    def _pulse_rhs(self, vn):
        """One branch per device (the drive's sign is fixed during a pulse), integer exponents by
        multiplication; power ``V²·(a + b/R(s))`` (linear and exponential I-V: I = V/R)."""
        p = self.params
        d = p.x_off - p.x_on
        a, b = self._read_map()
        off = vn > 0  # native positive current: towards x_off (ebana's RESET)
        i_th = np.where(off, p.i_off, p.i_on)
        k = np.where(off, p.k_off, p.k_on) / d
        alpha = np.where(off, p.alpha_off, p.alpha_on)
        same = np.ndim(p.alpha_on) == np.ndim(p.alpha_off) == 0 and p.alpha_on == p.alpha_off
        n = int(p.alpha_on) if same and p.alpha_on in (1.0, 2.0, 3.0, 4.0) else None
        # window exponent: (x - a_off)/w_c towards x_off, -(x - a_on)/w_c towards x_on, x = x_off - s·d
        z0 = np.where(off, 0.0, -d / p.w_c)
        zs = np.where(off, -d / p.w_c, d / p.w_c)
        v2 = vn * vn

        def rhs(s):
            r_s = resistance(p, s)
            u = np.maximum(vn / (r_s * i_th) - 1.0, 0.0)
            drive = _power_of(u, alpha, n)
            if p.window == "kvatinsky":
                drive = drive * np.exp(-np.exp(z0 + zs * s))
            return -k * drive, v2 * (a + b / r_s)

        return rhs

    def spice_current(self) -> str:
        return "v(vn)/" + spice_resistance(self.params)

    def spice_rate(self) -> str:
        i = "(" + self.spice_current() + ")"
        xm = "({x_off}-v(x)*({x_off}-{x_on}))"
        if self.params.window == "kvatinsky":
            f_off = f"exp(-exp(({xm}-{{x_off}})/{{w_c}}))"
            f_on = f"exp(-exp(-({xm}-{{x_on}})/{{w_c}}))"
        else:
            f_off = f_on = "1"
        return (f"-({i} > {{i_off}} ? {{k_off}}*pow({i}/{{i_off}}-1,{{alpha_off}})*{f_off}"
                f" : ({i} < {{i_on}} ? {{k_on}}*pow({i}/{{i_on}}-1,{{alpha_on}})*{f_on}"
                " : 0))/({x_off}-{x_on})")
