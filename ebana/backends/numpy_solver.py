"""Exact vectorised DC solver for the crossbar circuit (the fast path).

Solves the same :class:`~ebana.circuit.Circuit` as the ngspice backend, for a whole batch:

1. *Norton reduction* of every crossbar driven by the ideal input sources: node j of layer
   q sees the current ``A_j = sum_i G_ij u_i`` and the conductance ``S_j = sum_i G_ij``
   (one GEMM per batch, shared by the free and nudged phases).
2. *Block coordinate descent* (BCD): given the other layers, the KCL equations of one layer
   decouple into scalar monotone equations ``K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0``,
   solved in closed form for the piecewise-linear diode and by safeguarded Newton for the
   Shockley diode. Each layer update exactly minimises the circuit's convex energy over
   that layer, so the sweeps converge linearly to the unique operating point.
3. *Stopping rule that bounds the error*: with contraction rate rho estimated from
   successive steps, the distance to the fixed point after a step s is at most
   ``s * rho / (1 - rho)``; we stop when that bound is below ``tol`` (V), and raise
   :class:`~ebana.errors.ConvergenceError` after ``max_sweeps``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ebana.backends.base import Solution
from ebana.circuit import GMIN, Circuit
from ebana.errors import ConfigError, ConvergenceError

__all__ = ["NumpyBackend", "shockley_current"]

logger = logging.getLogger(__name__)

_E = np.e


def shockley_current(x: np.ndarray, i_s: float, n_vt: float) -> tuple[np.ndarray, np.ndarray]:
    """ngspice ``D`` model DC current (A) and conductance (S) at junction voltage x (V), incl. GMIN."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fwd = x >= -3.0 * n_vt
        ev = np.exp(np.minimum(x, 600.0 * n_vt) / n_vt)
        arg = (3.0 * n_vt / (x * _E)) ** 3
        i = np.where(fwd, i_s * (ev - 1.0), -i_s * (1.0 + arg))
        g = np.where(fwd, i_s * ev / n_vt, i_s * 3.0 * arg / x)
    return i + GMIN * x, g + GMIN


