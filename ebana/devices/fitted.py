"""A device model fitted to measured pulse data (``--device fitted:PATH``; :mod:`ebana.devices.fit`).

Public API: :data:`PREFIX`, :class:`FittedParams`, :class:`FittedDevice`, :func:`load_model`,
:func:`fitted_class`, :func:`preset_name`.

**State and read-out.** ``x ∈ [0, 1]`` maps linearly onto the measured conductance range,
``G(x) = g_min + (g_max - g_min)·x`` (S); the read I-V is ohmic, so ``with_range`` read-maps it
exactly (devices.md §7).

**Dynamics.** One measured pulse of the *operating width* ``t_pulse`` (s) and amplitude V moves the
state by the fitted per-pulse response ``q(x; V)`` (–, the polynomial or the monotone table of the
model file). A pulse of any duration t is read as ``n = t/t_pulse`` such pulses, integrated as
``dx/dn = q(x; V)``, i.e. ``dx/dt = q(x; V)/t_pulse`` (1/s) by the adaptive integrator of
:mod:`ebana.devices.base`: split-pulse invariant, so PWM widths and the algorithms' ``|n|·t_pulse``
pulse trains are whole or fractional numbers of measured pulses.

* **Width** (PWM): ``t_pulse`` is one of the measured widths (the presets ``20ns``, ``2us``, ...;
  default: the file's ``default_width``) or lies between two of them, where q is interpolated
  linearly in ``ln t_pulse`` between the two widths' responses at the same amplitude. Outside the
  measured widths the model refuses (no extrapolation in width).
* **Amplitude** (PAM): at each width q is piecewise linear in V through the measured amplitudes,
  from 0 at a threshold ``v_th`` (the mean step extrapolated linearly to zero from the two lowest
  amplitudes, 0 with one amplitude) and extrapolated beyond the highest amplitude along the last
  segment (proportional to ``V - v_th`` with one amplitude). Below ``v_th`` nothing moves.
* q is evaluated inside each condition's measured state range only (constant beyond it) and with
  its sign enforced (SET >= 0, RESET <= 0); the state bounds stop the motion.

**Write energy** ``∫ V·I_w dt`` with the write current ``I_w = G'(x)·k(|V|)`` of the model file
(:mod:`ebana.devices.fit`: measured, Schottky or ohmic k(V), V); G' is the read-mapped conductance.

**Fast path** (:meth:`FittedDevice._closed_form`). At a fixed pulse (V, t) every device's state
obeys ``dx/dn = q(x; V)`` over ``n = t/t_pulse`` measured pulses; all devices are marched at once
by classic RK4 in n with ``m = clip(ceil(max |q(x0)|·n /`` :data:`DX_STEP` ``), 1,`` :data:`MAX_STEPS` ``)``
common steps (step ``n/m`` per device), each side (SET, RESET) evaluating only its own response.
The write energy rides along as a second RK4 component, ``E = |V|·k(|V|)·t_pulse·∫G'(x) dn``
(G' linear in x, read-mapped). Error vs the adaptive integrator (rtol 1e-9): tests/devices/test_fitted_fast.py
(≤ 1e-6 of the step and of the energy; RK4's local error is O(Δx⁵) on smooth segments, O(Δx²)
across the clip kinks at a condition's measured state range).

**SPICE.** The response is per pulse, measured at discrete widths and amplitudes, not a function of
v(t); the subcircuit is the read conductance only (state held, rate 0). That is all the circuit
uses: device states are frozen during the free and nudged phases and change only by programming
pulses, which this numpy model applies.
"""

from __future__ import annotations

import functools
import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ebana.devices.base import Demo, DeviceModel, DeviceParams
from ebana.devices.fit import FORMAT, schottky_k
from ebana.errors import DeviceError

__all__ = ["PREFIX", "FittedParams", "FittedDevice", "load_model", "fitted_class", "preset_name", "model_sha256"]

PREFIX = "fitted:"
"""Model names ``fitted:PATH`` load the model file at PATH (relative to the working directory)."""
_RESPONSES = ("poly", "table")
DX_STEP = 0.01
"""Largest initial state change (–) of one RK4 step of the fast path (module docstring)."""
MAX_STEPS = 256
"""Most RK4 steps of one fast-path pulse."""


