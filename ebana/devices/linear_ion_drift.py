"""Linear ion drift (HP) memristor with Joglekar, Biolek and Prodromakis windows.

Strukov et al., Nature 453 (2008): ``R(x) = R_ON·x + R_OFF·(1 - x)``, ``i = v/R(x)``,
``dx/dt = k·i·f(x)`` with ``k = µ_v·R_ON/D²``. Windows (x = w/D):

- ``none``: f = 1, hard bounds (full OFF->ON at 1 V takes (R_OFF + R_ON)/(2kV));
- ``joglekar`` (2009): ``1 - |2x - 1|^(2p)``; zero at both bounds, so a device *at* a bound
  never moves (its known terminal-state problem; from inside it never reaches them);
- ``biolek`` (2009, default): ``1 - (x - stp(-i))^(2p)``, direction-aware: zero only at the
  bound being approached;
- ``prodromakis`` (2011): ``j·(1 - ((x - 0.5)² + 0.75)^p)`` (the correct bracketing, not
  MemTorch's or Xyce's, devices.md §9).

Under voltage drive the model is separable (``f̃ = f/R``). Closed forms Φ are used for
``none``, for p = 1 and for Joglekar with integer p (partial fractions,
:func:`ebana.devices.windows.joglekar_integral`; other p: adaptive integration); the energy is
``V·Δq`` with ``Δq = ∫dx/(k f)`` in closed form.

Joglekar and Prodromakis vanish at both bounds, so the state is kept in
``[X_MIN, X_MAX] = [2^-1022, 1 - 2^-53]`` (:mod:`ebana.devices.base`) rather than
``[1e-12, 1 - 1e-12]``: the distance to a bound keeps float64 precision and a symmetric ±V
train returns to its start (50 SET + 50 RESET pulses of ±1 V, 20 ms from x = 0.1: back to
0.1 within 1e-5; the 1e-12 clamp ended at 0.0975). Their ngspice subcircuit integrates
``logit(x)`` for Joglekar with integer p and Prodromakis with p = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.devices import windows as win
from ebana.devices.base import EDGE, X_MAX, X_MIN, Demo, DeviceParams, SeparableModel
from ebana.devices.registry import register

__all__ = ["HPParams", "LinearIonDrift", "WINDOWS"]

WINDOWS = ("none", "joglekar", "biolek", "prodromakis")
STICKY = ("joglekar", "prodromakis")
"""Windows that vanish at both bounds (kept in [X_MIN, X_MAX])."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HPParams(DeviceParams):
    """HP linear-ion-drift parameters (MemTorch LinearIonDrift defaults)."""

    model = "linear_ion_drift"
    r_on: float = 100.0
    """Resistance of the fully doped device, x = 1 (ohm)."""
    r_off: float = 16e3
    """Resistance of the undoped device, x = 0 (ohm)."""
    d: float = 10e-9
    """Film thickness D (m)."""
    mu_v: float = 1e-14
    """Dopant mobility µ_v (m²/(V·s))."""
    window: str = "biolek"
    """One of none, joglekar, biolek, prodromakis."""
    p: float = 1.0
    """Window exponent (–, > 0)."""
    j: float = 1.0
    """Prodromakis window scale (–, > 0)."""
    inversion: str = "absolute"
    """How Φ is inverted for windows with p = 1: ``absolute`` (Φ(s) = Φ(x0) + g·t, the default:
    keeps the committed golden results) or ``incremental`` (Φ(s) - Φ(x0) = g·t by log1p of the
    move: states exact to ~1 ulp against ~2e-15 absolute, and fewer Newton steps; it moves the
    golden conductances by 2.3e-13 relative, hence opt-in)."""

    def validate(self) -> None:
        self.positive("r_on", "d", "mu_v", "p", "j")
        self.above("r_off", "r_on", "ohm")
        from ebana.errors import DeviceError
        if self.window not in WINDOWS:
            raise DeviceError(f"{self.model}: window={self.window!r} must be one of "
                              f"{', '.join(WINDOWS)}")
        if self.inversion not in ("absolute", "incremental"):
            raise DeviceError(f"{self.model}: inversion={self.inversion!r} must be absolute or incremental")

    @property
    def k(self):
        """Drift constant µ_v·R_ON/D² (1/(A·s))."""
        return self.mu_v * self.r_on / self.d**2


