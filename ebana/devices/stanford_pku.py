"""Stanford-PKU RRAM model v1.0.0, deterministic mode (Jiang et al., SISPAD 2014; TED 2016).

Gap g ∈ [g_min, g_max] (m), normalised ``s = (g_max - g)/(g_max - g_min)``:
``I = I0·exp(-g/g0)·sinh(V/V0)``; ``T = T0 + |V·I|·R_th``; ``γ = γ0 - β·(g/g1)^3``;
``dg/dt = -v0·exp(-q·E_a/(k_B·T))·sinh(γ·a0·q·V/(t_ox·k_B·T))·gate`` with the field gate
``gate = clip((γ|V|/t_ox - F_min)/(w·F_min), 0, 1)``. Positive V shrinks the gap (SET).

Deviation from v1.0.0 (documented, devices.md §9.8): the published gate is a step at
``γ|V|/t_ox = F_min``; here it ramps linearly over a relative field width ``w = 1e-3`` above
F_min, in numpy and in SPICE alike, so the ngspice version converges; below F_min nothing
moves, exactly. Gap bounds are hard (direction-aware clip). Not separable (T depends on I):
pulses are integrated adaptively.

Defaults: MemTorch / nanoHUB v1.0.0 standard set; read resistances 541.82 Ω (g_min) and
218 586 Ω (g_max) at 0.1 V.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import V_READ, Demo, DeviceParams
from ebana.devices.batch_integrate import INTEGRATORS, BatchIntegrated
from ebana.devices.registry import register
from ebana.errors import DeviceError

__all__ = ["StanfordParams", "StanfordPKU", "Q_E", "K_B"]

Q_E = 1.6e-19
"""Elementary charge as used by the model (C)."""
K_B = 1.3806503e-23
"""Boltzmann constant as used by the model (J/K)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StanfordParams(DeviceParams):
    """Stanford-PKU v1.0.0 standard parameters."""

    model = "stanford_pku"
    i0: float = 1e-3
    """Current amplitude (A)."""
    g0: float = 0.25e-9
    """Current gap decay length (m)."""
    v0: float = 0.25
    """Current voltage scale (V)."""
    vel0: float = 10.0
    """Gap velocity prefactor (m/s)."""
    gamma0: float = 16.0
    """Field enhancement at zero gap (–)."""
    beta: float = 0.8
    """Field enhancement gap coefficient (–)."""
    g1: float = 1e-9
    """Field enhancement gap scale (m)."""
    e_a: float = 0.6
    """Activation energy (eV)."""
    a0: float = 0.25e-9
    """Atomic hopping distance (m)."""
    t_ox: float = 12e-9
    """Oxide thickness (m)."""
    f_min: float = 1.4e9
    """Minimum field for gap motion (V/m)."""
    r_th: float = 2.1e3
    """Thermal resistance (K/W)."""
    t0: float = 298.0
    """Ambient temperature (K)."""
    g_min: float = 0.2e-9
    """Smallest gap, most conductive (m)."""
    g_max: float = 1.7e-9
    """Largest gap, least conductive (m)."""
    gate_width: float = 1e-3
    """Relative field width of the gate ramp above F_min (–)."""

    integrator: str = "fast"
    """Pulse integration: ``fast`` (per-device adaptive RK, :mod:`ebana.devices.batch_integrate`) or
    ``adaptive`` (the shared-step reference integrator, rtol 1e-9)."""

    def validate(self) -> None:
        self.positive("i0", "g0", "v0", "vel0", "gamma0", "g1", "e_a", "a0", "t_ox", "f_min",
                      "t0", "g_min", "gate_width")
        self._check(np.asarray(self.r_th) >= 0, "r_th", self.r_th, ">= 0 K/W")
        self.above("g_max", "g_min", "m")
        self._check(np.asarray(self.beta) >= 0, "beta", self.beta, ">= 0")
        if self.integrator not in INTEGRATORS:
            raise DeviceError(f"{self.model}: integrator={self.integrator!r} must be fast or adaptive")


