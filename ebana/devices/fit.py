"""Fit a pulse-response device model to measured data (``ebana devices fit``; seed 004).

Public API: :data:`POLY_DEGREE`, :data:`MIN_PULSES`, :func:`fit_measurements`, :func:`fit_schottky`,
:func:`schottky_k`, :func:`isotonic_decreasing`, :func:`dump_model_toml`.

**Response.** The measured steps (:mod:`ebana.devices.measurements`) are grouped into conditions
(polarity, width, amplitude). The state is ``x = (G - g_min)/(g_max - g_min)`` over the measured
range and one pulse's step is ``q = ΔG/(g_max - g_min)`` (–). Per condition two models of q as a
function of the state at mid-pulse, ``x_mid = (x_before + x_after)/2``, are fitted:

* the seed's 5th-degree polynomial in ``u = 2·x_mid - 1`` (least squares, ``np.polyfit``; degree
  ``min(5, n - 3)``), evaluated only inside the measured state range of the condition;
* a monotone piecewise-linear table: bin means at up to :data:`TABLE_KNOTS` quantile bins, made
  non-increasing in x by isotonic regression (SET steps shrink toward g_max, RESET steps grow in
  magnitude with G), the sign clipped (SET ≥ 0, RESET ≤ 0).

Fitting against the mid-pulse state makes ``dx/dn = q(x)`` (n = pulses) reproduce the measured
per-pulse map to second order in the step, so :class:`~ebana.devices.fitted.FittedDevice` can
integrate it as an ODE (split-pulse invariant) without a first-order bias.

**Noise.** Cycle-to-cycle noise is the relative residual ``c2c = rms((q - q_fit)/q_fit)`` of the
polynomial over pulses whose fitted step exceeds 10 % of the condition's largest (the model's
``Δx·(1 + c2c·ξ)``, :mod:`ebana.devices.base`); pooled over conditions for the model.

**Symmetric point.** Per width, with the SET and RESET conditions of the most-measured amplitudes,
the state where ``q_set(x) + q_reset(x) = 0`` (devices.md §8); None if the responses never cross.

**Write current.** The energy of a pulse is ``E = V·I(V)·t`` with the write current scaled by the
state's conductance, ``I(V, G) = G·k(V)`` (k in V, ``k = V`` is ohmic). ``k`` comes from the measured
``i_pulse`` column (per-condition ``V·i_pulse·t`` averaged, and k tabulated over amplitudes) when every
condition has it, else from a Schottky-emission fit ``k(V) = c·(exp(β·√V) - 1)`` (the seed's
``ln I ∝ √V`` law; c in V, β in V^-1/2) to the I-V points (an ``--iv`` file, or the measured
``i_pulse`` points), else ohmic (no I-V data: a statement in the model file).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from ebana.devices.measurements import IVPoints, Steps
from ebana.errors import MeasurementError

__all__ = ["POLY_DEGREE", "MIN_PULSES", "TABLE_KNOTS", "FORMAT", "fit_measurements", "fit_schottky",
           "schottky_k", "isotonic_decreasing", "dump_model_toml", "symmetric_state"]

FORMAT = "ebana-fitted-device"
"""Value of ``format`` in a model file."""
POLY_DEGREE = 5
"""Degree of the response polynomial (seed 004)."""
MIN_PULSES = 8
"""Fewest pulses per (polarity, width, amplitude) condition."""
TABLE_KNOTS = 8
"""Most knots of the piecewise-linear table (one per quantile bin, >= 3 pulses per bin)."""
C2C_MIN_STEP = 0.1
"""Pulses whose fitted step is below this fraction of the condition's largest are left out of c2c."""


