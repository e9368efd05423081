"""Nonlinear ion drift memristor (Lehtonen & Laiho, CNNA 2009).

Voltage controlled, state w = x ∈ [0, 1]:
``i = i_scale·(x^n·β·sinh(α·v) + χ·(exp(γ·v) - 1))`` and ``dx/dt = a·sign(v)|v|^q·f(x)`` with q
odd, so drift is negligible at small |v| but never zero (continuous drift, soft threshold).
The window f defaults to Biolek (direction-aware) instead of the usual Joglekar, which sticks
at the bounds (devices.md §1); ``window="joglekar"`` is available. Separable: closed form for
p = 1.

Preset: the Lehtonen-Laiho SPICE listing (α = 2, β = 9, χ = 0.01, γ = 4, n = 4, q = 13,
a = 1/C = 1.25e4). The listing's current is dimensionless; ``i_scale = 1e-4 A`` is an ebana
choice giving R ≈ 552 Ω (x = 1) and ≈ 204 kΩ (x = 0) at 0.1 V. ``preset="technion_2011"``
gives the Kvatinsky et al. (2011) Verilog-A defaults (n = 14, a = 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices import windows as win
from ebana.devices.base import EDGE, X_MAX, X_MIN, Demo, DeviceParams, SeparableModel
from ebana.devices.registry import register
from ebana.errors import DeviceError

__all__ = ["NonlinearParams", "NonlinearIonDrift"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NonlinearParams(DeviceParams):
    """Lehtonen-Laiho parameters."""

    model = "nonlinear_ion_drift"
    alpha: float = 2.0
    """sinh slope of the ON current (1/V)."""
    beta: float = 9.0
    """ON current amplitude (–, times i_scale)."""
    chi: float = 0.01
    """Exponential (OFF, rectifying) current amplitude (–, times i_scale)."""
    gamma: float = 4.0
    """Exponential slope (1/V)."""
    n: float = 4.0
    """State exponent of the ON current (–)."""
    q: float = 13.0
    """Odd voltage exponent of the drift (–)."""
    a: float = 1.25e4
    """Drift constant (1/(s·V^q))."""
    i_scale: float = 1e-4
    """Current unit (A)."""
    window: str = "biolek"
    """none, joglekar or biolek."""
    p: float = 1.0
    """Window exponent (–)."""

    def validate(self) -> None:
        self.positive("alpha", "beta", "gamma", "n", "q", "a", "i_scale", "p")
        self._check(np.asarray(self.chi) >= 0, "chi", self.chi, ">= 0")
        if self.window not in win.WINDOWS:
            raise DeviceError(f"{self.model}: window={self.window!r} must be one of "
                              f"{', '.join(win.WINDOWS)}")


@register("nonlinear_ion_drift")
class NonlinearIonDrift(SeparableModel):
    """Lehtonen-Laiho nonlinear ion drift model."""

    citation = "Lehtonen & Laiho, Proc. CNNA 2009 (nonlinear ion drift, q = 13 SPICE listing)"
    Params = NonlinearParams
    d2d_fields = ("beta", "a")
    presets = {"lehtonen_laiho_2009": {},
               "technion_2011": {"n": 14.0, "a": 4.0}}
    demo = Demo(amplitude=1.0, frequency=2e3, v_set=1.0, v_reset=-1.0, t_pulse=5e-6, x0=0.1)

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

    def _current(self, vn, x):
        p = self.params
        return p.i_scale * (np.abs(x) ** p.n * p.beta * np.sinh(p.alpha * vn)
                            + p.chi * np.expm1(p.gamma * vn))

    def _drift(self, vn):
        p = self.params
        return p.a * np.sign(vn) * np.abs(vn) ** p.q

    def _f(self, x, up):
        return win.window(self.params.window, x, up, self.params.p)

    def _phi(self, x, up):
        return win.phi(self.params.window, x, up, self.params.p)

    def _phi_inv(self, y, up):
        return win.phi_inv(self.params.window, y, up, self.params.p)

    def spice_current(self) -> str:
        return ("{i_scale}*(pow(v(x),{n})*{beta}*sinh({alpha}*v(vn))"
                "+{chi}*(exp({gamma}*v(vn))-1))")

    def spice_rate(self) -> str:
        return "{a}*pwr(v(vn),{q})*" + win.spice_window(self.params.window, "v(vn) > 0")

    def spice_logit_rate(self) -> str | None:
        ratio = win.spice_logit_window(self.params.window, self.params.p)
        return None if ratio is None else "{a}*pwr(v(vn),{q})*" + ratio
