"""Direction-aware window functions on the normalised state x ∈ [0, 1].

Each window gives ``f(x, up)`` (–), where ``up`` is True where the state increases, and the
closed forms ``Φ`` (with Φ' = 1/f; :func:`phi`) and, for p = 1, ``Φ⁻¹`` (:func:`phi_inv`).
SPICE strings use ``v(x)`` and a direction test ``UP`` to be substituted by the caller.

- ``none``: f = 1 (hard bounds).
- ``joglekar``: ``1 - |2x - 1|^(2p)``; zero at both bounds (a device on a bound stays there).
  For integer p, Φ is analytic (:func:`joglekar_integral`, partial fractions over the 2p-th
  roots of unity), so a pulse is integrated exactly up to float64 even next to a bound.
- ``biolek``: ``1 - x^(2p)`` when increasing, ``1 - (1 - x)^(2p)`` when decreasing: zero only at
  the bound being approached, so the device can always leave a bound.

Windows that vanish at *both* bounds (``joglekar``; ``prodromakis`` in the HP model) keep the
state in ``[X_MIN, X_MAX]`` (:data:`ebana.devices.base.X_MIN`, ``X_MAX``) and, in ngspice,
integrate ``logit(x)`` instead of x (:func:`spice_logit_window`), so the distance to a bound
keeps full relative precision and a symmetric pulse train returns to where it started.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOWS", "INT_P_MAX", "window", "phi", "phi_inv", "spice_window", "closed_form",
           "integer_p", "joglekar_integral", "spice_logit_window"]

WINDOWS = ("none", "joglekar", "biolek")
INT_P_MAX = 32
"""Largest integer Joglekar exponent p integrated by the partial-fraction closed form."""


def integer_p(p: float) -> bool:
    """True for an integer window exponent 1 <= p <= INT_P_MAX (scalar p only)."""
    return np.ndim(p) == 0 and float(p).is_integer() and 1 <= float(p) <= INT_P_MAX


def closed_form(name: str, p: float) -> bool:
    """True when Φ is analytic: window none, p = 1, or Joglekar with integer p."""
    return name == "none" or (np.ndim(p) == 0 and p == 1) or (name == "joglekar" and integer_p(p))


def joglekar_integral(x: np.ndarray, p: int, a: float, b: float) -> np.ndarray:
    """``∫ (a + b·u)/(1 - u^(2p)) du`` at ``u = 2x - 1`` (any constant of integration).

    With n = 2p and ω_k = e^{iπk/p}: ``1/(1 - u^n) = (1/n)·Σ ω_k/(ω_k - u)`` and
    ``u/(1 - u^n) = (1/n)·Σ ω_k²/(ω_k - u)``, so the integral is
    ``-(1/n)·Re Σ (a·ω_k + b·ω_k²)·ln(ω_k - u)``. The terms at ω = ±1 carry the bound
    singularities and use ``1 - u = 2(1 - x)`` and ``1 + u = 2x`` (exact in float64, so the
    distance to a bound keeps its relative precision); the others are smooth on [0, 1].
    """
    n = 2 * int(p)
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        out = -((a + b) * np.log(2 * (1 - x)) + (b - a) * np.log(2 * x)) / n
    u = 2 * x - 1
    for k in range(1, n):
        if k == p:
            continue
        w = np.exp(1j * np.pi * k / p)
        out = out - ((a * w + b * w * w) * np.log(w - u)).real / n
    return out


def window(name: str, x: np.ndarray, up: np.ndarray, p: float = 1.0) -> np.ndarray:
    if name == "none":
        return np.ones_like(x)
    if name == "joglekar":
        return 1 - np.abs(2 * x - 1) ** (2 * p)
    return np.where(up, 1 - np.abs(x) ** (2 * p), 1 - np.abs(1 - x) ** (2 * p))


def phi(name: str, x: np.ndarray, up: np.ndarray, p: float = 1.0) -> np.ndarray:
    """Φ (Φ' = 1/f) where :func:`closed_form` holds."""
    if name == "none":
        return x + 0.0 * up
    if name == "joglekar":
        if p == 1:
            return 0.25 * np.log(x / (1 - x))
        return 0.5 * joglekar_integral(x, int(p), 1.0, 0.0) + 0.0 * up  # dx = du/2
    return np.where(up, np.arctanh(x), 0.5 * np.log(x / (2 - x)))


def phi_inv(name: str, y: np.ndarray, up: np.ndarray, p: float = 1.0) -> np.ndarray | None:
    """Φ⁻¹ for window none and p = 1; None (invert numerically) otherwise."""
    if name == "none":
        return y + 0.0 * up
    if p != 1:
        return None
    if name == "joglekar":
        return 1 / (1 + np.exp(-4 * y))
    return np.where(up, np.tanh(y), 2 / (1 + np.exp(-2 * y)))


def spice_window(name: str, up: str) -> str:
    """SPICE expression; ``up`` is a boolean SPICE expression (e.g. ``v(vn) > 0``)."""
    if name == "none":
        return "1"
    if name == "joglekar":
        return "(1-pow(2*v(x)-1,2*{p}))"
    return f"(1-pow(v(x)-({up} ? 0 : 1),2*{{p}}))"


def spice_logit_window(name: str, p: float, j: str = "{j}") -> str | None:
    """``f(x)/(x(1 - x))`` as a SPICE expression in ``v(x)`` for windows that vanish at both
    bounds as ``x(1 - x)`` times a polynomial, else None.

    Joglekar with integer p: ``(1 - u^(2p))/(x(1 - x)) = 4·Σ_{i<p} u^(2i)`` (u = 2x - 1);
    Prodromakis with p = 1: ``f = j·x(1 - x)``, so the ratio is ``j``. With it ngspice
    integrates ``d logit(x)/dt = g·f/(x(1 - x))`` (:func:`ebana.devices.spice.render_subckt`).
    """
    if name == "joglekar" and integer_p(p):
        u2 = "(2*v(x)-1)*(2*v(x)-1)"  # u² >= 0: pow never sees a negative base
        terms = ["1"] + [u2 if i == 1 else f"pow({u2},{i})" for i in range(1, int(p))]
        return f"(4*({'+'.join(terms)}))"
    if name == "prodromakis" and np.ndim(p) == 0 and p == 1:
        return f"({j})"
    return None
