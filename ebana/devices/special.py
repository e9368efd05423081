"""Fast special functions for device closed forms (issue 17: device updates at GEMM speed).

Public API: :func:`exp1_small`, :func:`exp1_diff_small`, :func:`exp1_diff`, :func:`ein_terms`,
:data:`EIN_TRUNCATION`, :data:`Z_SERIES`.

``scipy.special.exp1`` costs ~500 ns per element (measured on the 2-core VM, against ~9 ns for
``np.exp``), which made it the whole cost of a Yakopcic update. A device window only needs
E1 on a bounded range ``0 < z <= z_max`` (Yakopcic: ``z_max = max(α_p(1 - x_p), α_n(1 - x_n))``,
2.5 for the Oblea preset), where

    E1(z) = -γ - ln z + Ein(z),   Ein(z) = Σ_{k>=1} (-1)^{k+1} z^k / (k·k!)   (entire)

(Abramowitz & Stegun 5.1.11). The series is summed by Horner's rule to ``N`` terms, N the
smallest with ``z_max^{N+1}/((N+1)·(N+1)!) <= EIN_TRUNCATION`` and ``N + 1 > z_max``: the
terms then alternate and decrease, so the truncation error is below the first omitted term
(Leibniz), i.e. ``<= EIN_TRUNCATION`` absolutely. Rounding adds at most about
``2N·u·Σ_k |z|^k/(k·k!)`` (u = 2^-53; the sum is ``Ei(z) - γ - ln z`` <= 17.7 at z = 4), so for
``z_max <= Z_SERIES`` the absolute error of E1 stays below ~1e-13 and is ~1e-15 in practice
(``tests/devices/test_fast_special.py`` checks it against scipy on a dense grid).
"""

from __future__ import annotations

import math

import numpy as np

from ebana.devices.quadrature import gauss_legendre

__all__ = ["EIN_TRUNCATION", "Z_SERIES", "ein_terms", "exp1_small", "exp1_diff_small", "exp1_diff"]

EIN_TRUNCATION = 2.0**-60
"""Bound on the truncation error of the Ein series (absolute, ≈ 8.7e-19)."""
Z_SERIES = 4.0
"""Largest z_max for which :func:`exp1_small` is used (beyond it cancellation grows as e^z/z)."""

EULER_GAMMA = 0.57721566490153286061
"""Euler-Mascheroni constant γ."""


def ein_terms(z_max: float) -> int:
    """Number N of series terms whose truncation error on [0, z_max] is <= EIN_TRUNCATION."""
    z_max = float(z_max)
    n = 1
    while not (n + 1 > z_max and z_max ** (n + 1) / ((n + 1) * math.factorial(n + 1)) <= EIN_TRUNCATION):
        n += 1
    return n


def exp1_small(z: np.ndarray, z_max: float) -> np.ndarray:
    """Exponential integral E1(z) for ``0 < z <= z_max <= Z_SERIES`` (module docstring).

    ``z`` outside (0, z_max] is not checked here (the caller bounds it); ``z_max`` only fixes
    the number of terms.
    """
    z = np.asarray(z, dtype=float)
    n = ein_terms(z_max)
    out = np.full(z.shape, (-1.0) ** (n + 1) / (n * math.factorial(n)))
    for k in range(n - 1, 0, -1):
        out *= z
        out += (-1.0) ** (k + 1) / (k * math.factorial(k))
    out *= z
    return out - EULER_GAMMA - np.log(z)


def exp1_diff_small(za: np.ndarray, zb: np.ndarray, z_max: float) -> np.ndarray:
    """``E1(zb) - E1(za)`` for ``0 < za, zb <= z_max <= Z_SERIES``, accurate relative to the
    difference (no cancellation of the two values; a state inversion near convergence needs it).

    ``E1(zb) - E1(za) = -log1p((zb - za)/za) + (zb - za)·Σ_k c_k·D_k`` with the Ein coefficients
    ``c_k = (-1)^{k+1}/(k·k!)`` and the divided differences ``D_k = (zb^k - za^k)/(zb - za)``
    (``D_1 = 1``, ``D_k = zb·D_{k-1} + za^{k-1}``, all positive), summed to the same N terms as
    :func:`exp1_small` (truncation <= ``EIN_TRUNCATION·N`` relative to |zb - za|... bounded by
    ``Σ_{k>N} k·z_max^{k-1}/(k·k!)``, below 1e-17 for the chosen N).
    """
    za = np.asarray(za, dtype=float)
    zb = np.asarray(zb, dtype=float)
    n = ein_terms(z_max)
    d = np.ones(np.broadcast(za, zb).shape)
    pa = np.ones_like(d)
    acc = d.copy()  # c_1·D_1
    for k in range(2, n + 1):
        pa = pa * za
        d = zb * d + pa
        acc += ((-1.0) ** (k + 1) / (k * math.factorial(k))) * d
    dz = zb - za
    return -np.log1p(dz / za) + dz * acc


def exp1_diff(za: np.ndarray, zb: np.ndarray, z_max: float) -> np.ndarray:
    """``E1(zb) - E1(za) = -∫_{za}^{zb} e^{-t}/t dt`` for ``0 < za, zb <= z_max <= Z_SERIES``.

    Short intervals (the Newton iterates of a state inversion), ``|zb - za| <= min(za, zb)/116``,
    by 3-node Gauss-Legendre: the integrand's only singularity is the pole at t = 0, at least
    232 half-lengths beyond the nearer end, so ρ >= 465 and ``ρ^-6 <= 1e-16``
    (:mod:`ebana.devices.quadrature`); three exponentials per device instead of the series.
    The others by :func:`exp1_diff_small`. Both keep the precision relative to the difference.
    """
    za, zb = np.broadcast_arrays(np.asarray(za, dtype=float), np.asarray(zb, dtype=float))
    za, zb = za.ravel(), zb.ravel()
    short = np.abs(zb - za) * 116.0 <= np.minimum(za, zb)
    if short.all():
        return -gauss_legendre(lambda t: np.exp(-t) / t, za, zb, 3)
    out = np.empty(za.shape)
    i = np.flatnonzero(short)
    out[i] = -gauss_legendre(lambda t: np.exp(-t) / t, za[i], zb[i], 3)
    i = np.flatnonzero(~short)
    out[i] = exp1_diff_small(za[i], zb[i], z_max)
    return out