@register("stanford_pku")
class StanfordPKU(BatchIntegrated):
    """Stanford-PKU RRAM gap model (deterministic)."""

    kind = "thresholded"
    citation = ("Jiang et al., SISPAD 2014 and IEEE TED 63(5):1884 (2016), Stanford-PKU RRAM "
                "model v1.0.0 (nanoHUB); defaults as in MemTorch Stanford_PKU")
    Params = StanfordParams
    presets = {"adaptive": {"integrator": "adaptive"}}
    """``adaptive``: the shared-step reference integrator for every pulse (as before the fast path)."""
    d2d_fields = ("i0", "vel0", "g_min", "g_max", "f_min")
    demo = Demo(amplitude=1.5, frequency=1e5, v_set=1.3, v_reset=-1.3, t_pulse=20e-9, x0=0.1)

    def _gamma(self, gap):
        p = self.params
        return p.gamma0 - p.beta * (gap / p.g1) ** 3

    @property
    def v_th_set(self):
        p = self.params
        return p.f_min * p.t_ox / self._gamma(p.g_min)

    @property
    def v_th_reset(self):
        return -self.v_th_set

    def _gap(self, s):
        p = self.params
        return p.g_max - s * (p.g_max - p.g_min)

    def _current(self, vn, s):
        p = self.params
        return p.i0 * np.exp(-self._gap(s) / p.g0) * np.sinh(vn / p.v0)

    def _rate(self, vn, s):
        p = self.params
        gap = self._gap(s)
        temp = p.t0 + np.abs(vn * self._current(vn, s)) * p.r_th
        gamma = self._gamma(gap)
        gate = np.clip((gamma * np.abs(vn) / p.t_ox - p.f_min) / (p.gate_width * p.f_min), 0, 1)
        kt = K_B * temp
        dgdt = -p.vel0 * np.exp(-Q_E * p.e_a / kt) * np.sinh(gamma * p.a0 * Q_E * vn
                                                              / (p.t_ox * kt)) * gate
        return -dgdt / (p.g_max - p.g_min)

    def _pulse_rhs(self, vn):
        """sinh(V/V0) and the field/voltage factors once per pulse, the cube of the gap by
        multiplication; power ``V·sinh(V/V0)·(a·V_READ/sinh(V_READ/V0) + b·I0·e^(-gap/g0))``
        (I/G does not depend on the gap)."""
        p = self.params
        a, b = self._read_map()
        sh = np.sinh(vn / p.v0)
        c_read = a * V_READ / np.sinh(V_READ / p.v0)
        av = np.abs(vn)
        span = p.g_max - p.g_min
        field = av / (p.t_ox * p.gate_width * p.f_min)  # gate = clip(γ·field - 1/w, 0, 1)
        inv_w = 1.0 / p.gate_width
        hop = p.a0 * Q_E * vn / (p.t_ox * K_B)
        act = Q_E * p.e_a / K_B
        pref = p.vel0 / span

        def rhs(s):
            gap = p.g_max - s * span
            i = p.i0 * np.exp(-gap / p.g0) * sh
            temp = p.t0 + np.abs(vn * i) * p.r_th
            q = gap / p.g1
            gamma = p.gamma0 - p.beta * (q * q * q)
            gate = np.clip(gamma * field - inv_w, 0.0, 1.0)
            rate = pref * np.exp(-act / temp) * np.sinh(gamma * hop / temp) * gate
            return rate, vn * (sh * c_read + b * i)

        return rhs

    def spice_params(self) -> dict[str, float]:
        out = super().spice_params()
        # q/k_B as one constant: ngspice's division guards tiny denominators (~1e-29)
        out["qk"] = Q_E / K_B
        return out

    def spice_current(self) -> str:
        return "{i0}*exp(-({g_max}-v(x)*({g_max}-{g_min}))/{g0})*sinh(v(vn)/{v0})"

    def spice_rate(self) -> str:
        gap = "({g_max}-v(x)*({g_max}-{g_min}))"
        gam = f"({{gamma0}}-{{beta}}*pow({gap}/{{g1}},3))"
        temp = f"({{t0}}+abs(v(vn)*{self.spice_current()})*{{r_th}})"
        gate = (f"min(1,max(0,({gam}*abs(v(vn))/{{t_ox}}-{{f_min}})"
                "/({gate_width}*{f_min})))")
        return (f"{{vel0}}*exp(-{{qk}}*{{e_a}}/{temp})*sinh({gam}*({{a0}}/{{t_ox}})*{{qk}}*v(vn)"
                f"/{temp})*{gate}/({{g_max}}-{{g_min}})")