@register("linear_ion_drift")
class LinearIonDrift(SeparableModel):
    """HP linear ion drift model."""

    citation = ("Strukov et al., Nature 453:80 (2008); windows: Joglekar & Wolf, Eur. J. Phys. "
                "30 (2009); Biolek et al., Radioengineering 18 (2009); Prodromakis et al., "
                "IEEE TED 58 (2011)")
    Params = HPParams
    factorable_iv = True
    d2d_fields = ("r_on", "r_off", "mu_v")
    presets = {
        "memtorch": {},
        "technion_2011": {"r_on": 100.0, "r_off": 200e3, "d": 3e-9, "mu_v": 1e-15},
        "biolek_2009": {"r_on": 1e3, "r_off": 100e3, "d": 10e-9, "mu_v": 1e-14},
        "memtorch_joglekar": {"window": "joglekar"},
    }
    demo = Demo(amplitude=1.0, frequency=0.5, v_set=1.0, v_reset=-1.0, t_pulse=2e-2, x0=0.1)

    @property
    def edge(self) -> float:  # type: ignore[override]
        return 0.0 if self.params.window == "none" else EDGE

    @property
    def bounds(self) -> tuple[float, float]:
        if self.params.window in STICKY:
            return X_MIN, X_MAX
        return self.edge, 1.0 - self.edge

    @property
    def flux_controlled(self) -> bool:  # type: ignore[override]
        """Joglekar and Prodromakis: dx/dt = k·V·f(x)/R(x), f alike for both polarities and zero
        at both bounds. Biolek's f depends on the current's sign; ``none`` clips at hard bounds."""
        return self.params.window in STICKY

    def _jog_int(self) -> bool:
        """Joglekar with an integer p > 1 (partial-fraction closed form)."""
        p = self.params
        return p.window == "joglekar" and p.p != 1 and win.integer_p(p.p)

    @property
    def separable(self) -> bool:
        return self.params.window == "none" or self.params.p == 1 or self._jog_int()

    def _r(self, x):
        p = self.params
        return p.r_on * x + p.r_off * (1 - x)

    def _current(self, vn, x):
        return vn / self._r(x)

    def _window(self, x, up):
        p = self.params
        w = p.window
        if w == "none":
            return np.ones_like(x)
        if w == "joglekar":
            return 1 - np.abs(2 * x - 1) ** (2 * p.p)
        if w == "biolek":
            return np.where(up, 1 - np.abs(x) ** (2 * p.p), 1 - np.abs(1 - x) ** (2 * p.p))
        return p.j * (1 - ((x - 0.5) ** 2 + 0.75) ** p.p)

    def _drift(self, vn):
        return self.params.k * vn

    def _f(self, x, up):
        return self._window(x, up) / self._r(x)

    def _phi(self, x, up):
        p = self.params
        a, b = p.r_off, p.r_on - p.r_off
        w = p.window
        if w == "none":
            return a * x + 0.5 * b * x**2
        if self._jog_int():  # R = (r_on + r_off)/2 + (r_on - r_off)/2·u, dx = du/2
            return 0.5 * win.joglekar_integral(x, int(p.p), 0.5 * (p.r_on + p.r_off),
                                               0.5 * (p.r_on - p.r_off)) + 0.0 * up
        if w in ("joglekar", "prodromakis"):
            c = 4.0 if w == "joglekar" else p.j
            return (p.r_off * np.log(x) - p.r_on * np.log1p(-x)) / c
        up_phi = -0.5 * (a + b) * np.log1p(-x) + 0.5 * (a - b) * np.log1p(x)
        dn_phi = 0.5 * a * np.log(x) - (b + 0.5 * a) * np.log(2 - x)
        return np.where(up, up_phi, dn_phi)

    dphi_step_rtol = 2e-16  # log1p of the move: ΔΦ is accurate to rounding

    @property
    def incremental(self) -> bool:
        p = self.params
        return p.inversion == "incremental" and p.window != "none" and np.ndim(p.p) == 0 and p.p == 1

    def _dphi(self, x0, x, up):
        """``Φ(x) - Φ(x0)`` by log1p of the move (windows with p = 1): relative precision of
        the difference, so the inversion's Newton residual has no noise from Φ's size."""
        p = self.params
        a, b = p.r_off, p.r_on - p.r_off
        d = x - x0
        if p.window in ("joglekar", "prodromakis"):
            c = 4.0 if p.window == "joglekar" else p.j
            return (p.r_off * np.log1p(d / x0) - p.r_on * np.log1p(-d / (1 - x0))) / c
        up_d = -0.5 * (a + b) * np.log1p(-d / (1 - x0)) + 0.5 * (a - b) * np.log1p(d / (1 + x0))
        dn_d = 0.5 * a * np.log1p(d / x0) - (b + 0.5 * a) * np.log1p(-d / (2 - x0))
        return np.where(up, up_d, dn_d)

    def _phi_inv(self, y, up):
        p = self.params
        if p.window != "none":
            return None
        a, b = p.r_off, p.r_on - p.r_off
        y = np.clip(y, 0.0, a + 0.5 * b)
        return 2 * y / (a + np.sqrt(np.maximum(a * a + 2 * b * y, 0.0)))

    def _psi(self, x, up):
        """∫dx/f (–): charge times k."""
        p = self.params
        w = p.window
        if w == "none":
            return x + 0.0 * up
        if self._jog_int():
            return win.phi("joglekar", x, up, p.p)
        if w in ("joglekar", "prodromakis"):
            c = 4.0 if w == "joglekar" else p.j
            return np.log(x / (1 - x)) / c
        return np.where(up, np.arctanh(x), 0.5 * np.log(x / (2 - x)))

    def _closed_energy(self, x, vn, t, x1):
        if not self.separable:
            return None
        p = self.params
        g = self._drift(vn) + np.zeros(x.shape)
        up = g > 0
        safe_g = np.where(g != 0, g, 1.0)
        dphi = np.nan_to_num(self._phi(x1, up) - self._phi(x, up), nan=0.0, posinf=0, neginf=0)
        dpsi = np.nan_to_num(self._psi(x1, up) - self._psi(x, up), nan=0.0, posinf=0, neginf=0)
        t_move = np.where(g != 0, np.clip(dphi / safe_g, 0, t), 0.0)
        return vn * dpsi / p.k + vn**2 / self._r(x1) * (t - t_move)

    def spice_params(self) -> dict[str, float]:
        out = super().spice_params()
        out["k"] = float(self.params.k)
        return out

    def spice_current(self) -> str:
        return "v(vn)/({r_on}*v(x)+{r_off}*(1-v(x)))"

    def spice_rate(self) -> str:
        w = self.params.window
        shape = {
            "none": "1",
            "joglekar": "(1-pow(2*v(x)-1,2*{p}))",
            "biolek": "(1-pow(v(x)-(v(vn) < 0 ? 1 : 0),2*{p}))",
            "prodromakis": "{j}*(1-pow(pow(v(x)-0.5,2)+0.75,{p}))",
        }[w]
        return "{k}*v(vn)/({r_on}*v(x)+{r_off}*(1-v(x)))*" + shape

    def spice_logit_rate(self) -> str | None:
        ratio = win.spice_logit_window(self.params.window, self.params.p)
        if ratio is None:
            return None
        return "{k}*v(vn)/({r_on}*v(x)+{r_off}*(1-v(x)))*" + ratio