def isotonic_decreasing(y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares non-increasing fit of y (pool-adjacent-violators)."""
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    vals, wts, sizes = [], [], []
    for yi, wi in zip(y, w):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] < vals[-1]:
            v2, w2, s2 = vals.pop(), wts.pop(), sizes.pop()
            wt = wts[-1] + w2
            vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / wt
            wts[-1], sizes[-1] = wt, sizes[-1] + s2
    return np.repeat(vals, sizes)


def schottky_k(v: np.ndarray, c: float, beta: float) -> np.ndarray:
    """Schottky-emission write current per siemens, ``k = c·(exp(β·√|V|) - 1)`` (V)."""
    return c * np.expm1(beta * np.sqrt(np.abs(v)))


def fit_schottky(v: np.ndarray, k: np.ndarray) -> tuple[float, float, float]:
    """Fit ``k = c·(e^{β√V} - 1)`` in log space; returns (c (V), β (V^-1/2), rms log residual)."""
    from scipy.optimize import minimize_scalar

    v, lk = np.abs(np.asarray(v, float)), np.log(np.asarray(k, float))

    def cost(beta: float) -> float:
        r = lk - np.log(np.expm1(beta * np.sqrt(v)))
        return float(np.sum((r - r.mean()) ** 2))

    beta = float(minimize_scalar(cost, bounds=(1e-4, 60.0), method="bounded",
                                 options={"xatol": 1e-10}).x)
    r = lk - np.log(np.expm1(beta * np.sqrt(v)))
    return float(np.exp(r.mean())), beta, float(np.sqrt(np.mean((r - r.mean()) ** 2)))


def _table(x: np.ndarray, q: np.ndarray, sign: int) -> tuple[list[float], list[float]]:
    order = np.argsort(x)
    x, q = x[order], q[order]
    n_bins = int(max(2, min(TABLE_KNOTS, x.size // 3)))
    parts = np.array_split(np.arange(x.size), n_bins)
    xs = np.array([x[p].mean() for p in parts])
    qs = isotonic_decreasing(np.array([q[p].mean() for p in parts]), np.array([p.size for p in parts]))
    qs = np.maximum(qs, 0.0) if sign > 0 else np.minimum(qs, 0.0)
    return xs.tolist(), qs.tolist()


def _poly_eval(coef, x, x_lo, x_hi, sign) -> np.ndarray:
    u = 2 * np.clip(x, x_lo, x_hi) - 1
    q = np.polyval(coef, u)
    return np.maximum(q, 0.0) if sign > 0 else np.minimum(q, 0.0)


def symmetric_state(q_set, q_reset, n: int = 4001) -> float | None:
    """x in [0, 1] where ``q_set(x) + q_reset(x)`` changes sign (linear refinement), else None."""
    xs = np.linspace(0.0, 1.0, n)
    s = q_set(xs) + q_reset(xs)
    idx = np.flatnonzero((s[:-1] > 0) & (s[1:] <= 0))
    if idx.size == 0:
        return None
    i = idx[0]
    return float(xs[i] + (xs[i + 1] - xs[i]) * s[i] / (s[i] - s[i + 1]))


def fit_measurements(steps: Steps, iv: IVPoints | None = None) -> dict[str, Any]:
    """The fitted model (a TOML-ready dict, see :mod:`ebana.devices.fitted`) of measured steps."""
    g_min, g_max = float(steps.g_all.min()), float(steps.g_all.max())
    if not g_max > g_min:
        raise MeasurementError(f"{steps.source}, column g: every conductance equals {g_min:g} S; no response")
    span = g_max - g_min
    x_mid = (0.5 * (steps.g0 + steps.g1) - g_min) / span
    q_all = steps.dg / span
    conds, rel_res = [], []
    keys = sorted(set(zip(steps.polarity.tolist(), steps.width.tolist(), steps.amplitude.tolist())),
                  key=lambda k: (-k[0], k[1], k[2]))
    has_i = bool(np.all(np.isfinite(steps.i_pulse)))
    for pol, width, amp in keys:
        sel = (steps.polarity == pol) & (steps.width == width) & (steps.amplitude == amp)
        n = int(sel.sum())
        name = f"{'set' if pol > 0 else 'reset'} {width:g} s {amp:g} V"
        if n < MIN_PULSES:
            rows = steps.row[sel]
            raise MeasurementError(f"{steps.source} rows {rows.min()}-{rows.max()}, column polarity: condition "
                                   f"{name} has {n} pulses, a fit needs >= {MIN_PULSES}")
        x, q = x_mid[sel], q_all[sel]
        deg = int(min(POLY_DEGREE, n - 3))
        coef = np.polyfit(2 * x - 1, q, deg)
        lo, hi = float(x.min()), float(x.max())
        fit = _poly_eval(coef, x, lo, hi, pol)
        big = np.abs(fit) >= C2C_MIN_STEP * np.max(np.abs(fit))
        rel = ((q - fit) / np.where(big, fit, 1.0))[big]
        rel_res.append(rel)
        tx, tq = _table(x, q, pol)
        if has_i:
            e_pulse, e_src = float(np.mean(amp * steps.i_pulse[sel] * width)), "measured i_pulse"
        else:
            e_pulse, e_src = math.nan, ""
        conds.append({"polarity": int(pol), "width": float(width), "amplitude": float(amp), "n_pulses": n,
                      "rows": f"{int(steps.row[sel].min())}-{int(steps.row[sel].max())}",
                      "x_lo": lo, "x_hi": hi, "poly": [float(c) for c in coef],
                      "rms": float(np.sqrt(np.mean((q - fit) ** 2))),
                      "c2c": float(np.sqrt(np.mean(rel ** 2))) if rel.size else 0.0,
                      "table_x": tx, "table_q": tq, "e_pulse": e_pulse, "e_source": e_src,
                      "g_mean": float(np.mean(steps.g0[sel]))})
    pooled = np.concatenate(rel_res)
    model: dict[str, Any] = {"format": FORMAT, "version": 1, "source": steps.source, "g_min": g_min,
                             "g_max": g_max, "c2c": float(np.sqrt(np.mean(pooled ** 2))), "response": "poly",
                             "iv": _fit_iv(steps, iv, has_i)}
    for c in conds:  # energy per pulse from the I-V model where not measured
        if not math.isfinite(c["e_pulse"]):
            k = _k_of(model["iv"], c["amplitude"])
            c["e_pulse"], c["e_source"] = c["amplitude"] * k * c["g_mean"] * c["width"], model["iv"]["kind"]
    model["symmetric"] = _symmetric(conds, g_min, span)
    widths = sorted({c["width"] for c in conds if c["polarity"] > 0} & {c["width"] for c in conds if c["polarity"] < 0})
    if not widths:
        raise MeasurementError(f"{steps.source}, column width: no width has both set and reset pulses")
    model["default_width"] = widths[len(widths) // 2]
    model["condition"] = conds
    return model


def _k_of(iv: dict[str, Any], v: float) -> float:
    if iv["kind"] == "schottky":
        return float(schottky_k(np.float64(v), iv["c"], iv["beta"]))
    return float(v)


def _fit_iv(steps: Steps, iv: IVPoints | None, has_i: bool) -> dict[str, Any]:
    """I-V model: ``measured`` (k tabulated from i_pulse, every condition has it), else ``schottky``
    (fitted to the I-V file, else to the i_pulse points), else ``ohmic``. The Schottky fit is kept
    with a measured table too (it extrapolates the table beyond the measured amplitudes)."""
    ok = np.isfinite(steps.i_pulse)
    if iv is not None:
        v, k, src = iv.v, iv.i / iv.g, "I-V file"
    elif ok.any():
        v, k, src = steps.amplitude[ok], steps.i_pulse[ok] / steps.g0[ok], "i_pulse column"
    else:
        return {"kind": "ohmic", "note": "no I-V data: write current G*V (ohmic)"}
    out: dict[str, Any] = {"kind": "measured" if has_i else "schottky", "fit_points": src}
    if len(np.unique(v)) >= 2:
        c, beta, rms = fit_schottky(v, k)
        out.update(c=c, beta=beta, rms_log=rms)
    elif not has_i:
        return {"kind": "ohmic", "note": f"I-V points at one voltage only ({src}): write current G*V (ohmic)"}
    if has_i:
        va, ka = steps.amplitude[ok], steps.i_pulse[ok] / steps.g0[ok]
        vs = np.unique(va)
        out["v"] = vs.tolist()
        out["k"] = [float(np.exp(np.mean(np.log(ka[va == a])))) for a in vs]
    return out


def _symmetric(conds: list[dict], g_min: float, span: float) -> list[dict[str, Any]]:
    out = []
    for w in sorted({c["width"] for c in conds}):
        pick = {}
        for pol in (1, -1):
            cs = [c for c in conds if c["width"] == w and c["polarity"] == pol]
            if cs:
                pick[pol] = max(cs, key=lambda c: (c["n_pulses"], -c["amplitude"]))
        if len(pick) < 2:
            continue
        s, r = pick[1], pick[-1]
        x = symmetric_state(lambda z: _poly_eval(s["poly"], z, s["x_lo"], s["x_hi"], 1),
                            lambda z: _poly_eval(r["poly"], z, r["x_lo"], r["x_hi"], -1))
        row = {"width": w, "v_set": s["amplitude"], "v_reset": -r["amplitude"]}
        if x is not None:
            row.update(x=x, g=g_min + span * x)
        out.append(row)
    return out


# ---------------------------------------------------------------- TOML (escaped, validated)
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)
    if isinstance(v, str):  # JSON escapes are valid TOML basic-string escapes; DEL is not allowed raw
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(a) for a in v) + "]"
    raise MeasurementError(f"model file: cannot write a {type(v).__name__} value to TOML")


def dump_model_toml(model: dict[str, Any]) -> str:
    """TOML text of a fitted model (keys validated, strings escaped); round-trips with tomllib."""
    import tomllib

    lines = ["# ebana fitted device model (ebana devices fit); SI units: S, s, V, J.", ""]
    tables = {k: v for k, v in model.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in model.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    for k, v in model.items():
        if k in tables or k in arrays:
            continue
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, t in tables.items():
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in t.items()]
    for k, rows in arrays.items():
        for row in rows:
            lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_value(b)}" for a, b in row.items()]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # validation: what is written can be read
    return text


def _key(k: str) -> str:
    if not _KEY.match(k):
        raise MeasurementError(f"model file: key {k!r} is not a bare TOML key")
    return k
