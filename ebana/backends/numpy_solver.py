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

from ebana.allocator import tune_malloc
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
    """Batch DC solver.

    ``dtype="float64"``: everything in float64 (parity with ngspice to ~1e-13 V).
    ``dtype="float32"``: the crossbar products against the input wordlines (the O(N_in) work:
    Norton currents, and the gradient's big GEMM) run in float32; node voltages stay float64,
    so the tiny nudged-minus-free differences are not lost to rounding (agreement ~1e-6 V).

    ``i_nudge`` (and ``start``) may stack m phases of the same inputs: shape (m*B, 2K) for
    ``x`` of shape (B, n_inputs); the Norton currents are then computed once and tiled.
    """

    def __init__(self, circuit: Circuit, *, dtype: str = "float64", tol: float | None = None,
                 max_sweeps: int = 5000) -> None:
        if dtype not in ("float64", "float32"):
            raise ConfigError(f"numpy backend dtype must be float64 or float32, got {dtype!r}")
        self.circuit = circuit
        self.dtype = np.dtype(dtype)
        self.tol = (1e-13 if self.dtype == np.float64 else 1e-9) if tol is None else float(tol)
        if not self.tol > 0:
            raise ConfigError(f"solver tolerance must be > 0 V, got {self.tol}")
        self.max_sweeps = int(max_sweeps)
        tune_malloc()  # temporaries are reused instead of page-faulted in on every step
        self.set_conductances(circuit.conductances)

    # ------------------------------------------------------------------ setup
    def set_conductances(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None:
        """Recompute the per-layer constants (K, folded amplifier terms) after a weight change."""
        c = self.circuit
        if conductances is not c.conductances:
            c.set_conductances(conductances, validate)
        self._norton_cache = None
        t, p, d = c.topology, c.params, c.params.diode
        a, gain, cm = p.alpha, p.gain, p.cm
        self._in_g = {}      # input crossbars: signal rows in the GEMM dtype
        self._fwd = {}       # hidden -> q crossbars: gain * G / K_q (rows of the source neurons)
        self._bwd = {}       # hidden -> q crossbars: alpha * G^T / K_src (reflected current)
        self._inv_k, self._const, self._frac = {}, {}, {}
        for q in range(1, t.n_layers):
            self._const[q] = np.zeros(t.layer_size(q))
        k = {q: np.zeros(t.layer_size(q)) for q in range(1, t.n_layers)}
        for s, g in zip(t.crossbars, c.conductances):
            sig, bias_rows = g[: s.n_rows], g[s.n_rows:]
            col_sig = sig.sum(axis=0)
            k[s.dst] += col_sig + bias_rows.sum(axis=0)
            self._const[s.dst] += c.bias_voltages(s) @ bias_rows
            if s.src == 0:
                # u+ = s + a x, u- = s - a x  =>  u @ G = s * colsum(G) + a * x @ (G+ - G-):
                # one GEMM over the n features instead of the 2n wordlines (exact algebra)
                n = t.n_inputs
                gd = np.subtract(sig[:n], sig[n:], dtype=self.dtype)
                gd *= p.v_scale
                self._in_g[s.index] = gd
                self._const[s.dst] += p.v_shift * col_sig
            else:
                self._fwd[s.index] = np.ascontiguousarray(gain * sig)
                self._bwd[s.index] = np.ascontiguousarray(a * sig.T)
                s_out = sig.sum(axis=1)
                k[s.src] += a * gain * s_out
                # w = cm + g (v - cm): the constant part (1-g) cm drives the destination ...
                self._const[s.dst] += (1.0 - gain) * cm * col_sig
                # ... and is reflected back into the source neuron
                self._const[s.src] -= a * (1.0 - gain) * cm * s_out
        self._clamped = {}
        for q in range(1, t.n_layers):
            clamp = q != t.output_layer or p.output_diodes
            self._clamped[q] = clamp
            if clamp and d.model == "ideal":
                kt = k[q] + 2.0 * d.g_off
                self._const[q] = self._const[q] + d.g_off * (p.v_bias_high + p.v_bias_low)
                self._frac[q] = kt / (kt + (d.g_on - d.g_off))
                self._inv_k[q] = 1.0 / kt
            else:
                self._inv_k[q] = 1.0 / k[q]
        self._k = k
        # fold 1/K into the couplings, so a sweep yields R/K directly (one pass less per layer)
        for s in t.crossbars:
            if s.src > 0:
                self._fwd[s.index] *= self._inv_k[s.dst][None, :]
                self._bwd[s.index] *= self._inv_k[s.src][None, :]

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ solve
    def norton(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Signal currents (A) the input crossbars inject into each layer, (B, n_q), float64.

        ``x``: normalised features (B, n_inputs); the common-mode and bias-row parts are constants.
        """
        out: dict[int, np.ndarray] = {}
        uu = np.asarray(x, dtype=self.dtype)
        for idx, g in self._in_g.items():
            dst = self.circuit.topology.crossbars[idx].dst
            a = (uu @ g).astype(np.float64, copy=False)
            out[dst] = a if dst not in out else out[dst] + a
        return out

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None,
              norton: dict[int, np.ndarray] | None = None, tol: float | None = None,
              rel_tol: float | None = None) -> Solution:
        """DC operating point of a batch; ``x`` (B, n_inputs), ``i_nudge`` (m*B, 2K) in A.

        ``tol`` (V) overrides the backend's error bound for this solve. ``rel_tol`` also accepts an
        error bound below ``rel_tol`` times the first sweep's step: for a solve warm-started
        from the free state that step is the size of the nudge response, so this bounds the
        *relative* error of the response (what the EqProp gradient is made of).
        """
        tol = self.tol if tol is None else float(tol)
        first = None
        c = self.circuit
        t, p = c.topology, c.params
        x = np.atleast_2d(np.asarray(x))  # the same object for a 2-D array: the cache key below
        cached = self._norton_cache  # the phases of one batch share the Norton currents
        if norton is None and cached is not None and cached[0] is x:
            norton = cached[1]
        elif norton is None:
            if x.ndim != 2 or x.shape[1] != t.n_inputs:
                raise ConfigError(f"inputs have shape {x.shape}, the network expects (batch, {t.n_inputs})")
            norton = self.norton(x)
            self._norton_cache = (x, norton)
        b = x.shape[0]
        m = 1 if i_nudge is None else i_nudge.shape[0] // max(b, 1)
        if i_nudge is not None and i_nudge.shape[0] != m * b:
            raise ConfigError(f"i_nudge has {i_nudge.shape[0]} rows, not a multiple of the batch {b}")
        base = {}  # per layer: (B, n) shared by the m stacked phases, or (m*B, n)
        for q in range(1, t.n_layers):
            base[q] = norton[q] + self._const[q] if q in norton else np.broadcast_to(self._const[q],
                                                                                     (b, t.layer_size(q)))
        if i_nudge is not None:
            out = t.output_layer
            base[out] = (np.tile(base[out], (m, 1)) if m > 1 else base[out]) + i_nudge
        base = {q: r * self._inv_k[q] for q, r in base.items()}  # everything below is R/K
        if start is not None:
            v = [None] + [np.array(layer, dtype=np.float64) for layer in start.layers[1:]]
            if v[1].shape[0] != m * b:
                raise ConfigError(f"start has {v[1].shape[0]} samples, expected {m * b}")
        else:
            v = [None] + [np.full((m * b, t.layer_size(q)), p.cm) for q in range(1, t.n_layers)]
        incoming = {q: [s for s in t.incoming(q) if s.src > 0] for q in range(1, t.n_layers)}
        outgoing = {q: t.outgoing(q) for q in range(1, t.n_layers)}
        last, rho, sweeps = np.inf, 0.0, 0
        while True:
            sweeps += 1
            step = 0.0
            for q in range(1, t.n_layers):
                terms = [v[s.src] @ self._fwd[s.index] for s in incoming[q]]
                terms += [v[s.dst] @ self._bwd[s.index] for s in outgoing[q]]
                if terms:
                    r = terms[0]
                    for extra in terms[1:]:
                        r += extra
                    if base[q].shape[0] == r.shape[0]:
                        r += base[q]
                    else:  # add the shared (B, n) part to each of the m blocks without tiling it
                        blocks = r.reshape(m, b, -1)
                        np.add(blocks, base[q], out=blocks)
                else:
                    r = np.tile(base[q], (m * b // base[q].shape[0], 1))
                new = self._node_solve(q, r)  # r holds R/K
                if new.size:
                    d = np.subtract(new, v[q], out=v[q])  # the old values are not needed any more
                    np.abs(d, out=d)
                    step = max(step, float(d.max()))
                v[q] = new
            if first is None:
                first = step
                if rel_tol is not None:
                    tol = max(tol, rel_tol * first)
            ratio = step / last if last > 0 else 0.0
            rho = ratio if sweeps <= 2 else max(ratio, 0.5 * (rho + ratio))
            last = step
            if step == 0.0 or (sweeps >= 2 and rho < 1.0 and step * rho / (1.0 - rho) <= tol):
                break
            if sweeps >= 3 and step <= 8.0 * np.finfo(np.float64).eps * max(1.0, float(np.max(np.abs(v[-1])))):
                break  # at rounding level: the rho estimate is noise
            if sweeps >= self.max_sweeps:
                err = step * rho / (1.0 - rho) if rho < 1.0 else float("inf")
                ids = "" if sample_ids is None else f" (samples {list(sample_ids)[:5]}...)"
                raise ConvergenceError(
                    f"numpy backend: {phase} phase did not converge in {sweeps} sweeps{ids}: last step "
                    f"{step:.2e} V, error bound {err:.2e} V > tol {tol:.1e} V")
        xs = x  # for m stacked phases: the inputs of one block (see Solution.take)
        return Solution(v, sweeps, {"rho": rho, "error_bound": step * rho / max(1e-300, 1.0 - rho), "x": xs})

    def _node_solve(self, q: int, v0: np.ndarray) -> np.ndarray:
        """Every node of layer q: the voltage where KCL holds, given v0 = R/K (V).

        Ideal diodes, closed form: c = clip(v0, lo, hi); v = c + (v0 - c) K/(K + dG),
        i.e. (R + dG hi)/(K + dG) above the window, (R + dG lo)/(K + dG) below it.
        ``v0`` is a scratch array owned by the caller: it is overwritten.
        """
        p = self.circuit.params
        if not self._clamped[q]:
            return v0
        if p.diode.model != "ideal":
            return self._shockley_solve(self._k[q], v0 * self._k[q], p)
        cl = np.maximum(v0, p.v_clamp_low)
        np.minimum(cl, p.v_clamp_high, out=cl)
        v0 -= cl
        v0 *= self._frac[q]
        v0 += cl
        return v0

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
