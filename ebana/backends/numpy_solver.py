"""Exact vectorised DC solver for the crossbar circuit (the fast path).

Solves the same :class:`~ebana.circuit.Circuit` as the ngspice backend, for a whole batch:

1. *Norton reduction* of every crossbar driven by the ideal input sources: node j of layer
   q sees the current ``A_j = sum_i G_ij u_i`` and the conductance ``S_j = sum_i G_ij``
   (one GEMM per batch, shared by the free and nudged phases).
2. *Block coordinate descent* (BCD): given the other layers, the KCL equations of one layer
   decouple into scalar monotone equations ``F(v) = K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0``,
   solved in closed form for the piecewise-linear diode and, for the Shockley diode, by a
   bracketed Newton iteration whose steps are taken in the log of the dominant diode current
   (nearly linear there, so a few steps from any start), warm-started from the previous sweep.
   Every Shockley node solve ends on a point where ``|F|`` was evaluated and is at rounding
   level; otherwise :class:`~ebana.errors.ConvergenceError` is raised.
3. *A residual-based error bound* (not an extrapolation of successive steps, which fails
   after a warm start: a perturbation crosses one layer per sweep, and through a saturated
   layer the steps shrink long before the upstream layers have moved). After a sweep the
   KCL residual of layer q is exactly ``alpha G_{q->d} (v_d^new - v_d^old)`` summed over the
   layers d updated after q, plus rounding. The Jacobian J of the nodal equations is a
   nonsingular M-matrix (similar, by the amplifier scaling, to the Hessian of the convex
   energy, a symmetric Z-matrix) and only grows with the diode conductances, so with the
   diodes at their smallest conductance (J_min) ``|v - v*| <= J_min^-1 |r| <= s * max_i
   |r_i| / (J_min s)_i`` for any s > 0 with J_min s > 0. s ~ J_min^-1 diag(J_min) is computed
   once per weight update (Gauss-Seidel, verified; dense fallback). The solve stops when the
   bound is below ``tol`` (or when the iteration has reached the rounding floor, which is then
   part of the stated bound, ``Solution.info["error_bound"]``) and raises ConvergenceError
   after ``max_sweeps``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ebana.allocator import tune_malloc
from ebana.backends.base import Solution
from ebana.circuit import GMIN, Circuit
from ebana.errors import ConfigError, ConvergenceError

__all__ = ["NumpyBackend", "shockley_current", "SHOCKLEY_MAX_ITERATIONS"]

logger = logging.getLogger(__name__)

_E = np.e
_EPS = float(np.finfo(np.float64).eps)
SHOCKLEY_MAX_ITERATIONS = 60
"""Newton iterations a Shockley node solve may take before ConvergenceError (typically 1-8)."""
_CERT_GS_SWEEPS = 200      # Gauss-Seidel sweeps for the bound's certificate before the dense solve
_CERT_DENSE_MAX = 6000     # nodes up to which the certificate may fall back to a dense solve
_CERT_TARGET = 0.9         # accept the certificate once (J_min s)_i >= 0.9 K_i everywhere


def shockley_current(x: np.ndarray, i_s: float, n_vt: float) -> tuple[np.ndarray, np.ndarray]:
    """ngspice ``D`` model DC current (A) and conductance (S) at junction voltage x (V), incl. GMIN."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fwd = x >= -3.0 * n_vt
        ev = np.exp(np.minimum(x, 600.0 * n_vt) / n_vt)
        arg = (3.0 * n_vt / (x * _E)) ** 3
        i = np.where(fwd, i_s * (ev - 1.0), -i_s * (1.0 + arg))
        g = np.where(fwd, i_s * ev / n_vt, i_s * 3.0 * arg / x)
    return i + GMIN * x, g + GMIN


@dataclass
class _Certificate:
    """Positive s with J_min s = K t (t > 0) per layer, and the couplings the bound needs."""

    s_max: np.ndarray          # (n_layers,) max_j s_j of each layer (0 for layer 0)
    kappa_b: dict[int, float]  # crossbar p -> d (p > 0): max_j (alpha S_out,j / K_j) / t_j over p's nodes
    kappa_f: dict[int, float]  # crossbar p -> d (p > 0): max_i (gain S_in,i / K_i) / t_i over d's nodes
    f_max: dict[int, float]    # max_i gain S_in,i / K_i (rounding of the forward terms)
    b_max: dict[int, float]    # max_j alpha S_out,j / K_j
    t_min: np.ndarray          # (n_layers,) min_j t_j


