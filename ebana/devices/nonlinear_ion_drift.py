"""Nonlinear ion drift memristor (Lehtonen & Laiho, CNNA 2009).

Voltage controlled, state w = x ∈ [0, 1]:
``i = i_scale·(x^n·β·sinh(α·v) + χ·(exp(γ·v) - 1))`` and ``dx/dt = a·sign(v)|v|^q·f(x)`` with q
odd, so drift is negligible at small |v| but never zero (continuous drift, soft threshold).
The window f defaults to Biolek (direction-aware) instead of the usual Joglekar, which sticks
at the bounds (devices.md §1); ``window="joglekar"`` is available. Separable: closed form for
p = 1. Write energy (:meth:`NonlinearIonDrift._closed_energy`, windows none and Biolek p = 1,
integer n): ``∫P dt`` by Gauss-Legendre in φ = Φ(x), where the state moves uniformly, with an
a-priori error bound per device; devices whose bound is not met (long sweeps into a bound)
are integrated.

Preset: the Lehtonen-Laiho SPICE listing (α = 2, β = 9, χ = 0.01, γ = 4, n = 4, q = 13,
a = 1/C = 1.25e4). The listing's current is dimensionless; ``i_scale = 1e-4 A`` is an ebana
choice giving R ≈ 552 Ω (x = 1) and ≈ 204 kΩ (x = 0) at 0.1 V. ``preset="technion_2011"``
gives the Kvatinsky et al. (2011) Verilog-A defaults (n = 14, a = 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices import windows as win
from ebana.devices.base import EDGE, V_READ, X_MAX, X_MIN, Demo, DeviceParams, SeparableModel
from ebana.devices.quadrature import GL_ORDERS, GL_RHO_TOL, gauss_legendre
from ebana.devices.registry import register
from ebana.errors import DeviceError

__all__ = ["NonlinearParams", "NonlinearIonDrift"]


def _ipow(x: np.ndarray, n: int) -> np.ndarray:
    """x**n for a positive integer n by repeated squaring (cheaper than float pow)."""
    out, base = None, x
    while n:
        if n & 1:
            out = base if out is None else out * base
        n >>= 1
        if n:
            base = base * base
    return out


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

    closed_energy_rescaled = True  # the I-V is not factorable: _closed_energy uses I' itself

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

    def _closed_energy(self, x, vn, t, x1):
        """Energy (J) of the (read-mapped) device, windows none and Biolek p = 1, integer n.

        With y = x^n the power is rational in y: ``P = V(A·y + B)`` natively and
        ``P' = V(A·y + B)·(α'/(a·y + b) + β')`` read-mapped (A, B: the I-V at V; a, b: at V_READ
        per volt; ``G' = α' + β'G``, :meth:`_rescaled_energy`). In the variable ``φ = Φ(x)`` the
        state moves at the constant rate g, so ``∫P dt = ∫_0^{t_move} P(Φ⁻¹(Φ(x0) + g·τ)) dτ``
        (t_move = t unless the state stops on a bound), by Gauss-Legendre in τ (uniform in φ):
        no state difference enters, so a move below the state's rounding
        keeps full relative precision. The integrand is analytic except at the images in φ of
        the poles of 1/(a·y + b) and of Φ⁻¹ (tanh's at ±iπ/2 for Biolek), at least a height d
        (:meth:`_phi_singularity`) off the real axis: a sweep of half-length h has
        ``ρ >= d/h + sqrt(1 + (d/h)²)``, and n nodes (``quadrature.GL_ORDERS``) are used where
        ``ρ^(-2n) <= GL_RHO_TOL``. Other devices (long saturating sweeps) return NaN and are
        integrated (:meth:`_integrate_declined`). After a bound the device rests at P(x1).
        """
        p = self.params
        if (p.window not in ("none", "biolek") or np.ndim(p.p) or p.p != 1 or np.ndim(p.n)
                or not float(p.n).is_integer() or p.n < 1):
            return None
        n = int(p.n)
        shape = x.shape
        big_a, big_b, a, b, ga, gb = self._power_coefficients(vn, shape)
        vf = np.ravel(vn + np.zeros(shape))

        def power(xx, i):  # P' (W) at states xx of devices i
            y = _ipow(xx, n)
            return vf[i] * (big_a[i] * y + big_b[i]) * (ga[i] / (a[i] * y + b[i]) + gb[i])

        g = self._drift(vn) + np.zeros(shape)
        xf, x1f, tf, gf = (np.ravel(z + np.zeros(shape)) for z in (x, x1, t, g))
        uf = gf > 0
        lo, hi = self.bounds
        phi0 = self._phi(xf, uf)
        stopped = (gf != 0) & ((x1f <= lo) | (x1f >= hi))
        t_move = np.where(gf != 0, tf, 0.0)
        if stopped.any():
            dphi = self._phi(x1f[stopped], uf[stopped]) - phi0[stopped]
            t_move[stopped] = np.clip(dphi / gf[stopped], 0.0, tf[stopped])
        out = power(x1f, np.arange(x.size)) * (tf - t_move)
        mv = np.flatnonzero(t_move > 0)
        if mv.size:
            half = 0.5 * np.abs(gf[mv]) * t_move[mv]
            bb = self._phi_singularity(mv, x.size) / half
            rho = bb + np.sqrt(1.0 + bb * bb)
            integral = np.full(mv.size, np.nan)
            todo = np.ones(mv.size, dtype=bool)
            coef = (vf, big_a, big_b, ga, a, b, gb, phi0, gf)
            for nq in GL_ORDERS:
                tier = todo & (rho ** (-2.0 * nq) <= GL_RHO_TOL)
                for direction in (True, False):
                    sel = np.flatnonzero(tier & (uf[mv] == direction))
                    if not sel.size:
                        continue
                    i = mv[sel]
                    cv, ca, cb, cga, c_a, c_b, cgb, cphi, cg = (c[i] for c in coef)

                    def p_of_t(tau, cv=cv, ca=ca, cb=cb, cga=cga, c_a=c_a, c_b=c_b, cgb=cgb,
                               cphi=cphi, cg=cg, up=direction):  # P' along the trajectory (W)
                        y = _ipow(self._phi_inv_1(cphi + cg * tau, up), n)
                        return cv * (ca * y + cb) * (cga / (c_a * y + c_b) + cgb)

                    integral[sel] = gauss_legendre(p_of_t, np.zeros(sel.size), t_move[i], nq)
                todo &= ~tier
            out[mv] += integral
        return out.reshape(shape)

    def _phi_inv_1(self, y: np.ndarray, up: bool) -> np.ndarray:
        """Φ⁻¹ (–) of :meth:`_phi_inv` (windows none, Biolek p = 1) for one direction ``up``
        (one transcendental per element), clipped to [0, 1]."""
        if self.params.window == "none":
            return np.clip(y, 0.0, 1.0)
        return np.clip(np.tanh(y) if up else 2 / (1 + np.exp(-2 * y)), 0.0, 1.0)

    def _power_coefficients(self, vn, shape):
        """Flat per-device (A, B, a, b, α', β'): ``P' = V(A·y + B)·(α'/(a·y + b) + β')``."""
        p = self.params
        size = int(np.prod(shape))
        big_a, big_b, a, b = (np.ravel(c + np.zeros(shape)) for c in (
            p.i_scale * p.beta * np.sinh(p.alpha * vn), p.i_scale * p.chi * np.expm1(p.gamma * vn),
            p.i_scale * p.beta * np.sinh(p.alpha * V_READ) / V_READ,
            p.i_scale * p.chi * np.expm1(p.gamma * V_READ) / V_READ))
        if p.range_r_on is None:
            return big_a, big_b, a, b, np.zeros(size), np.ones(size)
        gb = (1.0 / p.range_r_on - 1.0 / p.range_r_off) / a  # G(0) = b, G(1) = a + b
        return big_a, big_b, a, b, 1.0 / p.range_r_off - gb * b, gb

    def _phi_singularity(self, idx, size):
        """Height d (–, in φ = Φ(x)) of the nearest singularity of P(Φ⁻¹(φ)) above the real
        axis, per device ``idx`` (flat; the smaller of both directions).

        Φ⁻¹ = tanh (Biolek up) and 2/(1 + e^{-2φ}) (down) have poles at iπ/2 + iπk; the poles
        x_k = r·e^{iπ(2k+1)/n} (r = (b/a)^{1/n}) of 1/(a·x^n + b) map to Φ(x_k) + iπm. Window
        none: φ = x, d = min |Im x_k|. Computed once per model (it depends on parameters only).
        """
        cache = self.__dict__.setdefault("_sing_cache", {})
        if size not in cache:
            p = self.params
            n = int(p.n)
            # on the parameters' own shape (a scalar unless d2d), broadcast at the end
            a = np.ravel(np.asarray(p.beta * np.sinh(p.alpha * V_READ), dtype=float))
            b = np.ravel(np.asarray(p.chi * np.expm1(p.gamma * V_READ), dtype=float))
            d = np.full(np.broadcast(a, b).shape, np.inf if p.window == "none" else 0.5 * np.pi)
            if p.range_r_on is not None and np.all(b > 0):
                r = (b / a) ** (1.0 / n)
                for k in range(n):
                    xk = r * np.exp(1j * np.pi * (2 * k + 1) / n)
                    if p.window == "none":
                        d = np.minimum(d, np.abs(xk.imag))
                        continue
                    for ph in (np.arctanh(xk), 0.5 * np.log(xk / (2 - xk))):
                        im = np.mod(ph.imag, np.pi)
                        d = np.minimum(d, np.minimum(im, np.pi - im))
            cache[size] = np.ravel(d + np.zeros(size))
        return cache[size][idx]

    def spice_current(self) -> str:
        return ("{i_scale}*(pow(v(x),{n})*{beta}*sinh({alpha}*v(vn))"
                "+{chi}*(exp({gamma}*v(vn))-1))")

    def spice_rate(self) -> str:
        return "{a}*pwr(v(vn),{q})*" + win.spice_window(self.params.window, "v(vn) > 0")

    def spice_logit_rate(self) -> str | None:
        ratio = win.spice_logit_window(self.params.window, self.params.p)
        return None if ratio is None else "{a}*pwr(v(vn),{q})*" + ratio