class NumpyBackend:
    """Batch DC solver (float64 for parity, float32 for speed)."""

    def __init__(self, circuit: Circuit, *, dtype: str = "float64", tol: float | None = None,
                 max_sweeps: int = 5000) -> None:
        if dtype not in ("float64", "float32"):
            raise ConfigError(f"numpy backend dtype must be float64 or float32, got {dtype!r}")
        self.circuit = circuit
        self.dtype = np.dtype(dtype)
        self.tol = (1e-13 if self.dtype == np.float64 else 2e-7) if tol is None else float(tol)
        self.max_sweeps = int(max_sweeps)
        self.set_conductances(circuit.conductances)

    # ------------------------------------------------------------------ setup
    def set_conductances(self, conductances: Sequence[np.ndarray]) -> None:
        c = self.circuit
        if conductances is not c.conductances:
            c.set_conductances(conductances)
        self._norton_cache = None
        t, p, dt = c.topology, c.params, self.dtype
        self._g_sig = [g[: s.n_rows].astype(dt) for s, g in zip(t.crossbars, c.conductances)]
        self._g_sig_t = [np.ascontiguousarray(g.T) for g in self._g_sig]
        self._bias_i = [c.bias_voltages(s) @ g[s.n_rows:] for s, g in zip(t.crossbars, c.conductances)]
        a, gain, cm = p.alpha, p.gain, p.cm
        self._k, self._const = {}, {}
        for q in range(1, t.n_layers):
            s_in = sum(g.sum(axis=0) for s, g in zip(t.crossbars, c.conductances) if s.dst == q)
            s_out = sum((g[: s.n_rows].sum(axis=1) for s, g in zip(t.crossbars, c.conductances)
                         if s.src == q), np.zeros(t.layer_size(q)))
            const = sum(self._bias_i[s.index] for s in t.incoming(q))
            const = const - a * (1.0 - gain) * cm * s_out
            self._k[q] = np.asarray(s_in + a * gain * s_out, dtype=np.float64)
            self._const[q] = np.asarray(const, dtype=np.float64)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ solve
    def norton(self, u: np.ndarray) -> dict[int, np.ndarray]:
        """Currents (A) injected into each layer by the input-driven crossbars, (B, n_q)."""
        t = self.circuit.topology
        out: dict[int, np.ndarray] = {}
        for s in t.crossbars:
            if s.src == 0:
                a = u @ self._g_sig[s.index]
                out[s.dst] = a if s.dst not in out else out[s.dst] + a
        return out

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None,
              norton: dict[int, np.ndarray] | None = None) -> Solution:
        """DC operating point of a batch; ``x`` (B, n_inputs), ``i_nudge`` (B, 2K) in A."""
        c = self.circuit
        t, p = c.topology, c.params
        u = c.input_voltages(x).astype(self.dtype)
        b = u.shape[0]
        if norton is None:  # the free and nudged phases of one batch share the Norton currents
            cached = self._norton_cache
            if cached is not None and cached[0] is x:
                norton = cached[1]
            else:
                norton = self.norton(u)
                self._norton_cache = (x, norton)
        a_in = norton
        if start is not None:
            v = [u] + [np.array(layer, dtype=self.dtype) for layer in start.layers[1:]]
        else:
            v = [u] + [np.full((b, t.layer_size(q)), p.cm, dtype=self.dtype) for q in range(1, t.n_layers)]
        inj = None if i_nudge is None else np.asarray(i_nudge, dtype=self.dtype)
        last, rho, sweeps = np.inf, 0.0, 0
        gain, cm, alpha = p.gain, p.cm, p.alpha
        while True:
            sweeps += 1
            step = 0.0
            for q in range(1, t.n_layers):
                r = self._const[q].astype(self.dtype) + (a_in[q] if q in a_in else 0.0)
                for s in t.incoming(q):
                    if s.src > 0:
                        r = r + (cm + gain * (v[s.src] - cm)) @ self._g_sig[s.index]
                for s in t.outgoing(q):
                    r = r + alpha * (v[s.dst] @ self._g_sig_t[s.index])
                if q == t.output_layer and inj is not None:
                    r = r + inj
                new = self._node_solve(q, r)
                d = float(np.max(np.abs(new - v[q]))) if new.size else 0.0
                step = max(step, d)
                v[q] = new
            ratio = step / last if last > 0 else 0.0
            rho = ratio if sweeps <= 2 else max(ratio, 0.5 * (rho + ratio))
            last = step
            scale = max(1.0, max(float(np.max(np.abs(layer))) for layer in v[1:]))
            floor = 4.0 * np.finfo(self.dtype).eps * scale
            if step <= floor or (sweeps >= 2 and rho < 1.0 and step * rho / (1.0 - rho) <= self.tol):
                break
            if sweeps >= self.max_sweeps:
                err = step * rho / (1.0 - rho) if rho < 1.0 else float("inf")
                ids = "" if sample_ids is None else f" (samples {list(sample_ids)[:5]}...)"
                raise ConvergenceError(
                    f"numpy backend: {phase} phase did not converge in {sweeps} sweeps{ids}: last step "
                    f"{step:.2e} V, error bound {err:.2e} V > tol {self.tol:.1e} V")
        return Solution(v, sweeps, {"rho": rho, "error_bound": step * rho / max(1e-300, 1.0 - rho)})

    def _node_solve(self, q: int, r: np.ndarray) -> np.ndarray:
        """Solve every node of layer q for its voltage given the injected current r (A)."""
        c = self.circuit
        p, d = c.params, c.params.diode
        k = self._k[q]
        if q == c.topology.output_layer and not p.output_diodes:
            return r / k.astype(r.dtype)
        if d.model == "ideal":
            g_off, dg = d.g_off, d.g_on - d.g_off
            kt = (k + 2.0 * g_off).astype(r.dtype)
            rt = r + r.dtype.type(g_off * (p.v_bias_high + p.v_bias_low))
            v0 = rt / kt
            hi, lo = p.v_clamp_high, p.v_clamp_low
            v = np.where(v0 > hi, (rt + dg * hi) / (kt + dg), v0)
            return np.where(v0 < lo, (rt + dg * lo) / (kt + dg), v)
        return self._shockley_solve(k, r.astype(np.float64), p).astype(r.dtype)

    @staticmethod
    def _shockley_solve(k: np.ndarray, r: np.ndarray, p) -> np.ndarray:
        """Safeguarded Newton for K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0 (vectorised)."""
        d = p.diode
        vbh, vbl, nvt = p.v_bias_high, p.v_bias_low, d.n_vt

        def f(v):
            i1, g1 = shockley_current(v - vbh, d.i_s, nvt)
            i2, g2 = shockley_current(vbl - v, d.i_s, nvt)
            return k * v - r + i1 - i2, k + g1 + g2

        v = r / k
        fv, _ = f(v)
        lo, hi = v.copy(), v.copy()
        width = np.full_like(v, 0.05)
        for _ in range(60):  # expand a bracket [lo, hi] with F(lo) <= 0 <= F(hi)
            flo, _ = f(lo)
            fhi, _ = f(hi)
            bad_lo, bad_hi = flo > 0, fhi < 0
            if not (bad_lo.any() or bad_hi.any()):
                break
            lo = np.where(bad_lo, lo - width, lo)
            hi = np.where(bad_hi, hi + width, hi)
            width *= 2.0
        for _ in range(200):
            fv, gv = f(v)
            lo = np.where(fv <= 0, v, lo)
            hi = np.where(fv >= 0, v, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                nv = v - fv / gv
            inside = (nv > lo) & (nv < hi) & np.isfinite(nv)
            nv = np.where(inside, nv, 0.5 * (lo + hi))
            done = np.abs(nv - v) <= 1e-16 * np.maximum(1.0, np.abs(v))
            v = nv
            if done.all() or np.all(hi - lo <= 4e-16 * np.maximum(1.0, np.abs(v))):
                break
        return v