class NumpyBackend:
    """Batch DC solver.

    ``dtype="float64"``: everything in float64 (parity with ngspice to ~1e-13 V).
    ``dtype="float32"``: the crossbar products against the input wordlines (the O(N_in) work:
    Norton currents, and the gradient's big GEMM) run in float32; node voltages stay float64,
    so the tiny nudged-minus-free differences are not lost to rounding (agreement ~1e-6 V with
    float64: the float32 Norton currents define a slightly different circuit, which the error
    bound does not cover; the bound is that of the iteration for those currents).

    ``i_nudge`` (and ``start``) may stack m phases of the same inputs: shape (m*B, 2K) for
    ``x`` of shape (B, n_inputs); the Norton currents are then computed once and tiled.

    ``Solution.info``: ``error_bound`` (V, bound on max |v - v*| over all nodes), ``error_bounds``
    (per layer, index 0 unused), ``rounding_limited`` (the bound is the rounding floor, above
    ``tol``), ``node_iterations`` (most Newton iterations of any Shockley node solve), ``rho``
    (observed step ratio, informative only).
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
        self._cert = None    # the error bound's certificate, computed at the next solve
        t, p, d = c.topology, c.params, c.params.diode
        a, gain, cm = p.alpha, p.gain, p.cm
        self._in_g = {}      # input crossbars: signal rows in the GEMM dtype
        self._fwd = {}       # hidden -> q crossbars: gain * G / K_q (rows of the source neurons)
        self._bwd = {}       # hidden -> q crossbars: alpha * G^T / K_src (reflected current)
        self._inv_k, self._const, self._frac = {}, {}, {}
        self._n_rows = {q: 0 for q in range(1, t.n_layers)}  # terms summed into a node's R
        for q in range(1, t.n_layers):
            self._const[q] = np.zeros(t.layer_size(q))
        k = {q: np.zeros(t.layer_size(q)) for q in range(1, t.n_layers)}
        for s, g in zip(t.crossbars, c.conductances):
            sig, bias_rows = g[: s.n_rows], g[s.n_rows:]
            col_sig = sig.sum(axis=0)
            k[s.dst] += col_sig + bias_rows.sum(axis=0)
            self._const[s.dst] += c.bias_voltages(s) @ bias_rows
            self._n_rows[s.dst] += g.shape[0]
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
                self._n_rows[s.src] += g.shape[1]
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
        self._incoming = {q: [s for s in t.incoming(q) if s.src > 0] for q in range(1, t.n_layers)}
        self._outgoing = {q: t.outgoing(q) for q in range(1, t.n_layers)}

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ error-bound certificate
    def _certificate(self) -> _Certificate:
        """s > 0 with t = (J_min s) / K > 0, where J_min is the nodal Jacobian with every diode at its
        smallest conductance (g_off for the ideal diode, 0 for Shockley) and K = diag(J_min).

        In the folded variables a Gauss-Seidel sweep of J_min s = K reads
        ``s_q = 1 + sum_in s_p @ fwd + sum_out s_d @ bwd`` (the BCD sweep of a linear circuit);
        from s = 0 it increases monotonically to J_min^-1 K. t is checked by an explicit product.
        """
        if self._cert is not None:
            return self._cert
        t = self.circuit.topology
        layers = range(1, t.n_layers)
        s = {q: np.zeros(t.layer_size(q)) for q in layers}

        def coupled(q):
            out = np.zeros(t.layer_size(q))
            for c in self._incoming[q]:
                out += s[c.src] @ self._fwd[c.index]
            for c in self._outgoing[q]:
                out += s[c.dst] @ self._bwd[c.index]
            return out

        def ratio():
            return {q: s[q] - coupled(q) for q in layers}

        tq = None
        for sweep in range(1, max(_CERT_GS_SWEEPS, 1) + 1):
            for q in layers:
                s[q] = 1.0 + coupled(q)
            if sweep % 4 == 0 or sweep == 1:
                tq = ratio()
                if min(float(v.min()) for v in tq.values()) >= _CERT_TARGET:
                    break
        if min(float(v.min()) for v in tq.values()) < _CERT_TARGET:
            n = sum(t.layer_size(q) for q in layers)
            if n <= _CERT_DENSE_MAX:
                s = self._dense_certificate()
            else:  # large and strongly coupled: keep sweeping (any t > 0 is a valid certificate)
                for _ in range(self.max_sweeps):
                    for q in layers:
                        s[q] = 1.0 + coupled(q)
                    tq = ratio()
                    if min(float(v.min()) for v in tq.values()) >= 0.5:
                        break
            tq = ratio()
        t_min = min(float(v.min()) for v in tq.values())
        if not (t_min > 0 and all(np.all(np.isfinite(s[q])) and np.all(s[q] > 0) for q in layers)):
            raise ConvergenceError(f"numpy backend: cannot certify the error bound of this circuit "
                                   f"(min (J s)/K = {t_min:.2e}); the nodal system is too ill-conditioned")
        tq = {q: v * (1.0 - 1e-9) for q, v in tq.items()}  # rounding of the check itself
        s_max = np.zeros(t.n_layers)
        tmin = np.ones(t.n_layers)
        for q in layers:
            s_max[q] = float(s[q].max()) * (1.0 + 1e-9)
            tmin[q] = float(tq[q].min())
        kb, kf, fm, bm = {}, {}, {}, {}
        for c in t.crossbars:
            if c.src == 0:
                continue
            brow = self._bwd[c.index].sum(axis=0)   # per source node: alpha S_out / K
            fcol = self._fwd[c.index].sum(axis=0)   # per destination node: gain S_in / K
            kb[c.index] = float(np.max(brow / tq[c.src]))
            kf[c.index] = float(np.max(fcol / tq[c.dst]))
            bm[c.index], fm[c.index] = float(brow.max()), float(fcol.max())
        self._cert = _Certificate(s_max, kb, kf, fm, bm, tmin)
        return self._cert

    def _dense_certificate(self) -> dict[int, np.ndarray]:
        """J_min^-1 K by a dense solve of (I - P) s = 1 (P: the folded couplings)."""
        t = self.circuit.topology
        layers = list(range(1, t.n_layers))
        off = {}
        n = 0
        for q in layers:
            off[q] = n
            n += t.layer_size(q)
        m = np.eye(n)
        for c in t.crossbars:
            if c.src == 0:
                continue
            ps, pd = off[c.src], off[c.dst]
            ns, nd = t.layer_size(c.src), t.layer_size(c.dst)
            m[pd:pd + nd, ps:ps + ns] -= self._fwd[c.index].T
            m[ps:ps + ns, pd:pd + nd] -= self._bwd[c.index].T
        try:
            sol = np.linalg.solve(m, np.ones(n))
        except np.linalg.LinAlgError as err:
            raise ConvergenceError(f"numpy backend: the nodal Jacobian is singular ({err})") from None
        return {q: sol[off[q]:off[q] + t.layer_size(q)] for q in layers}

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
        cert = self._certificate()
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
        incoming, outgoing = self._incoming, self._outgoing
        n_layers = t.n_layers
        moved = np.zeros(n_layers)        # max |change| of each layer in this sweep (V)
        node_err = np.zeros(n_layers)     # max distance of a Shockley node solve to its root (V)
        node_its = 0
        last, rho, sweeps = np.inf, 0.0, 0
        vmax = bmax = None
        while True:
            sweeps += 1
            for q in range(1, n_layers):
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
                new, err_q, its = self._node_solve(q, r, v[q])  # r holds R/K
                node_err[q] = err_q
                node_its = max(node_its, its)
                if new.size:
                    d = np.subtract(new, v[q], out=v[q])  # the old values are not needed any more
                    np.abs(d, out=d)
                    moved[q] = float(d.max())
                v[q] = new
            step = float(moved.max())
            if first is None:
                first = step
                if rel_tol is not None:
                    tol = max(tol, rel_tol * first)
            ratio = step / last if last > 0 else 0.0
            rho = ratio if sweeps <= 2 else max(ratio, 0.5 * (rho + ratio))
            last = step
            # the residual KCL_q = alpha G (v_d^new - v_d^old) of the layers d updated after q, and
            # the rounding floor (|v| tracked by the triangle inequality: no extra pass over v)
            if vmax is None:
                vmax = np.array([0.0] + [float(np.max(np.abs(v[q]))) if v[q].size else 0.0
                                         for q in range(1, n_layers)])
                bmax = np.array([0.0] + [float(np.max(np.abs(base[q]))) if base[q].size else 0.0
                                         for q in range(1, n_layers)])
            else:
                vmax += moved
            if not np.isfinite(step):
                self._fail(phase, sweeps, step, np.inf, tol, sample_ids, "non-finite node voltages")
            delta = node_err + self._rounding(cert, vmax, bmax)
            bounds = self._bounds(cert, moved, delta)
            bound = float(bounds.max())
            if bound <= tol:
                limited = False
                break
            floor = float(self._bounds(cert, np.zeros(n_layers), delta).max())
            if bound <= 2.0 * floor:  # the iteration has reached the rounding floor: nothing to gain
                limited = True
                break
            if sweeps >= self.max_sweeps:
                self._fail(phase, sweeps, step, bound, tol, sample_ids)
        if limited:
            logger.debug("numpy backend: %s phase at the rounding floor after %d sweeps: error bound %.2e V "
                         "> tol %.1e V", phase, sweeps, bound, tol)
        xs = x  # for m stacked phases: the inputs of one block (see Solution.take)
        return Solution(v, sweeps, {"rho": rho, "error_bound": bound, "error_bounds": bounds,
                                    "rounding_limited": limited, "node_iterations": node_its, "x": xs})

    def _fail(self, phase, sweeps, step, err, tol, sample_ids, why: str | None = None) -> None:
        ids = "" if sample_ids is None else f" (samples {list(sample_ids)[:5]}...)"
        what = f": {why}" if why else ""
        raise ConvergenceError(
            f"numpy backend: {phase} phase did not converge in {sweeps} sweeps{ids}{what}: last step "
            f"{step:.2e} V, error bound {err:.2e} V > tol {tol:.1e} V")

    def _local_error(self, cert: _Certificate, moved: np.ndarray, delta: np.ndarray) -> float:
        """max_i |r_i| / (K_i t_i) (V) for layer changes ``moved`` and node perturbations ``delta``."""
        worst = 0.0
        for q in range(1, len(moved)):
            acc = 0.0
            for s in self._outgoing[q]:
                acc += cert.kappa_b[s.index] * (moved[s.dst] + delta[s.dst])
            for s in self._incoming[q]:
                acc += cert.kappa_f[s.index] * delta[s.src]
            worst = max(worst, acc)
        return worst

    def _bounds(self, cert: _Certificate, moved: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Per-layer bound on |v - v*| (V): a node perturbed by delta from its exact local solution
        is off by delta plus the response to the residual it causes in its neighbours
        (J^-1 D delta = delta + J^-1 N delta), and the tracked residuals add J^-1 |r|."""
        local = self._local_error(cert, moved, delta)
        out = cert.s_max * local + delta
        out[0] = 0.0
        return out

    def _rounding(self, cert: _Certificate, vmax: np.ndarray, bmax: np.ndarray) -> np.ndarray:
        """Per-layer rounding floor (V) of a node solve: a few ulps of the magnitudes summed into R/K
        (``vmax``, ``bmax``: per layer max |v| and max |R/K of the sources|)."""
        n = len(vmax)
        out = np.zeros(n)
        for q in range(1, n):
            mag = vmax[q] + bmax[q]
            for s in self._incoming[q]:
                mag += cert.f_max[s.index] * vmax[s.src]
            for s in self._outgoing[q]:
                mag += cert.b_max[s.index] * vmax[s.dst]
            out[q] = (4.0 + np.sqrt(self._n_rows[q])) * _EPS * mag
        return out

    def _node_solve(self, q: int, v0: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, float, int]:
        """Every node of layer q: the voltage where KCL holds, given v0 = R/K (V).

        Returns (voltages, max distance to the exact root (V), Newton iterations).
        Ideal diodes, closed form: c = clip(v0, lo, hi); v = c + (v0 - c) K/(K + dG),
        i.e. (R + dG hi)/(K + dG) above the window, (R + dG lo)/(K + dG) below it.
        ``v0`` is a scratch array owned by the caller: it is overwritten. ``prev`` (the layer's
        previous voltages) warm-starts the Shockley solve.
        """
        p = self.circuit.params
        if not self._clamped[q]:
            return v0, 0.0, 0
        if p.diode.model != "ideal":
            k = self._k[q]
            return shockley_node_solve(k, v0 * k, p, prev)
        cl = np.maximum(v0, p.v_clamp_low)
        np.minimum(cl, p.v_clamp_high, out=cl)
        v0 -= cl
        v0 *= self._frac[q]
        v0 += cl
        return v0, 0.0, 0


