"""Data-driven ReRAM model (Messaris et al., IEEE TCAD 37(12), 2018).

State R (ohm) in [R_ON, R_OFF], normalised ``s = (R_OFF - R)/(R_OFF - R_ON)``; η = 1:
``dR/dt = s_p(v)·(e^{k_p(r_p(v) - R)} - 1)·θ(r_p(v) - R)`` for v > 0 and
``s_n(v)·(e^{k_n(R - r_n(v))} - 1)·θ(R - r_n(v))`` for v < 0, with
``s_{p,n}(v) = A_{p,n}(e^{t_{p,n}|v|} - 1)`` and voltage-dependent bounds
``r_{p,n}(v) = r_{p,n}0 + r_{p,n}1·v``. I-V: ``I = a_{p,n}/R·sinh(b_{p,n}·v)``.

Native positive voltage RESETs (``polarity = -1``). The SET side is thresholded
(no state moves while r_n(v) >= R_OFF) and its depth depends on the amplitude; the RESET side
moves any state below r_p for any v > 0, so the model is classed continuous.
Exact pulse solution: with D the distance to the bound r(v), ``1 - e^{-kD}`` decays as
``e^{-k·s·t}``. Write energy (:meth:`Messaris._closed_energy`): ``E = V·a(V)sinh(bV)·∫dt/R``
with ``∫dt/R`` reduced to an integral over D with an analytic integrand, by Gauss-Legendre
(:mod:`ebana.devices.quadrature`, measured error <= 1e-10 relative). Preset: MemTorch
Data_Driven defaults (TiOx).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import Demo, DeviceModel, DeviceParams
from ebana.devices.quadrature import rho_complex_pole, rho_real_pole, tiered_gauss_legendre
from ebana.devices.registry import register

__all__ = ["MessarisParams", "Messaris"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessarisParams(DeviceParams):
    """Messaris 2018 parameters (MemTorch Data_Driven preset)."""

    model = "messaris"
    r_on: float = 1280.0
    """Lowest state resistance R (ohm)."""
    r_off: float = 17e3
    """Highest state resistance R (ohm)."""
    sw_ap: float = 743.47
    """RESET switching amplitude A_p (ohm/s, > 0)."""
    sw_an: float = -68012.28374
    """SET switching amplitude A_n (ohm/s, < 0)."""
    sw_tp: float = 6.51
    """RESET switching exponent t_p (1/V)."""
    sw_tn: float = 0.31645
    """SET switching exponent t_n (1/V)."""
    k_p: float = 5.11e-4
    """RESET window steepness (1/ohm)."""
    k_n: float = 1.17e-3
    """SET window steepness (1/ohm)."""
    r_p0: float = 16719.0
    """RESET bound r_p(v) = r_p0 + r_p1·v (ohm)."""
    r_p1: float = 0.0
    """(ohm/V)."""
    r_n0: float = 29304.82557
    """SET bound r_n(v) = r_n0 + r_n1·v (ohm)."""
    r_n1: float = 23692.77225
    """(ohm/V)."""
    i_ap: float = 0.24
    """I-V amplitude for v > 0 (A·ohm)."""
    i_an: float = 0.24
    """I-V amplitude for v < 0 (A·ohm)."""
    i_bp: float = 3.0
    """I-V sinh slope for v > 0 (1/V)."""
    i_bn: float = 3.0
    """I-V sinh slope for v < 0 (1/V)."""

    def validate(self) -> None:
        self.positive("r_on", "sw_ap", "sw_tp", "sw_tn", "k_p", "k_n", "i_ap", "i_an",
                      "i_bp", "i_bn")
        self.above("r_off", "r_on", "ohm")
        self._check(np.asarray(self.sw_an) < 0, "sw_an", self.sw_an, "< 0 ohm/s")


@register("messaris")
class Messaris(DeviceModel):
    """Messaris data-driven ReRAM model."""

    kind = "continuous"
    citation = ("Messaris et al., IEEE TCAD 37(12):3151 (2018); preset: MemTorch Data_Driven "
                "(TiOx) defaults")
    Params = MessarisParams
    polarity = -1
    factorable_iv = True  # I = a(V)sinh(bV)/R(s)
    d2d_fields = ("r_on", "r_off", "sw_ap", "sw_an", "r_p0", "r_n0")
    demo = Demo(amplitude=1.2, frequency=1e3, v_set=1.0, v_reset=-1.4, t_pulse=1e-6, x0=0.1)

    @property
    def v_th_set(self):
        p = self.params
        v = (np.asarray(p.r_n0) - p.r_off) / p.r_n1
        return v if np.all(v > 0) else None

    def _r(self, s):
        p = self.params
        return p.r_off - s * (p.r_off - p.r_on)

    def _s(self, r):
        p = self.params
        return (p.r_off - r) / (p.r_off - p.r_on)

    def _current(self, vn, s):
        p = self.params
        amp = np.where(vn >= 0, p.i_ap * np.sinh(p.i_bp * vn), p.i_an * np.sinh(p.i_bn * vn))
        return amp / self._r(s)

    def _branches(self, vn):
        p = self.params
        av = np.abs(vn)
        sp = p.sw_ap * np.expm1(p.sw_tp * av)
        sn = -p.sw_an * np.expm1(p.sw_tn * av)
        return sp, sn, p.r_p0 + p.r_p1 * vn, p.r_n0 + p.r_n1 * vn

    def _rate(self, vn, s):
        p = self.params
        r = self._r(s)
        sp, sn, rp, rn = self._branches(vn)
        up = sp * np.maximum(np.expm1(p.k_p * (rp - r)), 0.0)
        dn = -sn * np.maximum(np.expm1(p.k_n * (r - rn)), 0.0)
        drdt = np.where(vn > 0, up, np.where(vn < 0, dn, 0.0))
        return -drdt / (p.r_off - p.r_on)

    def _closed_form(self, s, vn, t):
        p = self.params
        r0 = self._r(s)
        sp, sn, rp, rn = self._branches(vn)
        pos = vn > 0
        k = np.where(pos, p.k_p, p.k_n)
        rate = np.where(pos, sp, sn)
        d0 = np.where(pos, rp - r0, r0 - rn)
        d1 = -np.log1p(np.expm1(-k * d0) * np.exp(-k * rate * t)) / k
        r1 = np.where(pos, rp - d1, rn + d1)
        moving = (d0 > 0) & (vn != 0) & (t > 0)
        r1 = np.clip(np.where(moving, r1, r0), p.r_on, p.r_off)
        return np.where(moving, self._s(r1), s)

    def _closed_energy(self, s, vn, t, s1):
        """Native energy (J): ``E = V·a(V)sinh(bV)·∫dt/R`` with, along the exact trajectory,

        ``∫_0^t dt/R = t/R1 - σ/(R1·A)·∫_{D1}^{D0} (D - D1)/(expm1(kD)·R(D)) dD``

        (D = distance to the voltage-dependent bound, ``R = r + σD``: σ = -1, r = r_p for
        v > 0, σ = +1, r = r_n for v < 0; A the switching sensitivity s_{p,n}(v); D0 -> D1 the
        sweep, ending on a hard bound R_ON/R_OFF or not). It follows from
        ``1/R - 1/R1 = -σ(D - D1)/(R·R1)`` and ``dt = -dD/(A·expm1(kD))``; after a hard bound the
        device rests at R1, which the first term already counts. The integrand is analytic on
        the sweep: poles at R(D) = 0 (at least R_ON = 1280 ohm beyond either end) and at
        kD = 2πim (12.3 kohm, 5.4 kohm off the real axis), so for the preset's widest sweep
        (15.7 kohm) ρ >= 1.75; :func:`~ebana.devices.quadrature.tiered_gauss_legendre` takes
        3 to 24 nodes by the per-device ρ (NaN, i.e. the integrator, where 24 are not enough).
        """
        p = self.params
        shape = s.shape
        r0, r1 = self._r(s), self._r(s1)
        sp, sn, rp, rn = self._branches(vn)
        pos = vn > 0
        sig = np.where(pos, -1.0, 1.0)
        a = np.where(pos, rp, rn) + np.zeros(shape)
        d0 = sig * (r0 - a)
        d1 = sig * (r1 - a)
        k = np.where(pos, p.k_p, p.k_n) + np.zeros(shape)
        rate = np.where(pos, sp, sn) + np.zeros(shape)
        mv = np.flatnonzero((vn != 0) & (t > 0) & (d1 < d0) & (rate > 0))
        corr = np.zeros(s.size)
        if mv.size:
            km, am, sm = (np.ravel(z)[mv] for z in (k, a, sig))
            e1 = np.maximum(np.ravel(d1)[mv], 0.0)  # >= 0 (rounding of R1 next to r(v))

            def q(d, i):  # (D - D1)/(expm1(kD)·R(D)); the nodes lie inside (D1, D0), so D > 0
                return (d - e1[i]) / (np.expm1(km[i] * d) * (am[i] + sm[i] * d))

            e0 = np.ravel(d0)[mv]
            half = 0.5 * (e0 - e1)
            r_near = np.minimum(np.ravel(r0 + 0.0 * s)[mv], np.ravel(r1 + 0.0 * s)[mv])
            rho = np.minimum(rho_real_pole(r_near, half), rho_complex_pole(2 * np.pi / km, half))
            j = tiered_gauss_legendre(lambda d, i: q(d, i), e1, e0, rho)
            corr[mv] = sm * j / np.ravel(rate)[mv]
        int_dt_r = (t - corr.reshape(shape) + 0.0) / r1
        amp = np.where(vn >= 0, p.i_ap * np.sinh(p.i_bp * vn), p.i_an * np.sinh(p.i_bn * vn))
        return vn * amp * int_dt_r

    def spice_current(self) -> str:
        return ("(v(vn) >= 0 ? {i_ap}*sinh({i_bp}*v(vn)) : {i_an}*sinh({i_bn}*v(vn)))"
                "/({r_off}-v(x)*({r_off}-{r_on}))")

    def spice_rate(self) -> str:
        r = "({r_off}-v(x)*({r_off}-{r_on}))"
        up = (f"{{sw_ap}}*(exp({{sw_tp}}*abs(v(vn)))-1)*max(exp({{k_p}}*({{r_p0}}+{{r_p1}}*v(vn)"
              f"-{r}))-1,0)")
        dn = (f"{{sw_an}}*(exp({{sw_tn}}*abs(v(vn)))-1)*max(exp({{k_n}}*({r}-{{r_n0}}"
              f"-{{r_n1}}*v(vn)))-1,0)")
        return f"-(v(vn) > 0 ? {up} : (v(vn) < 0 ? {dn} : 0))/({{r_off}}-{{r_on}})"
