"""Parametric response-function devices: linear, power and exponential soft bounds.

The device view of aihwkit (``SoftBoundsDevice``, ``PowStepDevice``, ``ExpStepDevice``) and
of seed 001 (Wu et al. 2025, devices.md §8), written as physical memristors so that they run
in the circuit, in ngspice and through the pulse layer like every other model.

**State and read-out.** ``x ∈ [0, 1]``; the weight coordinate of the seed is ``w = 2x - 1``
(half range τ = 1). The I-V is ohmic, ``I = G(x)·V`` with
``G(x) = 1/R_OFF + (1/R_ON - 1/R_OFF)·x`` (S), so ΔG is proportional to Δx.

**Dynamics.** ``dx/dt = g(V)·q_d(x)``, d = + for V > 0 (potentiate), − for V < 0:

* drive (VTEAM-like threshold, V): ``g(V) = k₊·(V/v_on - 1)^alpha`` for ``V > v_on``;
  ``-k₋·(V/v_off - 1)^alpha`` for ``V < v_off``; 0 in between. The speeds (1/s) follow
  aihwkit's ``up_down`` u exactly: ``k₊ = k·(1 + min(u, 0))``, ``k₋ = k·(1 - max(u, 0))``, so
  u > 0 keeps the SET step and shrinks only the RESET step to (1 - u) of it, u < 0 the reverse
  (IBM/aihwkit:src/rpucuda/rpu_pulsed_device.cpp, ``PulsedRPUDevice::populate``: the up bias
  is min(up_down, 0) and the down bias -max(up_down, 0), both added to the unit gain that
  multiplies dw_min; ``k`` plays dw_min's role per unit time);
* response (normalised so that q₊ = q₋ = 1 at x = 1/2):

  ========================  ==========================================  =====================
  model                     q₊(x)                                       q₋(x)
  ========================  ==========================================  =====================
  ``soft_bounds_linear``    2(1 - x)          (= 1 - w)                 2x       (= 1 + w)
  ``soft_bounds_power``     (2(1 - x))^γ      (= (1 - w)^γ)             (2x)^γ
  ``soft_bounds_exp``       (e^{2γ(1-x)} - 1)/(e^γ - 1)                 (e^{2γx} - 1)/(e^γ - 1)
  ========================  ==========================================  =====================

  with ``γ = gamma_r`` (the seed's γ_res). For the linear family (aihwkit ``SoftBoundsDevice``
  with bounds ±b) the symmetric point k₊·q₊ = k₋·q₋ is ``w⋄ = u/(2 - |u|)`` (aihwkit:
  ``b·u/(2 - |u|)``; u = 0.3 and b = 0.6 give 0.18/1.7). Before issue 17 ebana used
  ``k(1 ± u)`` under this name (w⋄ = u); :func:`from_rate_bias` converts such parameters.

Per polarity the model is separable, so a pulse is integrated in closed form
(``Φ(x1) = Φ(x0) + g(V)·t``, exact under pulse splitting). Write energy ``V²·∫G dt`` is closed
form for the linear and power families (``∫x dt = ΔΨ/g`` with ``Ψ' = x/q``) and, for the
exponential one, ``ΔΨ = x_b·ΔΦ + ∫(x - x_b)/q dx`` (x_b the bound approached) with an analytic
integrand by Gauss-Legendre (:mod:`ebana.devices.quadrature`, error < 1e-12 relative).
:meth:`with_range` of these linear-G devices is exact
as a change of ``r_on``/``r_off`` (keeps the closed-form energy).

Presets ``asymmetric`` exist for every family: SET speed 1.18e4/s and RESET speed 8.2e3/s
(``k = 1.18e4``, ``up_down = 0.36/1.18 = 0.3051``, the conversion of the earlier
``k = 1e4, up_down = 0.18`` in k(1 ± u) terms, bit-identical pulse for pulse); the linear family's
w⋄ = 0.18 (x⋄ = 0.59, the cluster of seed 004). ``soft_bounds_power`` defaults to the
seed-001 MNIST shape γ = 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import EDGE, Demo, DeviceParams, SeparableModel, power_above
from ebana.devices.quadrature import rho_complex_pole, tiered_gauss_legendre
from ebana.devices.registry import register
from ebana.errors import DeviceError

__all__ = ["SoftBoundsParams", "PowerParams", "ExpParams", "SoftBoundsLinear", "SoftBoundsPower",
           "SoftBoundsExp", "from_rate_bias", "symmetric_point_linear"]


def from_rate_bias(k: float, beta: float) -> dict[str, float]:
    """``{"k", "up_down"}`` (1/s, –) of the device whose speeds are ``k(1 + β)`` (SET) and
    ``k(1 - β)`` (RESET): ebana's meaning of ``up_down`` before issue 17.

    ``k' = k(1 + |β|)`` and ``up_down = 2β/(1 + |β|)``; the speeds agree to rounding
    (exactly for the ``asymmetric`` preset, k = 1e4, β = 0.18)."""
    b = float(beta)
    if not abs(b) < 1:
        raise DeviceError(f"soft bounds: rate bias beta={b!r} must lie in (-1, 1)")
    return {"k": k * (1 + abs(b)), "up_down": 2 * b / (1 + abs(b))}


def symmetric_point_linear(up_down: float, b: float = 1.0) -> float:
    """Symmetric point ``w⋄ = b·u/(2 - |u|)`` of linear soft bounds ±b with aihwkit's up_down u."""
    return b * up_down / (2 - abs(up_down))


