"""Yakopcic generalised memristor model (IEEE EDL 32(10), 2011; IEEE TCAD 32(8), 2013).

Native x ∈ [x_min, 1], normalised ``s = (x - x_min)/(1 - x_min)``.
I-V: ``I = a1·x·sinh(b·V)`` (V >= 0), ``a2·x·sinh(b·V)`` (V < 0).
Threshold: ``g(V) = Ap(e^V - e^Vp)`` for V > Vp, ``-An(e^-V - e^Vn)`` for V < -Vn, else 0.
Window (direction-aware): increasing, ``e^{-αp(x - xp)}·(1 - x)/(1 - xp)`` for x >= xp else 1;
decreasing, ``e^{αn(x + xn - 1)}·x/(1 - xn)`` for x <= 1 - xn else 1.
``dx/dt = η·g(V)·f(x)``. The decreasing window is not zero at x_min, so x_min is a hard bound;
x = 1 is approached asymptotically. Separable per direction; Φ uses the exponential integral
E1 and is inverted numerically. ``e1 = "series"`` (default) evaluates E1 by its power series on
the bounded range the windows need (:func:`ebana.devices.special.exp1_small`, ~18 ns against
scipy's ~500 ns per element, absolute error <= 1e-13, ~1e-15 in practice); ``e1 = "scipy"``
keeps ``scipy.special.exp1`` (also used whenever the range exceeds
:data:`~ebana.devices.special.Z_SERIES`).

Preset: Oblea Ag-chalcogenide fit (TCAD 2013; confirmed in the Xyce level-3 test netlist).
``x_min = 0.01`` is an ebana choice for a finite R_OFF (11.8 kΩ at 0.1 V; R_ON = 117.6 Ω).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import exp1

from ebana.devices.base import EDGE, Demo, DeviceParams, SeparableModel
from ebana.devices.registry import register
from ebana.devices.special import Z_SERIES, exp1_diff, exp1_small
from ebana.errors import DeviceError

__all__ = ["YakopcicParams", "Yakopcic", "E1_METHODS"]

E1_METHODS = ("series", "scipy")


@dataclass(frozen=True, slots=True, kw_only=True)
class YakopcicParams(DeviceParams):
    """Yakopcic parameters (Oblea device fit)."""

    model = "yakopcic"
    a1: float = 0.17
    """Current amplitude for V >= 0 (A)."""
    a2: float = 0.17
    """Current amplitude for V < 0 (A)."""
    b: float = 0.05
    """sinh slope (1/V)."""
    v_p: float = 0.16
    """Positive threshold (V, > 0)."""
    v_n: float = 0.15
    """Negative threshold magnitude (V, > 0)."""
    a_p: float = 4000.0
    """Positive speed (1/s)."""
    a_n: float = 4000.0
    """Negative speed (1/s)."""
    x_p: float = 0.3
    """State where the increasing window starts to act (–)."""
    x_n: float = 0.5
    """1 - state where the decreasing window starts to act (–)."""
    alpha_p: float = 1.0
    """Increasing window decay (–)."""
    alpha_n: float = 5.0
    """Decreasing window decay (–)."""
    eta: float = 1.0
    """Direction of motion relative to voltage (+1 or -1)."""
    x_min: float = 0.01
    """Least conductive state (–, > 0 for a finite R_OFF)."""
    e1: str = "series"
    """How the exponential integral in Φ is evaluated: ``series`` (power series, module
    docstring) or ``scipy`` (``scipy.special.exp1``, the reference)."""

    def validate(self) -> None:
        self.positive("a1", "a2", "b", "v_p", "v_n", "a_p", "a_n", "alpha_p", "alpha_n", "x_min")
        for n in ("x_p", "x_n", "x_min"):
            self._check(np.asarray(getattr(self, n)) < 1, n, getattr(self, n), "< 1")
        self.positive("x_p", "x_n")
        self._check(np.abs(self.eta) == 1, "eta", self.eta, "+1 or -1")
        if self.e1 not in E1_METHODS:
            raise DeviceError(f"{self.model}: e1={self.e1!r} must be one of {', '.join(E1_METHODS)}")


@register("yakopcic")
class Yakopcic(SeparableModel):
    """Yakopcic generalised memristor model."""

    kind = "thresholded"
    citation = ("Yakopcic et al., IEEE EDL 32(10):1436 (2011) and IEEE TCAD 32(8):1201 (2013); "
                "preset: Oblea Ag-chalcogenide fit")
    Params = YakopcicParams
    factorable_iv = True
    d2d_fields = ("a1", "a2", "v_p", "v_n", "a_p", "a_n")
    presets = {
        "oblea_2013": {},
        "spice_2011": {"a1": 7e-5, "a2": 7e-5, "b": 1.9, "v_p": 0.4, "v_n": 0.3, "a_p": 1.0,
                       "a_n": 1.0, "x_p": 0.9, "x_n": 0.7, "alpha_p": 3.0, "alpha_n": 8.0},
    }
    demo = Demo(amplitude=0.5, frequency=200.0, v_set=0.3, v_reset=-0.3, t_pulse=2e-5, x0=0.1)

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.polarity = int(np.sign(np.asarray(self.params.eta).flat[0]))  # type: ignore[misc]

    @property
    def bounds(self) -> tuple[float, float]:
        return 0.0, 1.0 - EDGE

    @property
    def v_th_set(self):
        return self.params.v_p if self.polarity > 0 else self.params.v_n

    @property
    def v_th_reset(self):
        return -self.params.v_n if self.polarity > 0 else -self.params.v_p

    def _xn(self, s):
        return self.params.x_min + s * (1 - self.params.x_min)

    def _current(self, vn, s):
        p = self.params
        x = self._xn(s)
        return np.where(vn >= 0, p.a1, p.a2) * x * np.sinh(p.b * vn)

    def _g(self, vn):
        p = self.params
        e = np.exp(np.abs(vn))  # e^V where V > 0, e^-V where V < 0 (one exp per device)
        pos = p.a_p * (e - np.exp(p.v_p))
        neg = -p.a_n * (e - np.exp(p.v_n))
        return np.where(vn > p.v_p, pos, np.where(vn < -p.v_n, neg, 0.0))

    def _drift(self, vn):
        p = self.params
        memo = self.__dict__.get("_drift_memo")
        if memo is not None and memo[0] is vn:  # the same pulse: closed form, then its energy
            return memo[1]
        g = p.eta * self._g(vn) / (1 - p.x_min)
        if np.ndim(vn):
            self.__dict__["_drift_memo"] = (vn, g)
        return g

    def _f(self, s, up):
        p = self.params
        x = self._xn(s)
        if np.ndim(up) == 0:  # one direction
            if up:
                return np.where(x >= p.x_p, np.exp(-p.alpha_p * (x - p.x_p)) * (1 - x) / (1 - p.x_p), 1.0)
            return np.where(x <= 1 - p.x_n, np.exp(p.alpha_n * (x + p.x_n - 1)) * x / (1 - p.x_n), 1.0)
        up = np.asarray(up)
        # one exponent per device: the window of its own direction only
        z = np.where(up, -p.alpha_p * (x - p.x_p), p.alpha_n * (x + p.x_n - 1))
        num = np.where(up, 1 - x, x)
        den = np.where(up, 1 - p.x_p, 1 - p.x_n)
        act = np.where(up, x >= p.x_p, x <= 1 - p.x_n)
        return np.where(act, np.exp(z) * num / den, 1.0)

    def _e1(self, z):
        """E1(z) (–) for the window arguments ``0 < z <= z_max`` (``e1`` parameter)."""
        p = self.params
        z_max = float(np.max(np.maximum(p.alpha_p * (1 - np.asarray(p.x_p)),
                                        p.alpha_n * (1 - np.asarray(p.x_n)))))
        if p.e1 == "series" and z_max <= Z_SERIES:
            return exp1_small(z, z_max)
        return exp1(z)

    def _z_max(self) -> float | None:
        """Largest window argument z (–) if the series applies (scalar window parameters)."""
        p = self.params
        if p.e1 != "series" or any(np.ndim(getattr(p, n)) for n in
                                   ("x_p", "x_n", "alpha_p", "alpha_n", "x_min")):
            return None
        z_max = max(p.alpha_p * (1 - p.x_p), p.alpha_n * (1 - p.x_n))
        return z_max if z_max <= Z_SERIES else None

    window_vanishes = False  # f > 0 on [0, 1 - EDGE]

    @property
    def incremental(self) -> bool:
        return self._z_max() is not None

    def _df(self, s, up, f):
        """df/ds: ``f·(1 - x_min)·d ln f/dx`` with ``d ln f/dx = -α_p - 1/(1 - x)`` (increasing
        window), ``α_n + 1/x`` (decreasing window), 0 where f = 1."""
        p = self.params
        x = self._xn(s)
        dln = np.where(up, np.where(x >= p.x_p, -p.alpha_p - 1 / (1 - x), 0.0),
                       np.where(x <= 1 - p.x_n, p.alpha_n + 1 / x, 0.0))
        return f * dln * (1 - p.x_min)

    def _dphi(self, s0, s, up):
        """``Φ(s) - Φ(s0)`` (–, s units), accurate relative to the difference: the flat part
        (f = 1) is the length inside it, the window part an E1 difference by
        :func:`~ebana.devices.special.exp1_diff` (its own direction's z range). ``up``: a
        bool or a mask."""
        if np.ndim(up) == 0:
            return self._dphi1(self._xn(s0), self._xn(s), bool(up))
        up = np.asarray(up) | np.zeros(np.shape(s), dtype=bool)
        x0 = np.broadcast_to(self._xn(s0), up.shape)
        x = np.broadcast_to(self._xn(s), up.shape)
        out = np.empty(up.shape)
        for d in (True, False):
            m = up == d
            if m.any():
                out[m] = self._dphi1(x0[m], x[m], d)
        return out

    def _dphi1(self, x0, x, up: bool):
        """:meth:`_dphi` of one direction, native states x0 -> x."""
        p = self.params
        if up:  # flat for x < x_p; window z = α_p(1 - x)
            a, b = np.maximum(x0, p.x_p), np.maximum(x, p.x_p)
            cp = (1 - p.x_p) * np.exp(p.alpha_p * (1 - p.x_p))
            out = (np.minimum(x, p.x_p) - np.minimum(x0, p.x_p)) + cp * exp1_diff(
                p.alpha_p * (1 - a), p.alpha_p * (1 - b), p.alpha_p * (1 - p.x_p))
        else:  # flat for x > 1 - x_n; window z = α_n·x
            xw = 1 - p.x_n
            a, b = np.minimum(x0, xw), np.minimum(x, xw)
            cn = (1 - p.x_n) * np.exp(p.alpha_n * (1 - p.x_n))
            out = (np.maximum(x, xw) - np.maximum(x0, xw)) - cn * exp1_diff(
                p.alpha_n * a, p.alpha_n * b, p.alpha_n * xw)
        return out / (1 - p.x_min)

    def _phi(self, s, up):
        # Φ in s units: Φ_x(x)/(1 - x_min), Φ_x(x_p) = 0 (up), Φ_x(1 - x_n) = 0 (down);
        # E1 (the costly part) only where the window acts in the direction of motion
        p = self.params
        x = self._xn(s)
        up = np.asarray(up) | np.zeros(np.shape(x), dtype=bool)
        out = np.array(np.where(up, x - p.x_p, x - (1 - p.x_n)) + 0.0 * x, dtype=float)
        x = np.broadcast_to(np.asarray(x, dtype=float), out.shape)
        up = np.broadcast_to(up, out.shape)
        w_up = up & (x >= p.x_p)
        w_dn = ~up & (x <= 1 - p.x_n)
        if w_up.any():
            cp = (1 - p.x_p) * np.exp(p.alpha_p * (1 - p.x_p))
            out[w_up] = cp * (self._e1(p.alpha_p * (1 - x[w_up])) - self._e1(p.alpha_p * (1 - p.x_p)))
        if w_dn.any():
            cn = (1 - p.x_n) * np.exp(p.alpha_n * (1 - p.x_n))
            out[w_dn] = -cn * (self._e1(p.alpha_n * x[w_dn]) - self._e1(p.alpha_n * (1 - p.x_n)))
        return out / (1 - p.x_min)

    def _k(self, s, up):
        """Increasing: K = H - Φ_x (–), the part of H (``dH/dx = x/f``) that needs no E1;
        decreasing: H itself (no E1 needed).

        Increasing: ``x/f = 1/f - (1 - x_p)·e^{α_p(x - x_p)}`` for x >= x_p, so
        ``K = -c_p/α_p·(e^{-α_p(1 - x)} - e^{-α_p(1 - x_p)})`` (``c_p = (1 - x_p)e^{α_p(1 - x_p)}``);
        for x < x_p (f = 1) ``K = (x² - x_p²)/2 - (x - x_p)``. Decreasing, x <= 1 - x_n: x cancels
        in x/f, ``H = -(1 - x_n)/α_n·(e^{-α_n(x + x_n - 1)} - 1)`` and K = H - Φ_x there;
        x > 1 - x_n: ``K = (x² - x_w²)/2 - (x - x_w)``, x_w = 1 - x_n. K is continuous.
        """
        up = np.asarray(up) | np.zeros(np.shape(s), dtype=bool)
        out = np.empty(up.shape)
        s = np.broadcast_to(s, up.shape)
        for d in (True, False):  # one exponential per device: its own direction only
            m = up == d
            if m.any():
                out[m] = self._k1(s[m], d)
        return out

    def _k1(self, s, up: bool):
        """:meth:`_k` for one direction."""
        p = self.params
        x = self._xn(s)
        if up:
            cp = (1 - p.x_p) * np.exp(p.alpha_p * (1 - p.x_p))
            return np.where(x < p.x_p, 0.5 * (x * x - p.x_p**2) - (x - p.x_p),
                            -cp / p.alpha_p * (np.exp(-p.alpha_p * (1 - x)) - np.exp(-p.alpha_p * (1 - p.x_p))))
        xw = 1 - p.x_n
        return np.where(x > xw, 0.5 * (x * x - xw**2),
                        -(1 - p.x_n) / p.alpha_n * np.expm1(-p.alpha_n * (x + p.x_n - 1)))

    def _closed_energy(self, x, vn, t, x1):
        """Exact native energy (J): ``E = P(V)·(ΔH/g_x + x(s1)·(t - t_move))``.

        The power factorises, ``V·I = P(V)·x`` with ``P = V·a(V)·sinh(bV)`` (W), and the native
        state moves as ``dx/dt = g_x(V)·f(x)``, so over the moving part
        ``∫x dt = ∫x/(g_x f) dx = ΔH/g_x``; increasing, ``H = Φ_x + K`` (:meth:`_k`) and ``ΔΦ_x = g_x·t_move``
        by the state equation itself, so no E1 is evaluated except for the (few) devices that
        stop on the hard bound x_min, whose ``t_move`` follows from Φ. Below threshold the
        device dissipates at rest.
        """
        p = self.params
        g = self._drift(vn) + np.zeros(x.shape)  # ds/dt per unit window (1/s)
        pw = np.broadcast_to(vn * np.where(vn >= 0, p.a1, p.a2) * np.sinh(p.b * vn), x.shape)
        e = pw * self._xn(x1) * t  # at rest the whole pulse (below threshold: every device)
        mv = np.flatnonzero((g != 0) & (x1 != x))
        if not mv.size:
            return e
        # the moving devices only (PAM: those above threshold)
        gm, xm, x1m, tm = (np.ravel(a)[mv] for a in (g, x, x1, t))
        um = gm > 0
        t_move = tm.copy()
        lo, hi = self.bounds
        stop = (x1m <= lo) | (x1m >= hi)
        if stop.any():
            dphi = self._phi(x1m[stop], um[stop]) - self._phi(xm[stop], um[stop])
            t_move[stop] = np.clip(dphi / gm[stop], 0.0, tm[stop])
        dk = self._k(x1m, um) - self._k(xm, um)
        int_x = np.where(um, t_move, 0.0) + dk / (gm * (1 - p.x_min))
        ef = e.reshape(-1)  # a view: e is a fresh contiguous array
        ef[mv] = np.ravel(pw)[mv] * (int_x + self._xn(x1m) * (tm - t_move))
        return e

    def spice_current(self) -> str:
        x = "({x_min}+v(x)*(1-{x_min}))"
        return f"(v(vn) >= 0 ? {{a1}} : {{a2}})*{x}*sinh({{b}}*v(vn))"

    def spice_rate(self) -> str:
        x = "({x_min}+v(x)*(1-{x_min}))"
        g = ("(v(vn) > {v_p} ? {a_p}*(exp(v(vn))-exp({v_p})) : "
             "(v(vn) < -{v_n} ? -{a_n}*(exp(-v(vn))-exp({v_n})) : 0))")
        f = (f"({{eta}}*v(vn) > 0 ? ({x} >= {{x_p}} ? exp(-{{alpha_p}}*({x}-{{x_p}}))*(1-{x})"
             f"/(1-{{x_p}}) : 1) : ({x} <= 1-{{x_n}} ? exp({{alpha_n}}*({x}+{{x_n}}-1))*{x}"
             f"/(1-{{x_n}}) : 1))")
        return f"{{eta}}*{g}*{f}/(1-{{x_min}})"