def shockley_node_solve(k: np.ndarray, r: np.ndarray, p, start: np.ndarray | None = None,
                        max_iterations: int = SHOCKLEY_MAX_ITERATIONS) -> tuple[np.ndarray, float, int]:
    """Solve F(v) = K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0 for every node (vectorised).

    ``k`` (n,) S, ``r`` (B, n) A, ``p`` the CircuitParams, ``start`` (B, n) V a warm start.
    F is strictly increasing (F' >= K > 0). The iteration keeps a bracket [lo, hi] with
    F(lo) <= 0 <= F(hi) (initially around R/K and both diode biases, where the signs are
    guaranteed). Where a forward-biased diode dominates F' its current, not v, is the Newton
    variable: v_new = v -+ n Vt ln(1 +- F / (n Vt F')) (F is nearly linear in that current, so
    exponential regions take a few steps instead of one thermal voltage per step); elsewhere
    plain Newton; any step leaving the bracket bisects. A node is done when |F| is at the
    rounding level of its terms (or its bracket is a few ulps wide); it returns the last point
    where F was evaluated. Returns (v, max |F|/F' (V, the distance to the root), iterations);
    raises ConvergenceError if a node is not done after ``max_iterations``.
    """
    d = p.diode
    vbh, vbl, nvt, i_s = p.v_bias_high, p.v_bias_low, d.n_vt, d.i_s
    shape = np.shape(r)
    r = np.asarray(r, dtype=np.float64).ravel()
    kk = np.broadcast_to(np.asarray(k, dtype=np.float64), shape).ravel()
    v0 = r / kk
    # F(lo) < 0 < F(hi): below both biases and R/K every term of F is negative, above all positive
    margin = max(nvt, 1e-6)
    lo = np.minimum(v0, min(vbh, vbl)) - margin
    hi = np.maximum(v0, max(vbh, vbl)) + margin
    v = v0.copy() if start is None else np.clip(np.asarray(start, dtype=np.float64).ravel(), lo, hi)
    out = np.empty_like(v)
    dist = np.zeros_like(v)
    act = np.arange(v.size)
    its = 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        while act.size:
            if its >= max_iterations:
                j = act[0]
                raise ConvergenceError(
                    f"numpy backend: Shockley node solve did not converge in {max_iterations} iterations "
                    f"({act.size} nodes left, e.g. K={kk[j]:.3e} S, R={r[j]:.3e} A, v={v[j]:.6g} V)")
            its += 1
            va, ka, ra = v, kk[act], r[act]
            x1, x2 = va - vbh, vbl - va
            i1, g1 = shockley_current(x1, i_s, nvt)
            i2, g2 = shockley_current(x2, i_s, nvt)
            lin = ka * va - ra
            f = lin + i1 - i2
            fp = ka + g1 + g2
            ftol = 4.0 * _EPS * (np.abs(ka * va) + np.abs(ra) + np.abs(i1) + np.abs(i2) + fp * (np.abs(va) + 1e-3))
            la, ha = lo[act], hi[act]
            la = np.where(f <= 0, va, la)
            ha = np.where(f >= 0, va, ha)
            done = (np.abs(f) <= ftol) | (ha - la <= 4.0 * _EPS * np.maximum(np.abs(la), np.abs(ha)))
            if done.any():
                idx = act[done]
                out[idx] = va[done]
                dist[idx] = np.abs(f[done]) / fp[done]
            keep = ~done
            if not keep.any():
                break
            act = act[keep]
            va, f, fp, la, ha = va[keep], f[keep], fp[keep], la[keep], ha[keep]
            x1, x2, g1, g2, lin, i1, i2, ka = x1[keep], x2[keep], g1[keep], g2[keep], lin[keep], i1[keep], \
                i2[keep], ka[keep]
            lo[act], hi[act] = la, ha
            nvtfp = nvt * fp
            new = va - f / fp                                 # plain Newton
            # lower diode dominant: Newton in its current; nvt g2 - i2 = i_s + GMIN (nvt - x2) exactly
            num2 = nvt * (ka + g1) + lin + i1 + i_s + GMIN * (nvt - x2)
            low = (g2 >= np.maximum(g1, ka)) & (x2 > -3.0 * nvt) & (num2 > 0)
            new = np.where(low, va - nvt * np.log(num2 / nvtfp), new)
            num1 = nvt * (ka + g2) - lin + i2 + i_s + GMIN * (nvt - x1)
            up = (g1 >= np.maximum(g2, ka)) & (x1 > -3.0 * nvt) & (num1 > 0)
            new = np.where(up, va + nvt * np.log(num1 / nvtfp), new)
            bad = ~((new > la) & (new < ha))                  # also catches NaN
            new = np.where(bad, 0.5 * (la + ha), new)
            v = new
    return out.reshape(shape), float(dist.max()) if dist.size else 0.0, its
