"""VTEAM memristor (Kvatinsky et al., IEEE TCAS-II 62(8), 2015).

Native state x ∈ [x_on, x_off] (m), normalised as ``s = (x_off - x)/(x_off - x_on)``:
``dx/dt = k_off·(v/v_off - 1)^α_off`` for v > v_off, ``k_on·(v/v_on - 1)^α_on`` for v < v_on,
else 0 (times an optional window). Native positive voltage switches OFF, so ebana's
orientation is reversed (``polarity = -1``): ``v_th_set = -v_on``, ``v_th_reset = -v_off``.
I-V: linear ``R = R_ON + (R_OFF - R_ON)(1 - s)`` or exponential ``R = R_ON·exp(λ(1 - s))``.

Preset: MemTorch defaults (no window, hard bounds): full OFF at native +1 V in 122.4 ns,
full ON at native -1 V in 4.69 ps. Separable per polarity: closed form for windows none and
Biolek/Joglekar p = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices import windows as win
from ebana.devices.base import EDGE, X_MAX, X_MIN, Demo, DeviceParams, SeparableModel, power_above
from ebana.devices.registry import register
from ebana.errors import DeviceError

__all__ = ["VTEAMParams", "VTEAM", "IV_FORMS"]

IV_FORMS = ("linear", "exponential")


@dataclass(frozen=True, slots=True, kw_only=True)
class VTEAMParams(DeviceParams):
    """VTEAM parameters (MemTorch VTEAM defaults, x in metres)."""

    model = "vteam"
    r_on: float = 50.0
    """ON resistance (ohm)."""
    r_off: float = 1e3
    """OFF resistance (ohm)."""
    x_on: float = 0.0
    """State bound of R_ON (m)."""
    x_off: float = 3e-9
    """State bound of R_OFF (m)."""
    k_on: float = -10.0
    """ON speed (m/s, < 0)."""
    k_off: float = 5e-4
    """OFF speed (m/s, > 0)."""
    alpha_on: float = 3.0
    """ON exponent (–)."""
    alpha_off: float = 1.0
    """OFF exponent (–)."""
    v_on: float = -0.2
    """Native ON threshold (V, < 0)."""
    v_off: float = 0.02
    """Native OFF threshold (V, > 0)."""
    iv: str = "linear"
    """I-V form: linear or exponential."""
    window: str = "none"
    """none, biolek or joglekar (on the normalised state)."""
    p: float = 1.0
    """Window exponent (–)."""

    def validate(self) -> None:
        self.positive("r_on", "k_off", "alpha_on", "alpha_off", "v_off", "p")
        self.above("r_off", "r_on", "ohm")
        self.above("x_off", "x_on", "m")
        self._check(np.asarray(self.k_on) < 0, "k_on", self.k_on, "< 0 m/s")
        self._check(np.asarray(self.v_on) < 0, "v_on", self.v_on, "< 0 V")
        if self.iv not in IV_FORMS:
            raise DeviceError(f"{self.model}: iv={self.iv!r} must be linear or exponential")
        if self.window not in win.WINDOWS:
            raise DeviceError(f"{self.model}: window={self.window!r} must be one of "
                              f"{', '.join(win.WINDOWS)}")


def resistance(p, x: np.ndarray) -> np.ndarray:
    """Native R(s) (ohm) of TEAM/VTEAM parameters ``p`` (linear or exponential)."""
    if p.iv == "linear":
        return p.r_on + (p.r_off - p.r_on) * (1 - x)
    return p.r_on * np.exp(np.log(p.r_off / p.r_on) * (1 - x))


def spice_resistance(p) -> str:
    if p.iv == "linear":
        return "({r_on}+({r_off}-{r_on})*(1-v(x)))"
    return "({r_on}*exp(ln({r_off}/{r_on})*(1-v(x))))"


@register("vteam")
class VTEAM(SeparableModel):
    """Voltage-threshold adaptive memristor model."""

    kind = "thresholded"
    citation = ("Kvatinsky et al., IEEE TCAS-II 62(8):786 (2015); preset: MemTorch VTEAM "
                "defaults (coreylammie/MemTorch)")
    Params = VTEAMParams
    polarity = -1
    factorable_iv = True
    d2d_fields = ("r_on", "r_off", "k_on", "k_off", "v_on", "v_off")
    demo = Demo(amplitude=0.25, frequency=1e6, v_set=0.22, v_reset=-0.3, t_pulse=10e-9, x0=0.1)

    @property
    def edge(self) -> float:  # type: ignore[override]
        return 0.0 if self.params.window == "none" else EDGE

    @property
    def bounds(self) -> tuple[float, float]:
        if self.params.window == "joglekar":  # vanishes at both bounds: keep full precision
            return X_MIN, X_MAX
        return self.edge, 1.0 - self.edge

    @property
    def separable(self) -> bool:
        return win.closed_form(self.params.window, self.params.p)

    @property
    def v_th_set(self):
        return -self.params.v_on

    @property
    def v_th_reset(self):
        return -self.params.v_off

    def _current(self, vn, x):
        return vn / resistance(self.params, x)

    def _drift(self, vn):
        p = self.params
        d = p.x_off - p.x_on
        m_off, m_on = vn > p.v_off, vn < p.v_on
        off = p.k_off * power_above(vn / p.v_off - 1, p.alpha_off, m_off)
        on = p.k_on * power_above(vn / p.v_on - 1, p.alpha_on, m_on)
        dxdt = np.where(m_off, off, np.where(m_on, on, 0.0))
        return -dxdt / d

    def _f(self, x, up):
        return win.window(self.params.window, x, up, self.params.p)

    def _phi(self, x, up):
        return win.phi(self.params.window, x, up, self.params.p)

    def _phi_inv(self, y, up):
        return win.phi_inv(self.params.window, y, up, self.params.p)

    def _closed_energy(self, x, vn, t, x1):
        """Exact native energy (J) for window ``none``: ``E = V²·(∫G ds/g + G(s1)·(t - t_move))``.

        With ``ds/dt = g(V)`` (1/s) the moving part lasts ``t_move = (s1 - s0)/g`` and
        ``∫G dt = ∫G ds/g``; ``∫G ds = ln(R(s0)/R(s1))/(R_OFF - R_ON)`` for the linear I-V and
        ``(G(s1) - G(s0))/λ`` (λ = ln(R_OFF/R_ON)) for the exponential one, written with
        log1p/expm1 so that short pulses keep full relative precision. After a hard bound
        (or below threshold, g = 0) the device dissipates ``V²·G(s1)`` at rest. Other windows:
        None (integrator).
        """
        p = self.params
        if p.window != "none":
            return None
        g = self._drift(vn) + np.zeros(x.shape)
        safe = np.where(g != 0, g, 1.0)
        ds = x1 - x
        t_move = np.where(g != 0, np.clip(ds / safe, 0.0, t), 0.0)
        r1 = resistance(p, x1)
        if p.iv == "linear":
            int_g = np.log1p((p.r_off - p.r_on) * ds / r1) / (p.r_off - p.r_on)
        else:
            lam = np.log(p.r_off / p.r_on)
            int_g = np.expm1(lam * ds) / (resistance(p, x) * lam)
        int_g = np.where(g != 0, int_g / safe, 0.0)
        return vn**2 * (int_g + (t - t_move) / r1)

    def spice_current(self) -> str:
        return "v(vn)/" + spice_resistance(self.params)

    def spice_rate(self) -> str:
        g = ("-(v(vn) > {v_off} ? {k_off}*pow(v(vn)/{v_off}-1,{alpha_off}) : "
             "(v(vn) < {v_on} ? {k_on}*pow(v(vn)/{v_on}-1,{alpha_on}) : 0))/({x_off}-{x_on})")
        return f"({g})*" + win.spice_window(self.params.window, "v(vn) < 0")

    def spice_logit_rate(self) -> str | None:
        ratio = win.spice_logit_window(self.params.window, self.params.p)
        if ratio is None:
            return None
        return self.spice_rate().replace(win.spice_window("joglekar", ""), ratio)
