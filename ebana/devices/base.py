"""Memristor device-model interface.

Public API: :class:`DeviceModel`, :class:`DeviceParams`, :class:`PulseResult`, :class:`Demo`,
:data:`V_READ`, :data:`EDGE`, :data:`X_MIN`, :data:`X_MAX`.

**State.** Every model exposes one normalised state ``x ∈ [0, 1]`` per device, arrays of any
shape; ``x = 1`` is the most conductive bound (R_ON) and ``x = 0`` the least (R_OFF).

**Polarity.** ebana orients every device so that a *positive* voltage potentiates (raises G).
A model whose native SET polarity is negative declares ``polarity = -1``; the native physics
then sees ``v_native = polarity * v`` and the terminal current is ``polarity * I_native``.
So ``v_th_set > 0`` and ``v_th_reset < 0`` for every model.

**Pulses.** :meth:`DeviceModel.apply_pulse` integrates a rectangular pulse exactly: by the
closed form ``Φ(x1) = Φ(x0) + g(V)·t`` for separable models (:class:`SeparableModel`), by a
model-specific closed form where one exists, and otherwise by the adaptive Dormand-Prince
integrator in :mod:`ebana.devices.integrate` (rtol 1e-9). The write energy
``E = ∫ V·I(V, x(t)) dt`` (J) is returned with the new state. Motion is clipped with
direction awareness: a device at a bound can always leave it when the physics allows.

**Rescaling** (:meth:`DeviceModel.with_range`, "read-map rescaling", devices.md §7). The state
dynamics stay native (native current, thresholds and time constants). Only the electrical
read-out changes: with ``G(x) = I(V_READ, x)/V_READ`` and ``Gn(x) = (G(x) - G(0))/(G(1) - G(0))``
the rescaled device has ``G'(x) = 1/R_OFF' + (1/R_ON' - 1/R_OFF')·Gn(x)`` and
``I'(V, x) = I(V, x)·G'(x)/G(x)`` at every V, so G' is exact at V_READ, the I-V keeps its shape
and pinching, and the per-pulse response as a function of Gn is unchanged. Energy uses I'.

**Variability.** Device-to-device: :meth:`DeviceModel.with_variability` draws every field in
``d2d_fields`` as ``p·exp(d2d·ξ)``, ξ ~ N(0, 1) per device (lognormal with median p, signs
kept), and returns a model whose parameters are arrays of that shape. Cycle-to-cycle: with
``c2c > 0`` each state change Δx of :meth:`apply_pulse` becomes ``Δx·(1 + c2c·ξ)`` drawn from
the ``rng`` passed to the call (required then), clipped to the bounds; no motion stays no
motion, so thresholds are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ebana.devices.integrate import integrate_pulse
from ebana.errors import DeviceError

__all__ = ["V_READ", "EDGE", "X_MIN", "X_MAX", "PulseResult", "Demo", "DeviceParams", "DeviceModel",
           "SeparableModel", "power_above"]

V_READ = 0.1
"""Read voltage (V) that defines R_ON/R_OFF and the rescaling map."""
EDGE = 1e-12
"""Models whose window vanishes at the bound being approached (Biolek, soft bounds) keep x in
[EDGE, 1 - EDGE] so it never rounds onto it (their rate away from a bound does not vanish, so
the clamp costs no memory)."""
X_MIN = 2.0**-1022
"""Lower state bound (–, the smallest normal float64) of windows that vanish at *both* bounds
(Joglekar, Prodromakis): such a device never reaches a bound from inside, and every state
between is kept to float64 precision, so a symmetric pulse train returns to where it started
(issue 17: a clamp of 1e-12 erased the memory of states 1e-14 from the bound)."""
X_MAX = 1.0 - 2.0**-53
"""Upper state bound (–) of those windows: the largest float64 below 1 (2^-53 relative)."""


@dataclass(frozen=True, slots=True)
class PulseResult:
    """Outcome of a pulse: new state ``x`` (–, in [0, 1]) and ``energy`` (J per device)."""

    x: np.ndarray
    energy: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class Demo:
    """Per-model defaults for the I-V and pulse demos (CLI and tests)."""

    amplitude: float  # V, sinusoid amplitude
    frequency: float  # Hz, sinusoid frequency
    v_set: float  # V (> 0), potentiating pulse amplitude
    v_reset: float  # V (< 0), depressing pulse amplitude
    t_pulse: float  # s, pulse width
    x0: float = 0.1  # –, initial state of the demos
    cycles: int = 2
    n_pulses: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceParams:
    """Parameters common to every model; model parameter classes extend this one.

    Fields may be floats or, after :meth:`DeviceModel.with_variability`, arrays.
    """

    model: ClassVar[str] = "device"

    c2c: float = 0.0
    """Cycle-to-cycle noise: relative standard deviation of each state change (–)."""
    range_r_on: float | None = None
    """Rescaled R_ON at V_READ (ohm), set by :meth:`DeviceModel.with_range`; None = native."""
    range_r_off: float | None = None
    """Rescaled R_OFF at V_READ (ohm); None = native."""

    def __post_init__(self) -> None:
        self._check(self.c2c >= 0, "c2c", self.c2c, ">= 0")
        if (self.range_r_on is None) != (self.range_r_off is None):
            raise DeviceError(f"{self.model}: range_r_on and range_r_off must be set together")
        if self.range_r_on is not None:
            self._check(self.range_r_on > 0, "r_on", self.range_r_on, "> 0 ohm")
            self._check(np.asarray(self.range_r_off) > self.range_r_on, "r_off", self.range_r_off,
                        f"> r_on = {self.range_r_on!r} ohm")
        self.validate()

    def validate(self) -> None:
        """Model-specific checks; raise :class:`DeviceError` via :meth:`_check`."""

    def _check(self, ok: Any, name: str, value: Any, rule: str) -> None:
        ok = np.asarray(ok)
        if not np.all(ok):
            val = np.asarray(value)
            shown = val.reshape(-1)[np.argmin(ok.reshape(-1))] if val.ndim else val
            raise DeviceError(f"{self.model}: parameter {name}={float(shown):g} must be {rule}")

    def above(self, name: str, lower: str, unit: str) -> None:
        """Check parameter ``name`` > parameter ``lower`` elementwise (scalars or per-device arrays,
        e.g. after device-to-device spread), naming the first offending pair and how many fail."""
        hi, lo = np.broadcast_arrays(np.asarray(getattr(self, name), dtype=float),
                                     np.asarray(getattr(self, lower), dtype=float))
        bad = ~(hi > lo)
        if np.any(bad):
            i = int(np.argmax(bad.reshape(-1)))
            where = f" (device {i}: {int(bad.sum())} of {bad.size} devices)" if bad.size > 1 else ""
            raise DeviceError(f"{self.model}: parameter {name}={hi.reshape(-1)[i]:g} must be > "
                              f"{lower} = {lo.reshape(-1)[i]:g} {unit}{where}")

    def positive(self, *names: str) -> None:
        for n in names:
            self._check(np.asarray(getattr(self, n)) > 0, n, getattr(self, n), "> 0")


class DeviceModel:
    """Base class of every memristor model (parameters only, no hidden state).

    Subclasses set the class attributes and implement :meth:`_current` and :meth:`_rate`
    in the *native* polarity (state x normalised, ``vn`` native voltage in V), plus the SPICE
    expressions :meth:`spice_current` and :meth:`spice_rate` written with ``v(vn)``, ``v(x)``
    and ``{param}`` placeholders.
    """

    name: ClassVar[str] = "device"
    kind: ClassVar[str] = "continuous"  # or "thresholded"
    citation: ClassVar[str] = ""
    Params: ClassVar[type[DeviceParams]] = DeviceParams
    polarity: ClassVar[int] = 1
    edge: ClassVar[float] = 0.0
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    d2d_fields: ClassVar[tuple[str, ...]] = ()
    closed_energy_rescaled: ClassVar[bool] = False
    """True when :meth:`_closed_energy` already returns the energy of the read-mapped device
    (it then runs for rescaled devices whatever :attr:`factorable_iv` says)."""
    factorable_iv: ClassVar[bool] = False
    """True when ``I(V, x) = c(V)·h(x)`` (the I-V shape does not depend on the state): then
    ``I(V, x)/G(x)`` is independent of x and the energy of a rescaled device follows exactly
    from the native one (:meth:`_rescaled_energy`)."""
    demo: ClassVar[Demo]

    @property
    def flux_controlled(self) -> bool:
        """True when the state is a function of the flux φ = ∫V dt alone (Chua's flux-controlled
        memristor): ``dx/dt = V·h(x)`` with the same h for both polarities and no bound reached
        from inside (h vanishes at both). Holds at V_k for t_k then move x exactly as one hold of
        Σ V_k·t_k (dx/dφ = h(x)), in any order; read disturb uses it
        (:meth:`ebana.updates.faults.FaultyUpdate.read_disturb`). Default False."""
        return False

    def __init__(self, params: DeviceParams | None = None, /, *, preset: str | None = None,
                 **overrides: Any) -> None:
        if params is None:
            base: dict[str, Any] = {}
            if preset is not None:
                if preset not in self.presets:
                    known = ", ".join(sorted(self.presets)) or "none"
                    raise DeviceError(f"{self.name}: unknown preset {preset!r}; known: {known}")
                base = dict(self.presets[preset])
            base.update(overrides)
            params = self._make(self.Params, base)
        elif overrides:
            params = self._make(lambda **kw: dataclasses.replace(params, **kw), overrides)
        if not isinstance(params, self.Params):
            raise DeviceError(f"{self.name}: params must be {self.Params.__name__}")
        self.params = params

    def _make(self, factory: Any, kw: dict[str, Any]) -> DeviceParams:
        fields = {f.name for f in dataclasses.fields(self.Params)}
        bad = sorted(set(kw) - fields)
        if bad:
            raise DeviceError(f"{self.name}: unknown parameter {bad[0]!r}; known: "
                              f"{', '.join(sorted(fields))}")
        try:
            return factory(**kw)
        except TypeError as err:  # e.g. a string where a number is needed
            raise DeviceError(f"{self.name}: bad parameter value ({err})") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    # ---- native physics (override) ----
    def _current(self, vn: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Native current (A) at native voltage vn (V)."""
        raise NotImplementedError

    def _rate(self, vn: np.ndarray, x: np.ndarray) -> np.ndarray:
        """dx/dt (1/s) at native voltage vn (V), before bound gating."""
        raise NotImplementedError

    def _closed_form(self, x: np.ndarray, vn: np.ndarray, t: np.ndarray) -> np.ndarray | None:
        """Exact state after a constant pulse, or None to use the integrator."""
        return None

    def _closed_energy(self, x, vn, t, x1) -> np.ndarray | None:
        """Exact native energy (J) of the pulse, or None to use the integrator."""
        return None

    # ---- metadata ----
    @property
    def v_th_set(self) -> float | None:
        """Smallest positive voltage (V) that can move any state, None if none (continuous)."""
        return None

    @property
    def v_th_reset(self) -> float | None:
        """Largest negative voltage (V) that can move any state, None if none (continuous)."""
        return None

    @property
    def r_on(self) -> float:
        """Resistance (ohm) at x = 1, read at V_READ."""
        return 1.0 / self.conductance(np.float64(1.0))

    @property
    def r_off(self) -> float:
        """Resistance (ohm) at x = 0, read at V_READ."""
        return 1.0 / self.conductance(np.float64(0.0))

    @property
    def bounds(self) -> tuple[float, float]:
        return self.edge, 1.0 - self.edge

    # ---- electrical ----
    def _native_read_g(self, s: np.ndarray) -> np.ndarray:
        """Conductance (S) of the native (not read-mapped) device in state s at V_READ."""
        pol = self.polarity
        return pol * self._current(np.float64(pol * V_READ), s) / V_READ

    def _scale(self, x: np.ndarray) -> np.ndarray | float:
        p = self.params
        if p.range_r_on is None:
            return 1.0
        g = self._native_read_g
        g_x, g0, g1 = g(x), g(np.float64(0.0)), g(np.float64(1.0))
        gn = (g_x - g0) / (g1 - g0)
        g_new = 1.0 / p.range_r_off + (1.0 / p.range_r_on - 1.0 / p.range_r_off) * gn
        return g_new / g_x

    def current(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Terminal current (A) at voltage v (V) and state x; broadcast."""
        v = np.asarray(v, dtype=float)
        x = np.asarray(x, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            return self.polarity * self._current(self.polarity * v, x) * self._scale(x)

    def conductance(self, x: np.ndarray, v_read: float = V_READ) -> np.ndarray:
        """Conductance (S) ``I(v_read, x)/v_read``; same shape as x."""
        if not v_read:
            raise DeviceError(f"{self.name}: v_read must be nonzero, got {v_read!r}")
        return self.current(np.float64(v_read), x) / v_read

    def _power(self, vn: np.ndarray, x: np.ndarray) -> np.ndarray:
        # V*I is orientation independent: (pol*vn)*(pol*I_native)
        with np.errstate(over="ignore", invalid="ignore"):
            return vn * self._current(vn, x) * self._scale(x)

    def _gated_rate(self, vn: np.ndarray, x: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = self._rate(vn, x)
        stop = ((x >= hi) & (r > 0)) | ((x <= lo) & (r < 0))
        return np.where(stop, 0.0, r)

    def dxdt(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        """State rate dx/dt (1/s) at voltage v (V), bound-gated."""
        v = np.asarray(v, dtype=float)
        return self._gated_rate(self.polarity * v, np.asarray(x, dtype=float))

    # ---- pulses ----
    def apply_pulse(self, x: np.ndarray, v: np.ndarray | float, t: np.ndarray | float, *,
                    rng: np.random.Generator | None = None, energy: bool = True,
                    reference: bool = False) -> PulseResult:
        """Apply a rectangular pulse of amplitude v (V, signed) and width t (s, >= 0).

        Broadcasts x, v, t. Returns the new state (in [0, 1]) and the energy ``∫V·I dt`` (J);
        with ``energy=False`` the energy is NaN and only the (cheaper) state is computed.
        ``rng`` is required when the model has cycle-to-cycle noise (``c2c > 0``).
        ``reference=True`` skips every closed form and quadrature: state and energy come from
        the adaptive integrator (the reference the fast paths are tested against).
        """
        x, v, t = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, v, t)))
        self._check_inputs(x, v, t)
        vn = self.polarity * v
        lo, hi = self.bounds
        with np.errstate(all="ignore"):
            x1 = None if reference else self._closed_form(x, vn, t)
        e = None
        rescaled = self.params.range_r_on is not None
        own = self.closed_energy_rescaled
        if energy and x1 is not None and (not rescaled or self.factorable_iv or own):
            with np.errstate(all="ignore"):
                e = self._closed_energy(x, vn, t, x1)
                if e is not None and rescaled and not own:
                    e = self._rescaled_energy(x, vn, t, e)
            if e is not None and not np.all(np.isfinite(e)):
                e = self._integrate_declined(x, vn, t, np.asarray(e, dtype=float))
        if x1 is None or (energy and e is None):
            x_rk, e = integrate_pulse(self._gated_rate, self._power, x, vn, t, lo, hi)
            x1 = x_rk if x1 is None else x1
        x1 = np.where(t > 0, np.clip(x1, min(lo, 0.0), max(hi, 1.0)), x)
        if self.params.c2c is not None and np.any(np.asarray(self.params.c2c) > 0):
            if rng is None:
                raise DeviceError(f"{self.name}: c2c={self.params.c2c!r} needs an rng "
                                  "(np.random.Generator) in apply_pulse")
            dx = x1 - x
            x1 = np.where(dx != 0, np.clip(x + dx * (1 + self.params.c2c
                                                        * rng.standard_normal(x.shape)),
                                           min(lo, 0.0), max(hi, 1.0)), x1)
        if not energy:
            e = np.full(x.shape, np.nan)
        return PulseResult(x=np.asarray(x1, dtype=float), energy=np.asarray(e, dtype=float))

    def apply_holds(self, x: np.ndarray, volts: Iterable[np.ndarray], t: float) -> np.ndarray | None:
        """States after holding the devices at each of ``volts`` (V) for ``t`` s in turn, by a
        shortcut exact for the model; None: no shortcut (pulse each hold with :meth:`apply_pulse`).
        :meth:`SeparableModel.apply_holds` has one."""
        return None

    def restrict(self, idx: np.ndarray, shape: tuple[int, ...]) -> "DeviceModel":
        """The model of the devices ``idx`` (flat indices into ``shape``): per-device parameter
        arrays are broadcast to ``shape``, flattened and sliced; scalar models return self."""
        arrays = {f.name: np.ravel(getattr(self.params, f.name) + np.zeros(shape))
                  for f in dataclasses.fields(self.params) if np.ndim(getattr(self.params, f.name))}
        if not arrays:
            return self
        return type(self)(self.params, **{n: a[idx] for n, a in arrays.items()})

    def _integrate_declined(self, x, vn, t, e):
        """Energy (J) where a closed form declined single devices (NaN, e.g. a quadrature
        whose error bound is not met): those devices alone go through the integrator."""
        bad = np.flatnonzero(~np.isfinite(e))
        m = self.restrict(bad, x.shape)
        lo, hi = self.bounds
        _, e_bad = integrate_pulse(m._gated_rate, m._power, x.flat[bad], vn.flat[bad], t.flat[bad], lo, hi)
        out = e.copy()
        out.flat[bad] = e_bad
        return out

    def _rescaled_energy(self, x, vn, t, e_native):
        """Energy (J) of the read-mapped device from the native energy ``e_native`` (J).

        With ``G'(x) = α + β·G(x)`` (module docstring: ``β = (1/R_ON' - 1/R_OFF')/(G(1) - G(0))``,
        ``α = 1/R_OFF' - β·G(0)``) the rescaled power is ``V·I·G'/G = α·V·I/G + β·V·I``. For a
        factorable I-V (:attr:`factorable_iv`) ``V·I/G`` does not depend on the state, so
        ``E' = α·t·V·I(V, x0)/G(x0) + β·E`` exactly.
        """
        p = self.params
        g = self._native_read_g
        g0, g1 = g(np.float64(0.0)), g(np.float64(1.0))
        beta = (1.0 / p.range_r_on - 1.0 / p.range_r_off) / (g1 - g0)
        alpha = 1.0 / p.range_r_off - beta * g0
        one = np.float64(1.0)
        ratio = vn * self._current(vn, one) / g(one)  # V·I/G (V²): state independent, read at x = 1
        return alpha * t * ratio + beta * e_native

    def _check_inputs(self, x, v, t) -> None:
        for name, a, unit in (("x", x, ""), ("v", v, " V"), ("t", t, " s")):
            if not np.all(np.isfinite(a)):
                raise DeviceError(f"{self.name}: pulse {name} must be finite, got "
                                  f"{a[~np.isfinite(a)].flat[0]!r}{unit}")
        if np.any(t < 0):
            raise DeviceError(f"{self.name}: pulse width t={t[t < 0].flat[0]:g} s must be >= 0")
        if np.any((x < 0) | (x > 1)):
            bad = x[(x < 0) | (x > 1)].flat[0]
            raise DeviceError(f"{self.name}: state x={bad:g} must lie in [0, 1]")

    def initial_state(self, shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Random initial states, uniform in [0.25, 0.75] (–)."""
        return rng.uniform(0.25, 0.75, size=shape)

    # ---- variants ----
    def replace(self, **changes: Any) -> "DeviceModel":
        """Copy with some parameters changed (validated)."""
        return type(self)(self.params, **changes)

    def with_range(self, r_on: float, r_off: float) -> "DeviceModel":
        """Copy read-mapped to R_ON = r_on, R_OFF = r_off (ohm) at V_READ (module docstring)."""
        for n, val in (("r_on", r_on), ("r_off", r_off)):
            if not np.all(np.isfinite(val)) or np.any(np.asarray(val) <= 0):
                raise DeviceError(f"{self.name}: {n}={val!r} must be a finite resistance > 0 ohm")
        if np.any(np.asarray(r_off) <= np.asarray(r_on)):
            raise DeviceError(f"{self.name}: r_off={r_off!r} ohm must exceed r_on={r_on!r} ohm")
        return self.replace(range_r_on=r_on, range_r_off=r_off)

    def with_variability(self, shape: int | tuple[int, ...], rng: np.random.Generator,
                         d2d: float) -> "DeviceModel":
        """Copy whose ``d2d_fields`` are lognormal arrays of ``shape`` (spread ``d2d``, –)."""
        if not np.isfinite(d2d) or d2d < 0:
            raise DeviceError(f"{self.name}: d2d={d2d!r} must be >= 0")
        changes = {}
        for n in self.d2d_fields:
            changes[n] = getattr(self.params, n) * np.exp(d2d * rng.standard_normal(shape))
        try:
            return self.replace(**changes)
        except DeviceError as err:
            raise DeviceError(f"{err} (d2d={d2d:g} spread too large)") from None

    # ---- SPICE ----
    def spice_current(self) -> str:
        """Native current expression (A) in v(vn) and v(x)."""
        raise NotImplementedError

    def spice_rate(self) -> str:
        """Native dx/dt expression (1/s) in v(vn) and v(x), before bound gating."""
        raise NotImplementedError

    def spice_logit_rate(self) -> str | None:
        """``d logit(x)/dt`` (1/s) in v(vn) and v(x), or None (the default).

        Models whose window vanishes at both bounds as ``x(1 - x)`` times a polynomial return
        it; their ngspice subcircuit then integrates ``y = logit(x)``, which keeps the
        distance to a bound at full relative precision (see :mod:`ebana.devices.spice`).
        """
        return None

    def spice_params(self) -> dict[str, float]:
        """Parameter values used as ``{name}`` in the expressions."""
        out = {}
        for f in dataclasses.fields(self.params):
            val = getattr(self.params, f.name)
            if f.name in ("c2c", "range_r_on", "range_r_off") or isinstance(val, str):
                continue
            if np.ndim(val):
                raise DeviceError(f"{self.name}: parameter {f.name} varies per device; "
                                  "SPICE subcircuits need scalar parameters")
            out[f.name] = float(val)
        return out


def power_above(base: np.ndarray, exponent, where: np.ndarray) -> np.ndarray:
    """``base**exponent`` where ``where`` (a threshold is crossed: base > 0 there), 0 elsewhere; the
    power is evaluated only there (a pulse or a read leaves most devices below threshold)."""
    shape = np.broadcast(base, exponent, where).shape
    return np.power(base, exponent, out=np.zeros(shape), where=where)


def invert_monotone(phi, f, y, guess, lo, hi, iters: int = 200, step_rtol: float = 2e-16) -> np.ndarray:
    """Solve ``phi(s) = y`` for s in [lo, hi], phi increasing with ``phi' = 1/f`` (vectorised).

    Safeguarded Newton: bisection whenever Newton leaves the bracket or f(s) = 0. Each
    iteration evaluates phi and f only on the devices not yet converged (a device converges
    on its own, not when the slowest one does), so the cost follows the number of devices
    still iterating rather than ``iterations × all devices``. A Newton step below
    ``step_rtol·|s|`` ends a device (raise it when phi carries evaluation noise above rounding:
    Newton converges quadratically, so the accepted step leaves only that noise).
    """
    y = np.asarray(y, dtype=float).ravel()
    shape = np.shape(np.asarray(guess) + np.zeros(np.shape(y)))
    a = np.full(y.shape, float(lo))
    b = np.full(y.shape, float(hi))
    s = np.clip(np.asarray(guess, dtype=float).ravel() + np.zeros(y.shape), lo, hi)
    res = s.copy()
    idx = np.arange(y.size)
    for _ in range(iters):
        if idx.size == 0:
            break
        F = phi(s, idx) - y
        a = np.where(F < 0, s, a)
        b = np.where(F > 0, s, b)
        fs = f(s, idx)
        s_nt = s - F * fs
        # a Newton step below rounding has converged (test it before the bracket test: a
        # converged s sits on the bracket's end and would otherwise restart bisection)
        small = (fs > 0) & (np.abs(s_nt - s) <= step_rtol * np.maximum(np.abs(s), 1e-300))
        bad = ~((s_nt > a) & (s_nt < b)) | ~(fs > 0)
        s_new = np.where(small, np.clip(s_nt, lo, hi), np.where(bad, 0.5 * (a + b), s_nt))
        done = (F == 0) | small | (b - a <= 4e-16 * np.maximum(np.abs(a), 1e-300))
        s_new = np.where(F == 0, s, s_new)
        res[idx[done]] = s_new[done]
        keep = ~done
        idx, s, y, a, b = idx[keep], s_new[keep], y[keep], a[keep], b[keep]
    res[idx] = s
    return res.reshape(shape)


DPHI_STEP_RTOL = 1e-13
"""Newton step (relative to s) that ends an incremental inversion: the residual ``ΔΦ - g·t``
carries noise ~1e-14 of the move, and Newton's quadratic convergence leaves only that noise."""


class SeparableModel(DeviceModel):
    """Model with ``dx/dt = g(vn)·f_d(x)``, d = direction of motion (up when g > 0).

    Subclasses implement :meth:`_drift` (g, 1/s), :meth:`_f` (f_d, –) and :meth:`_phi`
    (Φ_d with Φ_d' = 1/f_d, increasing); optionally :meth:`_phi_inv`. Set
    :attr:`separable` False (per instance) to fall back to the integrator.
    """

    @property
    def separable(self) -> bool:
        return True

    def _drift(self, vn: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _f(self, x: np.ndarray, up: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _phi(self, x: np.ndarray, up: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _phi_inv(self, y: np.ndarray, up: np.ndarray) -> np.ndarray | None:
        return None

    window_vanishes: bool = True
    """False when f > 0 at every state inside the bounds (no device can sit where its window
    vanishes, so the closed form skips that test)."""

    def _df(self, x: np.ndarray, up: np.ndarray, f: np.ndarray) -> np.ndarray | None:
        """df/dx at x (f = f(x) given), for the inversion's starting guess; None: a central
        difference."""
        return None

    dphi_step_rtol: float = DPHI_STEP_RTOL
    """Newton step (relative to s) that ends an incremental inversion (:data:`DPHI_STEP_RTOL`;
    2e-16 where :meth:`_dphi` is accurate to rounding)."""

    @property
    def incremental(self) -> bool:
        """True when :meth:`_dphi` is implemented: the inversion then solves
        ``Φ(s) - Φ(x0) = g·t`` instead of ``Φ(s) = Φ(x0) + g·t``."""
        return False

    def _dphi(self, x0: np.ndarray, s: np.ndarray, up: np.ndarray) -> np.ndarray:
        """``Φ(s) - Φ(x0)`` computed accurately relative to the difference (not to Φ)."""
        raise NotImplementedError

    def _invert(self, x, y, gt, up, lo, hi) -> np.ndarray:
        """Φ⁻¹(y) by :func:`invert_monotone` on the devices that move, from the second-order
        guess ``x + gt·f + (gt)²·f·f'/2`` (f' by a central difference); others keep x.
        Incremental models (:attr:`incremental`) solve ``Φ(s) - Φ(x) = gt`` and ignore y."""
        xf, yf, gtf = (np.ravel(a + np.zeros(x.shape)) for a in (x, y, gt))
        upf = np.ravel(up + np.zeros(x.shape, dtype=bool))
        out = xf.copy()
        mv = np.flatnonzero((gtf != 0) & np.isfinite(yf))
        if mv.size:
            xm, um = xf[mv], upf[mv]
            arrays = {f.name: np.ravel(getattr(self.params, f.name) + np.zeros(x.shape))
                      for f in dataclasses.fields(self.params) if np.ndim(getattr(self.params, f.name))}

            def sub(i):  # the model restricted to devices mv[i] (per-device parameters sliced)
                if not arrays:
                    return self
                return type(self)(self.params, **{n: a[mv[i]] for n, a in arrays.items()})

            m = sub(np.arange(mv.size))
            fm = m._f(xm, um)
            dfm = m._df(xm, um, fm)
            if dfm is None:
                h = 1e-6
                dfm = (m._f(np.minimum(xm + h, 1.0), um) - m._f(np.maximum(xm - h, 0.0), um)) / (2 * h)
            guess = xm + gtf[mv] * fm + 0.5 * (gtf[mv] * fm) ** 2 * dfm
            if self.incremental:  # solve Φ(s) - Φ(x) = g·t: noise relative to the move only
                gm = gtf[mv]
                for d in (True, False):  # one direction per solve: _dphi and _f need no masks
                    j = np.flatnonzero(um == d)
                    if j.size:
                        out[mv[j]] = invert_monotone(
                            lambda s, i, j=j, d=d: sub(j[i])._dphi(xm[j[i]], s, d),
                            lambda s, i, j=j, d=d: sub(j[i])._f(s, d), gm[j], guess[j], lo, hi,
                            step_rtol=self.dphi_step_rtol)
            else:
                out[mv] = invert_monotone(lambda s, i: sub(i)._phi(s, um[i]),
                                          lambda s, i: sub(i)._f(s, um[i]), yf[mv], guess, lo, hi)
        return out.reshape(x.shape)

    def _rate(self, vn, x):
        g = self._drift(vn)
        return np.where(g == 0, 0.0, g * self._f(x, g > 0))

    def _closed_form(self, x, vn, t):
        if not self.separable:
            return None
        return self._advance(x, (self._drift(vn) + np.zeros(x.shape)) * t)

    def _advance(self, x, gt):
        """States after a drive integral ``gt`` = ∫g dt (–; its sign is the direction) on the
        window branch of that direction: Φ_d(s) = Φ_d(x) + gt, clipped to the bounds."""
        lo, hi = self.bounds
        up = gt > 0
        if self.incremental:  # Φ itself is not needed (nor its cost)
            s1 = self._invert(x, gt, gt, up, lo, hi)
            sits = ~(self._f(x, up) > 0) if self.window_vanishes else False
        else:
            phi0 = self._phi(x, up)
            y = phi0 + gt
            s1 = self._phi_inv(y, up)
            if s1 is None:
                s1 = self._invert(x, y, gt, up, lo, hi)
            sits = ~np.isfinite(phi0)
        s1 = np.clip(np.nan_to_num(s1, nan=0.5), lo, hi)
        # no drive, or a device sitting where its window vanishes, does not move
        still = (gt == 0) | sits
        # direction awareness: never move against the drive
        s1 = np.where(up, np.maximum(s1, x), np.minimum(s1, x))
        return np.where(still, x, s1)

    def apply_holds(self, x: np.ndarray, volts: Iterable[np.ndarray], t: float) -> np.ndarray | None:
        """States (–) after holding the devices at ``volts[0]``, ``volts[1]``, ... (V, one entry per
        device, terminal polarity) for ``t`` s each, in that order: no energy, no c2c noise; None
        without a closed form (:attr:`separable` False).

        Exact and cheaper than a pulse per hold: on one window branch x follows dΦ_d = g(V) dt, so
        consecutive holds that drive a device the same way add their drive integrals g(V)·t (holds
        below threshold add 0) and make one :meth:`_advance`; a device is advanced early only where
        its direction flips. A flux-controlled model (:attr:`flux_controlled`) has one branch for
        both directions, so every device is advanced once, by Σ g(V)·t."""
        if not self.separable:
            return None
        shape = np.shape(x)
        x = np.array(x, dtype=float).ravel()
        acc = np.zeros(x.size)
        with np.errstate(all="ignore"):
            for v in volts:
                gt = np.ravel((self._drift(self.polarity * np.asarray(v, dtype=float)) + np.zeros(shape)) * t)
                if not self.flux_controlled:
                    flip = np.flatnonzero(acc * gt < 0)
                    if flip.size:
                        x[flip] = self.restrict(flip, shape)._advance(x[flip], acc[flip])
                        acc[flip] = 0.0
                acc += gt
            return self._advance(x, acc).reshape(shape)
