"""Ideal linear device: the baseline memristor.

Conductance is linear in the state, ``G(x) = 1/R_OFF + (1/R_ON - 1/R_OFF)·x``, the I-V is ohmic,
``I = G(x)·V``, and a pulse moves the state exactly in proportion to it:
``dx/dt = k·V`` for ``|V| > v_th`` (0 otherwise), with hard bounds at 0 and 1. With
``v_th = 0`` (default) it is continuous-drift; with ``v_th > 0`` thresholded. Energy is
``V²·∫G(x(t))dt`` in closed form (``V²·G·t`` when the state does not move).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import Demo, DeviceParams, SeparableModel
from ebana.devices.registry import register

__all__ = ["IdealParams", "Ideal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IdealParams(DeviceParams):
    """Ideal linear device parameters."""

    model = "ideal"
    r_on: float = 1e3
    """Resistance at x = 1 (ohm)."""
    r_off: float = 1e5
    """Resistance at x = 0 (ohm)."""
    k: float = 1e4
    """State speed per volt (1/(V·s)); a 1 V, 1 µs pulse moves x by 0.01."""
    v_th: float = 0.0
    """Symmetric threshold (V, >= 0): no motion for |V| <= v_th."""

    def validate(self) -> None:
        self.positive("r_on", "k")
        self.above("r_off", "r_on", "ohm")
        self._check(np.asarray(self.v_th) >= 0, "v_th", self.v_th, ">= 0 V")


@register("ideal")
class Ideal(SeparableModel):
    """Ideal linear (PWM-exact) memristor."""

    citation = "ebana baseline: G linear in x, dx/dt = k·V above |v_th| (no publication)"
    Params = IdealParams
    factorable_iv = True
    d2d_fields = ("r_on", "r_off", "k")
    demo = Demo(amplitude=1.0, frequency=5e3, v_set=1.0, v_reset=-1.0, t_pulse=2e-6, x0=0.1)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "thresholded" if np.any(np.asarray(self.params.v_th) > 0) else "continuous"

    @property
    def v_th_set(self):
        return self.params.v_th if self.kind == "thresholded" else None

    @property
    def v_th_reset(self):
        return -self.params.v_th if self.kind == "thresholded" else None

    def _g(self, x):
        p = self.params
        return 1.0 / p.r_off + (1.0 / p.r_on - 1.0 / p.r_off) * x

    def _current(self, vn, x):
        return vn * self._g(x)

    def _drift(self, vn):
        p = self.params
        return np.where(np.abs(vn) > p.v_th, p.k * vn, 0.0)

    def _f(self, x, up):
        return np.ones_like(x)

    def _phi(self, x, up):
        return x + 0.0 * up

    def _phi_inv(self, y, up):
        return y

    def _closed_energy(self, x, vn, t, x1):
        g = self._drift(vn) + np.zeros(x.shape)
        t_move = np.where(g != 0, np.minimum(t, np.abs(x1 - x) / np.where(g != 0, np.abs(g), 1)), 0)
        return vn**2 * (0.5 * (self._g(x) + self._g(x1)) * t_move + self._g(x1) * (t - t_move))

    def spice_current(self) -> str:
        return "v(vn)*(1/{r_off}+(1/{r_on}-1/{r_off})*v(x))"

    def spice_rate(self) -> str:
        return "abs(v(vn)) > {v_th} ? {k}*v(vn) : 0"
