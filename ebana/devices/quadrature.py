"""Fixed-order Gauss-Legendre quadrature over per-device intervals (write-energy closed forms).

Public API: :data:`GL_ORDER`, :func:`gauss_legendre`.

A device's write energy over the moving part of a pulse is ``∫P dt = ∫ P(s)/(ds/dt) ds`` over
the state interval it sweeps. Where that integral has no elementary form, the models write it
as an integrand that is analytic on the interval (the bound singularity taken out
analytically) and integrate it by n-point Gauss-Legendre. For an integrand analytic inside
the Bernstein ellipse with foci at the interval's ends and semi-axis sum ρ (in units of the
half-length) and bounded there by M, the error is at most ``(64/15)·M·ρ^{-2n}/(ρ² - 1)``
times the half-length (Trefethen, *Approximation Theory and Approximation Practice*, Thm 19.3).
Each model states its ρ; the tests compare with the adaptive integrator.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["GL_ORDER", "gauss_legendre"]

GL_ORDER = 24
"""Default number of nodes n (exact for polynomials of degree 2n - 1 = 47)."""

_NODES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _NODES:
        _NODES[n] = np.polynomial.legendre.leggauss(n)
    return _NODES[n]


def gauss_legendre(fun: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
                   n: int = GL_ORDER) -> np.ndarray:
    """``∫_a^b fun(s) ds`` per device (a, b: 1-D arrays of equal length; b < a gives the
    negative). ``fun`` receives the nodes as an array of shape ``(n, len(a))`` and must return
    the integrand there (broadcast per-device parameters as ``p[None, :]``)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    xi, w = _rule(n)
    half = 0.5 * (b - a)
    nodes = (0.5 * (a + b))[None, :] + half[None, :] * xi[:, None]
    return half * (w @ fun(nodes))