def preset_name(width: float) -> str:
    """Preset name of a measured width (s): ``20ns``, ``2us``, ``200us``, ``1ms``, ``1s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if width >= 0.999 * scale:
            return f"{width / scale:.4g}{unit}"
    return f"{width / 1e-12:.4g}ps"


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedParams(DeviceParams):
    """Parameters of a fitted device (the measured response itself lives in the model file)."""

    model = "fitted"
    t_pulse: float | None = None
    """Operating pulse width (s): a measured width or between two; None: the file's default_width."""
    response: str = "poly"
    """Which fit drives the device: ``poly`` (5th-degree polynomial, seed 004) or ``table``
    (monotone piecewise-linear)."""

    def validate(self) -> None:
        if self.t_pulse is not None:
            self._check(np.isfinite(self.t_pulse) and self.t_pulse > 0, "t_pulse", self.t_pulse, "> 0 s")
        if self.response not in _RESPONSES:
            raise DeviceError(f"fitted: response={self.response!r} must be one of {', '.join(_RESPONSES)}")


def _need(d: dict, key: str, kind: Any, where: str) -> Any:
    """d[key] checked against kind (a type, or "numbers": a non-empty list of finite numbers)."""
    if key not in d:
        raise DeviceError(f"{where}: missing key {key!r}")
    val = d[key]
    if kind is float and isinstance(val, int) and not isinstance(val, bool):
        val = float(val)
    if kind == "numbers":
        if not (isinstance(val, list) and val and all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                      and math.isfinite(a) for a in val)):
            raise DeviceError(f"{where}: key {key!r} must be a non-empty list of finite numbers")
        return [float(a) for a in val]
    if not isinstance(val, kind) or (isinstance(val, float) and not math.isfinite(val)):
        raise DeviceError(f"{where}: key {key!r} must be {getattr(kind, '__name__', kind)}, got {val!r}")
    return val


