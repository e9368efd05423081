"""Response-function view of any device model (devices.md §8; seeds 001, 004).

Public API: :class:`ResponseCurve`, :func:`response_curve`, :class:`SymmetricPoint`,
:func:`find_symmetric_point`, :func:`pulse_step`, :func:`pulse_cost`.

**Tabulation.** For a standard pulse pair (``v_set`` > 0, ``v_reset`` < 0, width ``t_pulse``)
and states x on a grid, one pulse of each polarity is applied with the model's exact
:meth:`~ebana.devices.base.DeviceModel.apply_pulse`; ``ΔG⁺(G) = G(x⁺) - G(x)`` and
``ΔG⁻(G) = G(x) - G(x⁻)`` (S, both >= 0 for a well-oriented device).

**Seed-001 quantities.** With the weight coordinate ``w = 2·Gn - 1`` (Gn the normalised
conductance, half range τ = 1) and ``Δw_min`` the mean step at the symmetric point,
``q± = ΔG±/ΔG_min``, ``F = (q₋ + q₊)/2`` (symmetric component), ``G = (q₋ - q₊)/2``
(asymmetric component). The symmetric point w⋄ has ``G(w⋄) = 0`` (q₊ = q₋); it is *stable*
where G changes sign from - to + with increasing w. ``G/F`` is the slope R(w) of the
implicit penalty R_c of analog SGD (``f(W) + ⟨Σ, R_c(W)⟩``), ``R_c(w) = ∫_{w⋄}^w G/F dw``
(returned as ``penalty``), and ``|G|/F`` is the saturation measure whose sup-norm sets the
asymptotic error of analog SGD (seed 001, Thm. 2).

**Symmetry-point search** (seed 004, aihwkit ``n_estimation_steps``): alternating SET/RESET
pulses from any start drive a device into a two-state cycle around w⋄; the midpoint of that
cycle (:func:`find_symmetric_point`) is within one pulse step of the tabulated point when
ΔG⁺ falls and ΔG⁻ rises with G (soft bounds). In general the two agree to first order in the
step: with G nonlinear in x (HP: rate ∝ 1/R) the same-G comparison of finite pulses and the
cycle midpoint differ by O(step x curvature). A device whose responses are equal everywhere
(``ideal``) has no symmetric point (``x_sym`` None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices.base import DeviceModel
from ebana.errors import DeviceError

__all__ = ["ResponseCurve", "response_curve", "SymmetricPoint", "find_symmetric_point",
           "pulse_step", "pulse_cost", "standard_pulse"]


def standard_pulse(model: DeviceModel, v_set: float | None = None, v_reset: float | None = None,
                   t_pulse: float | None = None) -> tuple[float, float, float]:
    """(v_set V, v_reset V, t_pulse s), defaults from ``model.demo``; validated."""
    d = model.demo
    v_set = d.v_set if v_set is None else float(v_set)
    v_reset = d.v_reset if v_reset is None else float(v_reset)
    t_pulse = d.t_pulse if t_pulse is None else float(t_pulse)
    if not v_set > 0 or not v_reset < 0:
        raise DeviceError(f"{model.name}: need v_set > 0 V and v_reset < 0 V, got {v_set}, {v_reset}")
    if not (np.isfinite(t_pulse) and t_pulse > 0):
        raise DeviceError(f"{model.name}: pulse width t_pulse={t_pulse!r} s must be > 0")
    return v_set, v_reset, t_pulse


def pulse_step(model: DeviceModel, x: np.ndarray, v: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed conductance change (S) and energy (J) of one pulse (v V, t s) from states x."""
    x = np.asarray(x, dtype=float)
    r = model.apply_pulse(x, v, t)
    return model.conductance(r.x) - model.conductance(x), r.energy


