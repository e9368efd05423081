"""Direction-aware window functions on the normalised state x ∈ [0, 1].

Each window gives ``f(x, up)`` (–), where ``up`` is True where the state increases, and for
p = 1 the closed forms ``Φ`` (with Φ' = 1/f) and ``Φ⁻¹``. SPICE strings use ``v(x)`` and a
direction test ``UP`` to be substituted by the caller.

- ``none``: f = 1 (hard bounds).
- ``joglekar``: ``1 - |2x - 1|^(2p)``; zero at both bounds (a device on a bound stays there).
- ``biolek``: ``1 - x^(2p)`` when increasing, ``1 - (1 - x)^(2p)`` when decreasing: zero only at
  the bound being approached, so the device can always leave a bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOWS", "window", "phi", "phi_inv", "spice_window", "closed_form"]

WINDOWS = ("none", "joglekar", "biolek")


def closed_form(name: str, p: float) -> bool:
    """True when Φ and Φ⁻¹ are analytic (window none, or p = 1)."""
    return name == "none" or p == 1


def window(name: str, x: np.ndarray, up: np.ndarray, p: float = 1.0) -> np.ndarray:
    if name == "none":
        return np.ones_like(x)
    if name == "joglekar":
        return 1 - np.abs(2 * x - 1) ** (2 * p)
    return np.where(up, 1 - np.abs(x) ** (2 * p), 1 - np.abs(1 - x) ** (2 * p))


def phi(name: str, x: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Φ for p = 1 (or window none)."""
    if name == "none":
        return x + 0.0 * up
    if name == "joglekar":
        return 0.25 * np.log(x / (1 - x))
    return np.where(up, np.arctanh(x), 0.5 * np.log(x / (2 - x)))


def phi_inv(name: str, y: np.ndarray, up: np.ndarray) -> np.ndarray:
    if name == "none":
        return y + 0.0 * up
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