def load_model(path: str | Path) -> dict[str, Any]:
    """Read and validate a model file written by ``ebana devices fit`` (one-line DeviceError)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DeviceError(f"fitted model {path}: cannot read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise DeviceError(f"fitted model {path}: not TOML ({err})") from None
    where = f"fitted model {path}"
    if data.get("format") != FORMAT:
        raise DeviceError(f"{where}: key 'format' must be {FORMAT!r} (a file of ebana devices fit)")
    g_min, g_max = _need(data, "g_min", float, where), _need(data, "g_max", float, where)
    if not 0 < g_min < g_max:
        raise DeviceError(f"{where}: need 0 < g_min < g_max (S), got {g_min!r}, {g_max!r}")
    _need(data, "default_width", float, where)
    iv = _need(data, "iv", dict, where)
    kind = _need(iv, "kind", str, f"{where} [iv]")
    if kind not in ("ohmic", "schottky", "measured"):
        raise DeviceError(f"{where} [iv]: kind {kind!r} must be ohmic, schottky or measured")
    if kind == "schottky":
        _need(iv, "c", float, f"{where} [iv]"), _need(iv, "beta", float, f"{where} [iv]")
    if kind == "measured":
        if len(_need(iv, "v", "numbers", f"{where} [iv]")) != len(_need(iv, "k", "numbers", f"{where} [iv]")):
            raise DeviceError(f"{where} [iv]: v and k must have the same length")
    conds = _need(data, "condition", list, where)
    for i, c in enumerate(conds):
        w = f"{where} condition {i + 1}"
        if not isinstance(c, dict):
            raise DeviceError(f"{w}: must be a table")
        if _need(c, "polarity", int, w) not in (1, -1):
            raise DeviceError(f"{w}: polarity must be 1 or -1")
        for key in ("width", "amplitude", "x_lo", "x_hi"):
            _need(c, key, float, w)
        if not (c["width"] > 0 and c["amplitude"] > 0):
            raise DeviceError(f"{w}: width and amplitude must be > 0")
        _need(c, "poly", "numbers", w)
        if len(_need(c, "table_x", "numbers", w)) != len(_need(c, "table_q", "numbers", w)):
            raise DeviceError(f"{w}: table_x and table_q must have the same length")
    return data


class _Side:
    """Responses of one polarity: per width, the amplitude knots and the fitted curves."""

    def __init__(self, conds: list[dict], sign: int) -> None:
        self.sign = sign
        self.widths = sorted({c["width"] for c in conds})
        self.knots, self.curves, self.nominal, self.v_th = [], [], [], []
        grid = np.linspace(0.0, 1.0, 201)
        for w in self.widths:
            cs = sorted((c for c in conds if c["width"] == w), key=lambda c: c["amplitude"])
            amps = [c["amplitude"] for c in cs]
            v_th = 0.0
            if len(cs) >= 2:
                s1, s2 = (float(np.mean(np.abs(self.eval_curve(c, grid, "poly")))) for c in cs[:2])
                if s2 > s1 > 0:
                    v_th = float(np.clip(amps[0] - s1 * (amps[1] - amps[0]) / (s2 - s1), 0.0, 0.999 * amps[0]))
            self.knots.append(np.array([v_th] + amps))
            self.curves.append(cs)
            self.nominal.append(max(cs, key=lambda c: (c.get("n_pulses", 0), -c["amplitude"]))["amplitude"])
            self.v_th.append(v_th)

    def eval_curve(self, c: dict, x: np.ndarray, response: str) -> np.ndarray:
        xc = np.clip(x, c["x_lo"], c["x_hi"])
        if response == "poly":
            q = np.polyval(c["poly"], 2 * xc - 1)
        else:
            q = np.interp(xc, c["table_x"], c["table_q"])
        return np.maximum(q, 0.0) if self.sign > 0 else np.minimum(q, 0.0)

    def bracket(self, t: float) -> tuple[int, int, float]:
        """Indices of the widths around t (s) and the weight of the upper one (ln-width)."""
        w = self.widths
        k = max(int(np.searchsorted(w, t, side="right") - 1), 0)  # t within rounding below w[0]: w[0]
        if k >= len(w) - 1 or w[k] == t:
            return k, k, 0.0
        return k, k + 1, math.log(t / w[k]) / math.log(w[k + 1] / w[k])

    def at_width(self, k: int, x: np.ndarray, a: np.ndarray, response: str) -> np.ndarray:
        knots = self.knots[k]
        q = np.stack([np.zeros(x.shape)] + [self.eval_curve(c, x, response) for c in self.curves[k]])
        idx = np.clip(np.searchsorted(knots, a, side="right") - 1, 0, knots.size - 2)
        f = (a - knots[idx]) / (knots[idx + 1] - knots[idx])
        lo = np.take_along_axis(q, idx[None], 0)[0]
        hi = np.take_along_axis(q, idx[None] + 1, 0)[0]
        out = np.where(a > knots[0], lo + f * (hi - lo), 0.0)
        return np.maximum(out, 0.0) if self.sign > 0 else np.minimum(out, 0.0)

    def q(self, t: float, x: np.ndarray, a: np.ndarray, response: str) -> np.ndarray:
        k0, k1, lam = self.bracket(t)
        q0 = self.at_width(k0, x, a, response)
        return q0 if lam == 0 else (1 - lam) * q0 + lam * self.at_width(k1, x, a, response)

    def interp(self, t: float, values: list[float]) -> float:
        k0, k1, lam = self.bracket(t)
        return (1 - lam) * values[k0] + lam * values[k1]


class FittedDevice(DeviceModel):
    """Pulse-response model fitted to measurements (module docstring); one subclass per model file."""

    Params = FittedParams
    factorable_iv = True
    data: dict[str, Any] = {}
    _set: _Side
    _reset: _Side

    def __init__(self, params: DeviceParams | None = None, /, **kw: Any) -> None:
        super().__init__(params, **kw)
        t = self.t_op
        for side, name in ((self._set, "set"), (self._reset, "reset")):
            if not side.widths[0] * (1 - 1e-9) <= t <= side.widths[-1] * (1 + 1e-9):
                raise DeviceError(f"{self.name}: t_pulse={t:g} s lies outside the measured {name} widths "
                                  f"[{side.widths[0]:g}, {side.widths[-1]:g}] s")

    @property
    def t_op(self) -> float:
        """Operating pulse width (s)."""
        t = self.params.t_pulse
        return float(self.data["default_width"] if t is None else t)

    @property
    def demo(self) -> Demo:  # type: ignore[override]
        t = self.t_op
        v_set = self._set.interp(t, self._set.nominal)
        return Demo(amplitude=v_set, frequency=1.0 / (40 * t), v_set=v_set,
                    v_reset=-self._reset.interp(t, self._reset.nominal), t_pulse=t, x0=0.1, n_pulses=40)

    @property
    def kind(self) -> str:  # type: ignore[override]
        """``thresholded`` when both polarities have a threshold > 0 at the operating width."""
        return "thresholded" if self.v_th_set > 0 and self.v_th_reset < 0 else "continuous"

    @property
    def v_th_set(self) -> float | None:
        return self._set.interp(self.t_op, self._set.v_th)

    @property
    def v_th_reset(self) -> float | None:
        return -self._reset.interp(self.t_op, self._reset.v_th)

    def _g(self, x: np.ndarray) -> np.ndarray:
        d = self.data
        return d["g_min"] + (d["g_max"] - d["g_min"]) * x

    def _current(self, vn, x):
        return vn * self._g(x)

    def _rate(self, vn, x):
        vn, x = np.broadcast_arrays(np.asarray(vn, float), np.asarray(x, float))
        a, t, resp = np.abs(vn), self.t_op, self.params.response
        up = self._set.q(t, x, a, resp)
        dn = self._reset.q(t, x, a, resp)
        return np.where(vn > 0, up, np.where(vn < 0, dn, 0.0)) / t

    def _k(self, a: np.ndarray) -> np.ndarray:
        """Write current per siemens k(|V|) (V) of the model file's I-V model."""
        iv = self.data["iv"]
        if iv["kind"] == "schottky":
            return schottky_k(a, iv["c"], iv["beta"])
        if iv["kind"] == "ohmic":
            return a
        v, k = np.asarray(iv["v"]), np.asarray(iv["k"])
        inside = np.exp(np.interp(np.sqrt(a), np.sqrt(v), np.log(k)))
        end_v = np.where(a < v[0], v[0], v[-1])
        end_k = np.where(a < v[0], k[0], k[-1])
        if "beta" in iv:
            ratio = schottky_k(a, 1.0, iv["beta"]) / schottky_k(end_v, 1.0, iv["beta"])
        else:
            ratio = a / end_v
        return np.where((a >= v[0]) & (a <= v[-1]), inside, end_k * ratio)

    closed_energy_rescaled = True  # _closed_energy integrates the read-mapped G'(x) itself

    def _closed_form(self, x, vn, t):
        """State after the pulse by vectorised RK4 in pulse number (module docstring, Fast path)."""
        x1, ix = self._march(x, vn, t)
        self._memo = (x, vn, t, x1, ix)
        return x1

    def _closed_energy(self, x, vn, t, x1):
        """``|V|·k(|V|)·t_pulse·(G'(0)·n + (G'(1) - G'(0))·∫x dn)`` (J) from the same march."""
        m = getattr(self, "_memo", None)
        if m is None or m[0] is not x or m[1] is not vn or m[2] is not t:
            _, ix = self._march(x, vn, t)
        else:
            ix = m[4]
        a = np.abs(vn)
        g0, g1 = self.conductance(np.float64(0.0)), self.conductance(np.float64(1.0))
        n = t / self.t_op
        e = a * self._k(a) * self.t_op * (g0 * n + (g1 - g0) * ix)
        return np.where((vn != 0) & (t > 0), e, 0.0)

    def _march(self, x: np.ndarray, vn: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x after n = t/t_pulse pulses, ∫x dn) per device by RK4 with common step count."""
        lo, hi = self.bounds
        top = self.t_op
        resp = self.params.response
        x1 = np.array(x, dtype=float, copy=True)
        ix = x * (t / top)  # devices that do not move: ∫x dn = x·n
        for side, mask in ((self._set, (vn > 0) & (t > 0)), (self._reset, (vn < 0) & (t > 0))):
            idx = np.flatnonzero(mask)
            if not idx.size:
                continue
            xs, a = x.flat[idx], np.abs(vn.flat[idx])
            n = t.flat[idx] / top
            k0, k1, lam = side.bracket(top)

            def f(s, side=side, a=a, k0=k0, k1=k1, lam=lam):
                q = side.at_width(k0, s, a, resp)
                if lam:
                    q = (1 - lam) * q + lam * side.at_width(k1, s, a, resp)
                return q  # not gated: a stage past a bound keeps the drive, the step is clipped

            integ = np.zeros(xs.shape)
            d1 = f(xs)
            steps = int(np.clip(np.ceil(np.max(np.abs(d1) * n) / DX_STEP), 1, MAX_STEPS))
            h = n / steps
            for j in range(steps):
                if j:
                    d1 = f(xs)
                s2 = xs + 0.5 * h * d1
                d2 = f(s2)
                s3 = xs + 0.5 * h * d2
                d3 = f(s3)
                s4 = xs + h * d3
                d4 = f(s4)
                integ += h / 6 * (xs + 2 * np.clip(s2, lo, hi) + 2 * np.clip(s3, lo, hi) + np.clip(s4, lo, hi))
                xs = np.clip(xs + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4), lo, hi)
            x1.flat[idx] = xs
            ix.flat[idx] = integ
        return x1, ix

    def with_variability(self, shape, rng, d2d):
        """Refused: a fitted model has no device-to-device parameters (one measured device)."""
        raise DeviceError(f"{self.name}: device-to-device variability (d2d={d2d!r}) is not available for a "
                          "fitted model (one measured device, no d2d parameters)")

    def _power(self, vn, x):
        a = np.abs(vn)
        return a * self._k(a) * self._g(x) * self._scale(x)

    def spice_current(self) -> str:
        return "v(vn)*({g_min}+({g_max}-{g_min})*v(x))"

    def spice_rate(self) -> str:
        return "0"

    def spice_params(self) -> dict[str, float]:
        return {"g_min": float(self.data["g_min"]), "g_max": float(self.data["g_max"])}


@functools.lru_cache(maxsize=32)
def _cached(path: str, mtime_ns: int, name: str) -> type[FittedDevice]:
    data = load_model(path)
    conds = data["condition"]
    sides = [[c for c in conds if c["polarity"] == s] for s in (1, -1)]
    if not sides[0] or not sides[1]:
        raise DeviceError(f"fitted model {path}: needs set and reset conditions")
    widths = sorted({c["width"] for c in sides[0]} & {c["width"] for c in sides[1]})
    presets = {preset_name(w): {"t_pulse": w} for w in widths}
    cite = (f"fitted to {data.get('source', '?')} (ebana devices fit); SPICE: read conductance only, "
            "the per-pulse response is applied in numpy")
    attrs = {"data": data, "presets": presets, "citation": cite.replace("\n", " "), "name": name,
             "_set": _Side(sides[0], 1), "_reset": _Side(sides[1], -1)}
    return type("FittedDevice_" + Path(path).stem.replace("-", "_"), (FittedDevice,), attrs)


def fitted_class(name: str) -> type[FittedDevice]:
    """The model class of ``fitted:PATH`` (cached per file and modification time)."""
    path = Path(name[len(PREFIX):] if name.startswith(PREFIX) else name)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as err:
        raise DeviceError(f"fitted model {path}: cannot read ({err.strerror})") from None
    return _cached(str(path.resolve()), mtime, name)



def model_sha256(name: str) -> str | None:
    """sha256 (hex) of the model file of ``fitted:PATH``; None for any other model name."""
    if not name.startswith(PREFIX):
        return None
    path = Path(name[len(PREFIX):])
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise DeviceError(f"fitted model {path}: cannot read ({err.strerror})") from None