@dataclass(frozen=True, slots=True)
class ResponseCurve:
    """Per-pulse response of a model on a state grid (S, J; w and q dimensionless)."""

    model: str
    v_set: float       # V
    v_reset: float     # V
    t_pulse: float     # s
    x: np.ndarray      # states (–)
    g: np.ndarray      # G(x) (S)
    dg_up: np.ndarray  # ΔG⁺ >= 0 (S) of one SET pulse
    dg_down: np.ndarray  # |ΔG⁻| >= 0 (S) of one RESET pulse
    e_up: np.ndarray   # J per SET pulse
    e_down: np.ndarray  # J per RESET pulse
    x_sym: float | None  # stable symmetric point (–), None if the responses never cross
    g_sym: float | None  # G at it (S)
    dg_min: float      # S, mean step at the symmetric point (or the largest mean step)

    @property
    def w(self) -> np.ndarray:
        """Weight coordinate 2·Gn - 1 in [-1, 1]."""
        return 2 * (self.g - self.g[0]) / (self.g[-1] - self.g[0]) - 1

    @property
    def w_sym(self) -> float | None:
        if self.g_sym is None:
            return None
        return float(2 * (self.g_sym - self.g[0]) / (self.g[-1] - self.g[0]) - 1)

    @property
    def q_up(self) -> np.ndarray:
        return self.dg_up / self.dg_min

    @property
    def q_down(self) -> np.ndarray:
        return self.dg_down / self.dg_min

    @property
    def F(self) -> np.ndarray:
        """Symmetric component (q₋ + q₊)/2."""
        return 0.5 * (self.q_down + self.q_up)

    @property
    def G(self) -> np.ndarray:
        """Asymmetric component (q₋ - q₊)/2."""
        return 0.5 * (self.q_down - self.q_up)

    @property
    def ratio(self) -> np.ndarray:
        """G/F, the slope of the implicit penalty (nan where F = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.F > 0, self.G / self.F, np.nan)

    @property
    def penalty(self) -> np.ndarray:
        """R_c(w) = ∫ G/F dw from the symmetric point (trapezoid; nan without one)."""
        r = np.nan_to_num(self.ratio)
        w = self.w
        c = np.r_[0.0, np.cumsum(0.5 * (r[1:] + r[:-1]) * np.diff(w))]
        if self.w_sym is None:
            return np.full_like(c, np.nan)
        return c - np.interp(self.w_sym, w, c)

    def table(self) -> tuple[np.ndarray, str]:
        """Columns and CSV header of the tabulation."""
        cols = np.column_stack([self.x, self.g, self.w, self.dg_up, self.dg_down, self.q_up,
                                self.q_down, self.F, self.G, self.ratio, self.penalty,
                                self.e_up, self.e_down])
        return cols, "x,g_S,w,dg_up_S,dg_down_S,q_up,q_down,F,G,G_over_F,penalty,e_up_J,e_down_J"


def _crossings(h: np.ndarray) -> list[tuple[int, int]]:
    """Brackets (i, j) where h goes from > 0 at i to < 0 at j, with only zeros between
    (stable symmetric points); a zero band wider than a tenth of the grid is neutral, skipped."""
    s = np.sign(h)
    nz = np.flatnonzero(s)
    out = []
    for i, j in zip(nz[:-1], nz[1:]):
        if s[i] > 0 > s[j] and j - i <= max(2, len(h) // 10):
            out.append((int(i), int(j)))
    return out


def response_curve(model: DeviceModel, v_set: float | None = None, v_reset: float | None = None,
                   t_pulse: float | None = None, n: int = 201) -> ResponseCurve:
    """Tabulate ΔG⁺(G), ΔG⁻(G) and the symmetric point of ``model`` for one standard pulse.

    Defaults of the pulse come from ``model.demo``; ``n`` states span the model's bounds.
    """
    v_set, v_reset, t_pulse = standard_pulse(model, v_set, v_reset, t_pulse)
    if n < 3:
        raise DeviceError(f"response curve needs n >= 3 states, got {n}")
    if np.any(np.asarray(model.params.c2c) > 0):
        model = model.replace(c2c=0.0)
    lo, hi = model.bounds
    x = np.linspace(lo, hi, n)
    up, e_up = pulse_step(model, x, v_set, t_pulse)
    dn, e_dn = pulse_step(model, x, v_reset, t_pulse)
    dn = -dn
    h = up - dn
    h = np.where(np.abs(h) <= 1e-9 * np.max(np.abs(up) + np.abs(dn)), 0.0, h)  # no sign noise
    x_sym = g_sym = None
    idx = _crossings(h)
    if idx:
        a, b = x[idx[0][0]], x[idx[0][1]]
        for _ in range(60):  # bisection on the exact per-pulse difference
            m = 0.5 * (a + b)
            hm = pulse_step(model, m, v_set, t_pulse)[0] + pulse_step(model, m, v_reset, t_pulse)[0]
            if hm > 0:
                a = m
            else:
                b = m
        x_sym = float(0.5 * (a + b))
        g_sym = float(model.conductance(np.float64(x_sym)))
        dg_min = float(pulse_step(model, x_sym, v_set, t_pulse)[0])
    else:
        dg_min = float(np.max(0.5 * (up + dn)))
    if not dg_min > 0:
        raise DeviceError(f"{model.name}: pulses of {v_set:g} V / {v_reset:g} V, {t_pulse:g} s do not "
                          "move the state (below threshold?)")
    return ResponseCurve(model=model.name, v_set=v_set, v_reset=v_reset, t_pulse=t_pulse, x=x,
                         g=model.conductance(x), dg_up=up, dg_down=dn, e_up=e_up, e_down=e_dn,
                         x_sym=x_sym, g_sym=g_sym, dg_min=dg_min)


@dataclass(frozen=True, slots=True)
class SymmetricPoint:
    """Result of an alternating-pulse search (arrays shaped like the start states)."""

    x: np.ndarray        # estimated symmetric state (–): midpoint of the final SET/RESET cycle
    #                      (with c2c noise: mean midpoint of the second half of the cycles)
    g: np.ndarray        # its conductance (S)
    step: np.ndarray     # S, |ΔG| of the final cycle's pulses (the resolution; one noisy cycle with c2c)
    n_pulses: int        # pulses applied per device
    energy: np.ndarray   # J per device spent on the search
    converged: bool


def find_symmetric_point(model: DeviceModel, x0: np.ndarray | float = 0.5, *,
                         v_set: float | None = None, v_reset: float | None = None,
                         t_pulse: float | None = None, max_cycles: int = 10000, tol: float = 1e-6,
                         rng: np.random.Generator | None = None) -> SymmetricPoint:
    """Apply SET, RESET, SET, ... pulses until the two-state cycle is stationary.

    Vectorised over devices (``x0`` any shape, per-device parameters allowed). Stops when the
    cycle midpoint moves by less than ``tol`` (–) per cycle for every device, or after
    ``max_cycles`` cycles (``converged`` False). ``rng`` is needed with cycle-to-cycle noise;
    the search then runs all ``max_cycles`` cycles (the state wanders about the symmetric point
    by about a pulse step, with a correlation time of tens of cycles, so no per-device stopping
    rule is both safe and short) and returns the mean midpoint of the second half of the cycles,
    the first half being the burn-in from ``x0``.
    """
    v_set, v_reset, t_pulse = standard_pulse(model, v_set, v_reset, t_pulse)
    x = np.array(x0, dtype=float, copy=True)
    energy = np.zeros(x.shape)
    mid_sum, n_mid = 0.0, 0  # noisy search: sum of the midpoints after the burn-in
    prev = None
    noisy = np.any(np.asarray(model.params.c2c) > 0)
    converged = False
    cycle = 0
    for cycle in range(1, max_cycles + 1):
        r_up = model.apply_pulse(x, v_set, t_pulse, rng=rng)
        r_dn = model.apply_pulse(r_up.x, v_reset, t_pulse, rng=rng)
        energy += r_up.energy + r_dn.energy
        mid = 0.5 * (r_up.x + r_dn.x)
        x = r_dn.x
        if noisy:
            if cycle > max_cycles // 2:
                mid_sum, n_mid = mid_sum + mid, n_mid + 1
        elif prev is not None and np.all(np.abs(mid - prev) <= tol):
            converged = True
            break
        prev = mid
    if noisy:
        mid = mid_sum / n_mid
        converged = True
    g_up = model.conductance(r_up.x)
    g_dn = model.conductance(r_dn.x)
    return SymmetricPoint(x=mid, g=model.conductance(mid), step=np.abs(g_up - g_dn),
                          n_pulses=2 * cycle, energy=energy, converged=converged)


def pulse_cost(model: DeviceModel, x: float, amplitudes: np.ndarray, widths: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """|ΔG| (S) and energy (J) of one pulse from state x on an amplitude × width grid.

    Shapes ``(len(amplitudes), len(widths))``; amplitudes are signed (V), widths in s. The
    energy per unit change ``E/|ΔG|`` (J/S) is the pulse-width trade-off of seed 004.
    """
    a = np.asarray(amplitudes, dtype=float)[:, None]
    t = np.asarray(widths, dtype=float)[None, :]
    dg, e = pulse_step(model, np.full(np.broadcast_shapes(a.shape, t.shape), float(x)), a, t)
    return np.abs(dg), e