_ASYM = {"asymmetric": from_rate_bias(1e4, 0.18)}
_CITE = ("response families of Wu et al., arXiv:2502.06309 (2025) and aihwkit "
         "SoftBounds/PowStep/ExpStep devices; drive: VTEAM-like threshold")


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftBoundsParams(DeviceParams):
    """Linear soft-bounds device parameters."""

    model = "soft_bounds_linear"
    r_on: float = 1e3
    """Resistance at x = 1 (ohm)."""
    r_off: float = 1e5
    """Resistance at x = 0 (ohm)."""
    k: float = 1e4
    """Speed (1/s, aihwkit's dw_min per unit time): with up_down = 0 a 1 V, 1 µs pulse moves x
    by 0.01·q at the default thresholds."""
    up_down: float = 0.0
    """aihwkit's up/down bias u (–, |u| < 1): SET speed k·(1 + min(u, 0)), RESET speed
    k·(1 - max(u, 0)); linear-family symmetric point w⋄ = u/(2 - |u|)."""
    v_on: float = 0.5
    """SET threshold (V, > 0)."""
    v_off: float = -0.5
    """RESET threshold (V, < 0)."""
    alpha: float = 3.0
    """Drive exponent (–, >= 1; VTEAM's α_on = 3): energy per step falls with amplitude."""

    def validate(self) -> None:
        self.positive("r_on", "k", "v_on")
        self.above("r_off", "r_on", "ohm")
        self._check(np.abs(self.up_down) < 1, "up_down", self.up_down, "in (-1, 1)")
        self._check(np.asarray(self.v_off) < 0, "v_off", self.v_off, "< 0 V")
        self._check(np.asarray(self.alpha) >= 1, "alpha", self.alpha, ">= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerParams(SoftBoundsParams):
    """Power-response soft-bounds parameters."""

    model = "soft_bounds_power"
    gamma_r: float = 0.5
    """Response exponent γ_res (–, > 0); 1 is the linear family."""

    def validate(self) -> None:
        SoftBoundsParams.validate(self)
        self.positive("gamma_r")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpParams(SoftBoundsParams):
    """Exponential-response soft-bounds parameters."""

    model = "soft_bounds_exp"
    gamma_r: float = 2.0
    """Response steepness γ_res (–, > 0)."""

    def validate(self) -> None:
        SoftBoundsParams.validate(self)
        self.positive("gamma_r")


def _ip(u: np.ndarray, p: float) -> np.ndarray:
    """∫u^p du: u^(p+1)/(p+1), or ln u for p = -1."""
    if p == -1.0:
        return np.log(u)
    return u ** (p + 1) / (p + 1)


def _ip_inv(z: np.ndarray, p: float) -> np.ndarray:
    """u >= 0 with ``_ip(u, p) = z``; 0 where z lies below _ip(0) (the bound is reached)."""
    if p == -1.0:
        return np.exp(z)
    a = (p + 1) * z
    return np.where(a > 0, np.abs(a) ** (1.0 / (p + 1)), 0.0)


class _SoftBounds(SeparableModel):
    """Shared drive, read-out and SPICE of the three families."""

    kind = "thresholded"
    citation = _CITE
    edge = EDGE
    factorable_iv = True
    d2d_fields = ("r_on", "r_off", "k")
    presets = _ASYM
    demo = Demo(amplitude=1.0, frequency=1e3, v_set=1.0, v_reset=-1.0, t_pulse=2e-6, x0=0.1)

    @property
    def v_th_set(self):
        return self.params.v_on

    @property
    def v_th_reset(self):
        return self.params.v_off

    def _g(self, x):
        p = self.params
        return 1.0 / p.r_off + (1.0 / p.r_on - 1.0 / p.r_off) * x

    def _current(self, vn, x):
        return vn * self._g(x)

    def _drift(self, vn):
        p = self.params
        # aihwkit up_down (module docstring): only the slower polarity is scaled down
        m_up, m_dn = vn > p.v_on, vn < p.v_off
        up = p.k * (1 + np.minimum(p.up_down, 0.0)) * power_above(vn / p.v_on - 1, p.alpha, m_up)
        dn = p.k * (1 - np.maximum(p.up_down, 0.0)) * power_above(vn / p.v_off - 1, p.alpha, m_dn)
        return np.where(m_up, up, np.where(m_dn, -dn, 0.0))

    def with_range(self, r_on: float, r_off: float):
        """Exact for a linear-G device: the same dynamics with ``r_on``/``r_off`` replaced."""
        super().with_range(r_on, r_off)  # validation only
        return self.replace(r_on=r_on, r_off=r_off)

    def spice_current(self) -> str:
        return "v(vn)*(1/{r_off}+(1/{r_on}-1/{r_off})*v(x))"

    def _spice_q(self, up: bool) -> str:
        raise NotImplementedError

    def spice_rate(self) -> str:
        return ("(v(vn) > {v_on} ? {k}*(1+min({up_down},0))*pow(v(vn)/{v_on}-1,{alpha})*"
                + self._spice_q(True)
                + " : (v(vn) < {v_off} ? -{k}*(1-max({up_down},0))*pow(v(vn)/{v_off}-1,{alpha})*"
                + self._spice_q(False) + " : 0))")

    _dpsi_declines: bool = False
    """True when :meth:`_dpsi` may return NaN for a device (a quadrature that declines it)."""

    # ∫x dt over the moving part of a pulse = ΔΨ/g (Ψ' = x/q); None -> adaptive integration
    def _psi(self, x, up):
        return None

    def _dpsi(self, x, x1, up, dphi):
        """``Ψ(x1) - Ψ(x)`` (–·s·g, Ψ' = x/q), or None; ``dphi`` = Φ(x1) - Φ(x)."""
        psi0 = self._psi(x, up)
        return None if psi0 is None else self._psi(x1, up) - psi0

    def _closed_energy(self, x, vn, t, x1):
        g = self._drift(vn) + np.zeros(x.shape)
        up = g > 0
        safe = np.where(g != 0, g, 1.0)
        with np.errstate(all="ignore"):
            dphi = np.nan_to_num(self._phi(x1, up) - self._phi(x, up), nan=0.0, posinf=0, neginf=0)
            dpsi = self._dpsi(x, x1, up, dphi)
            if dpsi is None:
                return None
            t_move = np.where(g != 0, np.clip(dphi / safe, 0.0, t), 0.0)
            int_x = np.where(g != 0, np.nan_to_num(dpsi / safe, nan=0.0, posinf=0, neginf=0), 0.0)
        p = self.params
        dg = 1.0 / p.r_on - 1.0 / p.r_off
        e = vn**2 * (t / p.r_off + dg * (int_x + x1 * (t - t_move)))
        if self._dpsi_declines:  # NaN: the quadrature declined the device (integrate it)
            e = np.where((g != 0) & np.isnan(dpsi), np.nan, e)
        return e


class _PowerLike(_SoftBounds):
    """q₊ = (2(1 - x))^γ, q₋ = (2x)^γ."""

    def _gamma(self) -> float:
        return float(self.params.gamma_r)

    def _f(self, x, up):
        gm = self._gamma()
        return np.where(up, (2 * (1 - x)) ** gm, (2 * x) ** gm)

    def _phi(self, x, up):
        gm = self._gamma()
        s = 2.0 ** gm
        with np.errstate(divide="ignore"):
            return np.where(up, -_ip(1 - x, -gm), _ip(x, -gm)) / s

    def _phi_inv(self, y, up):
        gm = self._gamma()
        s = 2.0 ** gm
        u_up = _ip_inv(-s * y, -gm)
        x_dn = _ip_inv(s * y, -gm)
        return np.where(up, 1 - np.minimum(u_up, 1.0), np.minimum(x_dn, 1.0))

    def _psi(self, x, up):
        gm = self._gamma()
        s = 2.0 ** gm
        with np.errstate(divide="ignore"):
            return np.where(up, -_ip(1 - x, -gm) + _ip(1 - x, 1 - gm), _ip(x, 1 - gm)) / s


@register("soft_bounds_linear")
class SoftBoundsLinear(_PowerLike):
    """Linear soft bounds (aihwkit SoftBoundsDevice): q₊ = 1 - w, q₋ = 1 + w."""

    Params = SoftBoundsParams

    def _gamma(self) -> float:
        return 1.0

    def _spice_q(self, up: bool) -> str:
        return "max(2*(1-v(x)),0)" if up else "max(2*v(x),0)"


@register("soft_bounds_power")
class SoftBoundsPower(_PowerLike):
    """Power response (aihwkit PowStepDevice): q₊ = (1 - w)^γ, q₋ = (1 + w)^γ."""

    Params = PowerParams

    def _spice_q(self, up: bool) -> str:
        return ("pow(max(2*(1-v(x)),0),{gamma_r})" if up else "pow(max(2*v(x),0),{gamma_r})")


@register("soft_bounds_exp")
class SoftBoundsExp(_SoftBounds):
    """Exponential response: q± = (e^{γ(1 ∓ w)} - 1)/(e^γ - 1)."""

    Params = ExpParams
    _dpsi_declines = True

    def _f(self, x, up):
        gm = self.params.gamma_r
        u = np.where(up, 1 - x, x)
        return np.expm1(2 * gm * u) / np.expm1(gm)

    def _phi(self, x, up):
        gm = self.params.gamma_r
        c, a = 2 * gm, np.expm1(gm)
        u = np.where(up, 1 - x, x)
        with np.errstate(divide="ignore"):
            lg = np.log(-np.expm1(-c * u))
        return np.where(up, -a / c * lg, a / c * lg)

    def _phi_inv(self, y, up):
        gm = self.params.gamma_r
        c, a = 2 * gm, np.expm1(gm)
        s = c * y / a
        with np.errstate(divide="ignore", invalid="ignore"):
            u_up = -np.log(-np.expm1(-np.maximum(s, 0.0))) / c
            x_dn = -np.log(-np.expm1(np.minimum(s, 0.0))) / c
        return np.where(up, 1 - np.minimum(u_up, 1.0), np.minimum(x_dn, 1.0))

    def _dpsi(self, x, x1, up, dphi):
        """``ΔΨ = x_b·ΔΦ + ∫(x - x_b)/q dx`` with x_b the bound approached (1 up, 0 down).

        With u = |x - x_b|, ``(x - x_b)/q = ∓(e^γ - 1)·u/expm1(2γu)``: analytic on [0, 1] (poles
        at u = iπm/γ, π/γ off the real axis): a sweep of half-length h has ρ >= b + sqrt(1 + b²),
        b = π/(γh) (6.4 for a full sweep at γ = 2, 1.8 at γ = 10), and
        :func:`~ebana.devices.quadrature.tiered_gauss_legendre` picks the nodes (NaN, i.e. the
        integrator, where 24 do not meet its bound).
        """
        gm = self.params.gamma_r
        c, a = 2 * gm, np.expm1(gm)
        xf, x1f, upf = (np.ravel(z + np.zeros(x.shape)) for z in (x, x1, up))
        out = np.where(upf, 1.0, 0.0) * np.ravel(dphi)
        mv = np.flatnonzero(x1f != xf)
        if mv.size:
            um = upf[mv]
            sign = np.where(um, -a, a)

            def h(s, i):  # (x - x_b)/q(x) for devices mv[i]
                u = np.where(um[i], 1 - s, s)
                cu = c * u
                lin = np.divide(u, np.expm1(cu), out=np.full_like(u, 1.0 / c), where=cu != 0)
                return sign[i] * lin

            rho = rho_complex_pole(np.pi / gm, 0.5 * np.abs(x1f[mv] - xf[mv]))
            out[mv] += tiered_gauss_legendre(h, xf[mv], x1f[mv], rho)
        return out.reshape(x.shape)

    def _spice_q(self, up: bool) -> str:
        u = "max(1-v(x),0)" if up else "max(v(x),0)"
        return f"(exp(2*{{gamma_r}}*{u})-1)/(exp({{gamma_r}})-1)"
