"""Exact vectorised DC solver for the crossbar circuit (the fast path).

Solves the same :class:`~ebana.circuit.Circuit` as the ngspice backend, for a whole batch:

1. *Norton reduction* of every crossbar driven by the ideal input sources: node j of layer
   q sees the current ``A_j = sum_i G_ij u_i`` and the conductance ``S_j = sum_i G_ij``
   (one GEMM per batch, shared by the free and nudged phases).
2. *Block coordinate descent* (BCD): given the other layers, the KCL equations of one layer
   decouple into scalar monotone equations ``F(v) = K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0``,
   solved in closed form for the piecewise-linear diode and, for the Shockley diode, by a
   bracketed Newton iteration whose steps are taken in the log of the dominant diode current
   (nearly linear there, so a few steps from any start), warm-started from the previous sweep
   (:func:`shockley_node_solve`). It returns a point where F was evaluated, with its distance
   to the root; a node that does not converge raises :class:`~ebana.errors.ConvergenceError`.
3. *A residual-based error bound*, not an extrapolation of successive steps (which fails after
   a warm start: a perturbation crosses one layer per sweep, and through a saturated layer the
   steps shrink long before the upstream layers have moved). After a sweep the KCL residual of
   layer p is exactly ``alpha G_{p->d} (v_d^new - v_d^old)`` over the layers d updated after
   p, plus the node solves' own errors and rounding. The nodal Jacobian J is a nonsingular
   M-matrix (the amplifier scaling makes it the Hessian of the convex energy, a symmetric
   Z-matrix) that only grows with the diode conductances, so with every diode at its smallest
   conductance (J_min) ``|v - v*| <= J_min^-1 |r|``, bounded per layer with certificate vectors
   s^(p) ~ J_min^-1 K 1_p (Gauss-Seidel, checked by an explicit product, dense fallback;
   recomputed after every weight update). When the iteration reaches the
   rounding floor the bound is tightened with the diodes' conductances around the final state.
   The solve stops when every layer's bound is below ``tol`` (or ``rel_tol`` of its response),
   or at the rounding floor, which is then the stated bound (``Solution.info``); it raises
   ConvergenceError after ``max_sweeps``.
4. *The Newton fallback* (:mod:`ebana.backends.newton`) where BCD contracts slowly (strongly
   coupled or high-gain layers): after ``newton_after`` sweeps without meeting the bound, when
   the observed step ratio predicts more than ``newton_after`` further sweeps, the BCD iterate
   is replaced by Newton's solution of the whole circuit's KCL. BCD sweeps then continue from
   that point, so the stated bound is still 3.'s (a residual bound, valid from any start);
   ``info["solver"]`` is ``"newton"`` (``newton_iterations``, ``sweeps_before_newton``,
   ``certifying_sweeps``) or ``"bcd"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ebana.backends.base import Solution
from ebana.backends.newton import NewtonSystem, newton_refine
from ebana.circuit import GMIN, Circuit, diode_branch, shockley_current
from ebana.errors import ConfigError, ConvergenceError

__all__ = ["NumpyBackend", "shockley_current", "shockley_node_solve", "SHOCKLEY_MAX_ITERATIONS", "NEWTON_AFTER"]

logger = logging.getLogger(__name__)

_EPS = float(np.finfo(np.float64).eps)
SHOCKLEY_MAX_ITERATIONS = 60
"""Newton iterations a Shockley node solve may take before ConvergenceError (typically 1-8)."""
_CERT_GS_SWEEPS = 200      # Gauss-Seidel sweeps for the bound's certificate before the dense solve
_CERT_DENSE_MAX = 2000     # nodes up to which the certificate may fall back to a dense solve
NEWTON_AFTER = 16
"""BCD sweeps after which a solve whose bound is not met and whose contraction predicts more than
this many further sweeps switches to the Newton fallback (:mod:`ebana.backends.newton`)."""


@dataclass
class _Certificate:
    """Per-layer certificates of the M-matrix bound (see :meth:`NumpyBackend._layer_certificates`).

    ``reach[p, q]`` (V per V): max over the nodes j of layer q of s^(p)_j, where
    J s^(p) ~ K 1_p (the response to a unit local error on layer p's nodes). With
    c_p = a local_p + b max_p local_p, ``|v - v*|_q <= sum_p c_p reach[p, q]``.
    """

    reach: np.ndarray   # (n_layers, n_layers), row/column 0 unused
    a: float            # 1 / (1 - eta_in): t^(p) >= 1 - eta_in on layer p's own nodes
    b: float            # covers t^(p) >= -eta_out on the other layers


def _abs_max(a: np.ndarray) -> float:
    """max |a| without an |a| temporary (0 for an empty array; rows broadcast from one are read once)."""
    if not a.size:
        return 0.0
    if a.ndim == 2 and a.strides[0] == 0:
        a = a[:1]
    return max(float(a.max()), -float(a.min()))


SPARSE_DENSITY = 0.25
"""A locally connected coupling with at most this fraction of devices is multiplied in CSR in the
sweeps (``benchmarks/local_crossbar.py``: conv16k3 between hidden layers, 6 % devices, 23 ms CSR
against 61 ms dense per sweep at batch 256); dense couplings are untouched."""


class _SparseRight:
    """``v @ m`` for a sparse (n_src, n_dst) matrix m, as (m^T v^T)^T with m^T in CSR; same
    products as the dense array up to the order of the sums."""

    __array_ufunc__ = None       # ndarray @ this defers to __rmatmul__

    def __init__(self, m: np.ndarray) -> None:
        import scipy.sparse as sp
        self._t = sp.csr_matrix(m.T)

    def __rmatmul__(self, v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((self._t @ v.T).T)


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

    ``newton_after``: BCD sweeps before the Newton fallback may take over (0: never).

    ``Solution.info``: ``error_bound`` (V, bound on max |v - v*| over all nodes), ``error_bounds``
    (per layer, index 0 unused), ``rounding_limited`` (the bound is the rounding floor, above
    ``tol``), ``node_iterations`` (most Newton iterations of any Shockley node solve), ``rho``
    (observed step ratio, informative only), ``v_abs_max`` (per layer, an upper bound on |v|; a
    solve warm-started from this solution reads it instead of scanning the start).
    """

    def __init__(self, circuit: Circuit, *, conductances: Sequence[np.ndarray] | None = None,
                 dtype: str = "float64", tol: float | None = None, max_sweeps: int = 5000,
                 newton_after: int = NEWTON_AFTER) -> None:
        if dtype not in ("float64", "float32"):
            raise ConfigError(f"numpy backend dtype must be float64 or float32, got {dtype!r}")
        self.circuit = circuit
        self.dtype = np.dtype(dtype)
        self.tol = (1e-13 if self.dtype == np.float64 else 1e-9) if tol is None else float(tol)
        if not self.tol > 0:
            raise ConfigError(f"solver tolerance must be > 0 V, got {self.tol}")
        self.max_sweeps = int(max_sweeps)
        self.newton_after = int(newton_after)   # 0: never use the Newton fallback
        t = circuit.topology
        self._incoming = {q: [s for s in t.incoming(q) if s.src > 0] for q in range(1, t.n_layers)}
        self._outgoing = {q: t.outgoing(q) for q in range(1, t.n_layers)}
        self.load(circuit.conductances if conductances is None else conductances)

    # ------------------------------------------------------------------ setup
    def load(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None:
        """Solve the circuit with ``conductances`` (S) from now on: compile its stamps
        (:meth:`Circuit.compile`) and derive the solver's folded constants. ``validate=False``
        skips the finite/positive scan (for updates already clipped to [g_min, g_max])."""
        self.model = model = self.circuit.compile(conductances, validate=validate)
        self._norton_cache = None
        self._newton = None  # the Newton fallback's folded system, built when first needed
        self._cert = None    # the error bound's certificate, computed at the next solve (from scratch:
        # a solve depends only on the weights and inputs, never on history, so resumed runs are identical)
        t, p, d = model.topology, model.params, model.params.diode
        self._in_g = {c: drive.astype(self.dtype) for c, drive in model.drives.items()}  # the GEMM dtype
        self._inv_k, self._const, self._frac, self._clamped = {}, {}, {}, {}
        self._n_rows = {q: 0 for q in range(1, t.n_layers)}  # terms summed into a node's R
        for s in t.crossbars:
            self._n_rows[s.dst] += s.shape[0]
            if s.src > 0:
                self._n_rows[s.src] += s.shape[1]
        k = {}
        for q in range(1, t.n_layers):
            st = model.layers[q]
            k[q] = st.k
            self._clamped[q] = st.clamped
            if st.clamped and d.model == "ideal":
                # both diodes' off-state conductance is linear: fold it into K and the constant
                kt = st.k + 2.0 * d.g_off
                self._const[q] = st.const + d.g_off * (p.v_bias_high + p.v_bias_low)
                self._frac[q] = kt / (kt + (d.g_on - d.g_off))
                self._inv_k[q] = 1.0 / kt
            else:
                self._const[q] = st.const
                self._inv_k[q] = 1.0 / st.k
        self._k = k
        # fold 1/K into the couplings, so a sweep yields R/K directly (one pass less per layer)
        self._fwd = {cp.crossbar: cp.fwd * self._inv_k[cp.dst][None, :] for cp in model.couplings}
        self._bwd = {cp.crossbar: cp.bwd * self._inv_k[cp.src][None, :] for cp in model.couplings}
        # the sweeps' products: CSR for sparse locally connected couplings, else the arrays above (with
        # line resistance a masked crossbar's coupling is its dense port admittance: the wires join every cell)
        sparse = [cp.crossbar for cp in model.couplings if cp.crossbar in t.ties and not model.lines
                  and t.mask(cp.crossbar).mean() <= SPARSE_DENSITY]
        self._fwd_op = {c: _SparseRight(self._fwd[c]) if c in sparse else self._fwd[c] for c in self._fwd}
        self._bwd_op = {c: _SparseRight(self._bwd[c]) if c in sparse else self._bwd[c] for c in self._bwd}
        # line resistance couples the nodes of a layer (LayerStamp.lateral): a sweep treats them like a
        # later layer (Jacobi within the layer), so the residual bound gains the term lateral * moved_q
        self._lat = {q: model.layers[q].lateral * self._inv_k[q][None, :] for q in range(1, t.n_layers)
                     if model.layers[q].lateral is not None}
        for q in self._lat:
            self._n_rows[q] += t.layer_size(q)
        # the couplings of the error bound, as (layer x layer) matrices: [p, d] = sum over crossbars
        # p -> d of max_j alpha S_out,j / K_j (residual in p from changes in d), [q, p] = sum over
        # crossbars p -> q of max_i gain S_in,i / K_i (residual in q from perturbations in p)
        self._couple_out = np.zeros((t.n_layers, t.n_layers))
        self._couple_in = np.zeros((t.n_layers, t.n_layers))
        for cp in model.couplings:   # row sums of alpha G^T are alpha S_out; of gain G^T, gain S_in
            self._couple_out[cp.src, cp.dst] += float(np.max(cp.bwd.sum(axis=0) * self._inv_k[cp.src]))
            self._couple_in[cp.dst, cp.src] += float(np.max(cp.fwd.sum(axis=0) * self._inv_k[cp.dst]))
        for q, lat in self._lat.items():
            if lat.size:
                self._couple_out[q, q] += float(np.max(lat.sum(axis=0)))
        self._ulps = np.array([0.0] + [(4.0 + np.sqrt(self._n_rows[q])) * _EPS for q in range(1, t.n_layers)])
        self._inv_k_max = {q: float(self._inv_k[q].max()) if self._inv_k[q].size else 0.0 for q in self._inv_k}
        self._const_k_max = {q: _abs_max(self._const[q] * self._inv_k[q]) for q in self._inv_k}

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ error-bound certificate
    def _certificate(self) -> _Certificate:
        """The state-independent certificate: every diode at its smallest conductance (J_min)."""
        if self._cert is None:
            t = self.circuit.topology
            small = sum(t.layer_size(q) for q in range(1, t.n_layers)) <= _CERT_DENSE_MAX
            self._cert = self._layer_certificates({q: 1.0 for q in range(1, t.n_layers)}, 1,
                                                  _CERT_GS_SWEEPS if small else self.max_sweeps, dense=small)
            if self._cert is None:
                raise ConvergenceError("numpy backend: cannot certify an error bound for this circuit (the nodal "
                                       "Jacobian with the diodes off is too ill-conditioned)")
        return self._cert

    def _layer_certificates(self, ratio: dict, batch: int, max_sweeps: int,
                            dense: bool = False) -> _Certificate | None:
        """s^(p) >= 0 with (J_min + diag(d)) s^(p) = K t^(p), t^(p) ~ 1_p, for every layer p.

        ``ratio[q] = K / (K + d)`` per node (scalar 1 for J_min, or (batch, n_q)). In the folded
        variables a Gauss-Seidel sweep is ``s_q = ratio_q (1_p + sum_in s @ fwd + sum_out s @ bwd)``
        (a BCD sweep of a linear circuit); from s = 0 it increases monotonically to the solution.
        t is checked by an explicit product. Returns None if no valid certificate was found.
        """
        t = self.circuit.topology
        layers = list(range(1, t.n_layers))
        n_p = len(layers)
        rows = n_p * batch
        s = {q: np.zeros((rows, t.layer_size(q))) for q in layers}
        rhs = {}
        for i, q in enumerate(layers):
            rhs[q] = np.zeros((n_p, batch, 1))
            rhs[q][i] = 1.0
            rhs[q] = rhs[q].reshape(rows, 1)
        rat = {q: (r if np.isscalar(r) else np.tile(r, (n_p, 1))) for q, r in ratio.items()}

        def coupled(q):
            acc = np.zeros((rows, t.layer_size(q)))
            for c in self._incoming[q]:
                acc += s[c.src] @ self._fwd[c.index]
            for c in self._outgoing[q]:
                acc += s[c.dst] @ self._bwd[c.index]
            if q in self._lat:
                acc += s[q] @ self._lat[q]
            return acc

        def etas(first: bool = False):
            e_in = e_out = 0.0
            for i, q in enumerate(layers):
                if not t.layer_size(q):
                    continue
                if first:  # after the first sweep from s = 0 the incoming terms are final: t = 1_p - out terms
                    t_q = rhs[q] - sum((s[c.dst] @ self._bwd[c.index] for c in self._outgoing[q]), 0.0)
                    if q in self._lat:   # the sweep used s_q = 0 in the lateral term
                        t_q = t_q - s[q] @ self._lat[q]
                    t_q = np.broadcast_to(t_q, s[q].shape)
                else:
                    r_q = rat[q]
                    t_q = (s[q] if np.isscalar(r_q) and r_q == 1.0 else s[q] / r_q) - coupled(q)
                mins = t_q.reshape(n_p, -1).min(axis=1)   # per certificate p: min t^(p) on layer q
                e_in = max(e_in, 1.0 - float(mins[i]))
                if n_p > 1:
                    mins[i] = np.inf
                    e_out = max(e_out, -float(mins.min()))
            return e_in, max(e_out, 0.0)

        ok = False
        e_in = e_out = np.inf
        for sweep in range(1, max_sweeps + 1):
            for q in layers:
                s[q] = rat[q] * (rhs[q] + coupled(q))
            if sweep <= 2 or sweep % 4 == 0:  # (a looser certificate only scales the bound by a, b)
                e_in, e_out = etas(first=sweep == 1)
                if e_in <= 0.02 and e_out * max(n_p - 1, 1) <= 0.005:
                    ok = True
                    break
        if not ok and dense and sum(t.layer_size(q) for q in layers) <= _CERT_DENSE_MAX:
            s = self._dense_certificates()
            e_in, e_out = etas()
        denom = 1.0 - e_in - e_out * max(n_p - 1, 1)
        if not (denom > 0.1) or not all(np.all(np.isfinite(s[q])) for q in layers):
            return None
        a = 1.0 / (1.0 - e_in) * (1.0 + 1e-9)
        b = e_out * max(n_p - 1, 1) * a / denom * (1.0 + 1e-9) + 1e-12 * a
        reach = np.zeros((t.n_layers, t.n_layers))
        for q in layers:
            if t.layer_size(q):
                reach[1:, q] = s[q].reshape(n_p, -1).max(axis=1) * (1.0 + 1e-9)
        return _Certificate(reach, a, b)

    def _dense_certificates(self) -> dict[int, np.ndarray]:
        """J_min^-1 K 1_p for every layer p by one dense solve of (I - P) S = E (P: the folded couplings)."""
        t = self.circuit.topology
        layers = list(range(1, t.n_layers))
        off, n = {}, 0
        for q in layers:
            off[q] = n
            n += t.layer_size(q)
        mat = np.eye(n)
        for c in t.crossbars:
            if c.src == 0:
                continue
            ps, pd = off[c.src], off[c.dst]
            ns, nd = t.layer_size(c.src), t.layer_size(c.dst)
            mat[pd:pd + nd, ps:ps + ns] -= self._fwd[c.index].T
            mat[ps:ps + ns, pd:pd + nd] -= self._bwd[c.index].T
        for q, lat in self._lat.items():
            mat[off[q]:off[q] + lat.shape[0], off[q]:off[q] + lat.shape[0]] -= lat.T
        e = np.zeros((n, len(layers)))
        for i, q in enumerate(layers):
            e[off[q]:off[q] + t.layer_size(q), i] = 1.0
        try:
            sol = np.linalg.solve(mat, e)
        except np.linalg.LinAlgError as err:
            raise ConvergenceError(f"numpy backend: the nodal Jacobian is singular ({err})") from None
        return {q: np.ascontiguousarray(sol[off[q]:off[q] + t.layer_size(q)].T) for q in layers}

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

    def cached_input_currents(self, x: np.ndarray) -> dict[int, np.ndarray] | None:
        """``x @ drive`` (A, (B, cols), float64) per input crossbar, from the Norton currents of the last
        solve when it had exactly these inputs (the same array object) and the loaded conductances,
        else None. (Each layer has at most one crossbar from the inputs, so its Norton current is
        that crossbar's.)"""
        cached = self._norton_cache
        if cached is None or cached[0] is not x:
            return None
        t = self.circuit.topology
        return {c: cached[1][t.crossbars[c].dst] for c in self._in_g}

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None,
              norton: dict[int, np.ndarray] | None = None, tol: float | None = None,
              rel_tol: float | None = None) -> Solution:
        """DC operating point of a batch; ``x`` (B, n_inputs), ``i_nudge`` (m*B, 2K) in A.

        ``tol`` (V) overrides the backend's error bound for this solve. ``rel_tol`` (with ``start``)
        also accepts, per layer, an error bound below ``rel_tol`` times the layer's nudge response:
        half the spread between the stacked phases (m >= 2, e.g. +-beta), or the displacement from
        ``start`` (m = 1). That bounds the *relative* error of every layer's response, what the
        EqProp gradient of its crossbars is made of. A layer the response has not reached yet is
        held to ``tol``: the solve cannot stop before the nudge has crossed every layer
        (saturated ones included).
        """
        tol = self.tol if tol is None else float(tol)
        c = self.circuit
        t, p = c.topology, c.params
        x = np.atleast_2d(np.asarray(x))  # the same object for a 2-D array: the cache key below
        cached = self._norton_cache  # the phases of one batch share the Norton currents
        if norton is None and cached is not None and cached[0] is x:
            norton, n_abs = cached[1], cached[2]
        else:
            if norton is None:
                if x.ndim != 2 or x.shape[1] != t.n_inputs:
                    raise ConfigError(f"inputs have shape {x.shape}, the network expects (batch, {t.n_inputs})")
                norton = self.norton(x)
            n_abs = {q: _abs_max(a) for q, a in norton.items()}  # for the rounding floor
            self._norton_cache = (x, norton, n_abs)
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
        # max |R/K of the sources| per layer, and max |v| at the start, for the rounding floor
        bmax = np.zeros(t.n_layers)
        for q in range(1, t.n_layers):
            bmax[q] = n_abs.get(q, 0.0) * self._inv_k_max[q] + self._const_k_max[q]
        if i_nudge is not None:
            bmax[t.output_layer] += _abs_max(i_nudge) * self._inv_k_max[t.output_layer]
        if start is None:
            v_abs0 = np.full(t.n_layers, abs(p.cm))
        else:
            v_abs0 = start.info.get("v_abs_max") if start.info else None
            if v_abs0 is None or len(v_abs0) != t.n_layers:
                v_abs0 = np.array([0.0] + [_abs_max(np.asarray(start.layers[q])) for q in range(1, t.n_layers)])
        if start is not None:
            v = [None] + [np.array(layer, dtype=np.float64) for layer in start.layers[1:]]
            if v[1].shape[0] != m * b:
                raise ConfigError(f"start has {v[1].shape[0]} samples, expected {m * b}")
        else:
            v = [None] + [np.full((m * b, t.layer_size(q)), p.cm) for q in range(1, t.n_layers)]
        incoming, outgoing = self._incoming, self._outgoing
        n_layers = t.n_layers
        moved = np.zeros(n_layers)        # max |change| of each layer in this sweep (V)
        self._moved_last = moved          # read by _node_solve: the previous sweep's changes
        node_err = np.zeros(n_layers)     # max distance of a Shockley node solve to its root (V)
        node_its = 0
        last, rho, sweeps = np.inf, 0.0, 0
        floor = floor_vmax = None
        best, best_sweep = np.inf, 0
        travel = np.zeros(n_layers)      # per layer, sum of the sweeps' max changes (>= max |v - start|)
        newton_its, newton_z, sweeps_before_newton = None, None, None
        while True:
            sweeps += 1
            for q in range(1, n_layers):
                terms = [v[s.src] @ self._fwd_op[s.index] for s in incoming[q]]
                terms += [v[s.dst] @ self._bwd_op[s.index] for s in outgoing[q]]
                if q in self._lat:
                    terms.append(v[q] @ self._lat[q])
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
            ratio = step / last if last > 0 else 0.0
            rho = ratio if sweeps <= 2 else max(ratio, 0.5 * (rho + ratio))
            last = step
            # the bound: residuals KCL_q = alpha G (v_d^new - v_d^old) of the layers d updated after q,
            # node-solve errors and the rounding floor
            travel += moved
            vmax = v_abs0 + travel        # >= max |v| (triangle inequality): no pass over v
            if not np.isfinite(step):
                self._fail(phase, sweeps, step, np.inf, tol, sample_ids, "non-finite node voltages")
            if floor is None or np.any(vmax > floor_vmax):  # the floor grows with |v|: refresh it
                floor_vmax = vmax * 1.01
                floor = self._rounding(floor_vmax, bmax)
            delta = node_err + floor
            bounds = self._bounds(cert, moved, delta)
            bound = float(bounds.max())
            if bound <= tol or (rel_tol is not None and self._relative_ok(bounds, tol, rel_tol, travel, v, start, m)):
                limited = False
                break
            if step < best:
                best, best_sweep = step, sweeps
            # no new smallest step for 20 sweeps, near the floor: rounding noise above the estimate
            stalled = sweeps - best_sweep >= 20 and bool(np.all(moved <= 64.0 * floor))
            if stalled or bool(np.all(moved <= 2.0 * floor) and np.all(node_err <= floor)):
                # at the rounding floor: nothing to gain from more sweeps. The bound above treats every
                # diode as off; with the diodes' conductances around this state it is far tighter
                if stalled:
                    delta = np.maximum(delta, moved)
                    bounds = self._bounds(cert, moved, delta)
                bounds = np.minimum(bounds, self._refined_bounds(v, moved, delta, bounds))
                bound = float(bounds.max())
                limited = bound > tol
                break
            if newton_its is None and self._newton_due(sweeps, rho, bound, tol):
                newton_its, newton_z = self._newton_step(v, base, m, b, travel)
                if newton_its is not None:   # restart the BCD bookkeeping from the Newton point
                    sweeps_before_newton = sweeps
                    moved[:] = 0.0
                    last, rho, best, best_sweep = np.inf, 0.0, np.inf, sweeps
                    floor = None
                    continue
                newton_its = 0           # not available for this circuit: BCD only
            if sweeps >= self.max_sweeps:
                self._fail(phase, sweeps, step, bound, tol, sample_ids)
        if limited:
            logger.debug("numpy backend: %s phase at the rounding floor after %d sweeps: error bound %.2e V "
                         "> tol %.1e V", phase, sweeps, bound, tol)
        info = {"backend": "numpy", "rho": rho, "error_bound": bound, "error_bounds": bounds,
                "rounding_limited": limited, "node_iterations": node_its, "v_abs_max": v_abs0 + travel,
                "solver": "bcd"}
        if sweeps_before_newton is not None:
            info.update(solver="newton", newton_iterations=newton_its, newton_residual=newton_z,
                        sweeps_before_newton=sweeps_before_newton, certifying_sweeps=sweeps - sweeps_before_newton)
        return Solution(v, x, sweeps, info)

    def _newton_due(self, sweeps: int, rho: float, bound: float, tol: float) -> bool:
        """Switch to Newton? After ``newton_after`` sweeps without meeting the bound, if the observed
        contraction predicts more than ``newton_after`` further sweeps (or at thrice that count, or
        one sweep before giving up at ``max_sweeps``: Newton's sweeps count against the budget)."""
        n = self.newton_after
        if n <= 0 or sweeps < n or sweeps >= self.max_sweeps:   # (a certifying sweep must remain)
            return False
        if sweeps == self.max_sweeps - 1 or sweeps >= 3 * n or not 0.0 < rho < 1.0:
            return True
        return np.log(tol / bound) / np.log(rho) > n

    def _newton_system(self) -> NewtonSystem:
        if self._newton is None:
            t, p, d = self.circuit.topology, self.circuit.params, self.circuit.params.diode
            layers = list(range(1, t.n_layers))
            sizes = [t.layer_size(q) for q in layers]
            offsets = list(np.cumsum([0] + sizes[:-1]))
            off = dict(zip(layers, offsets))
            n = int(sum(sizes))
            pr = np.zeros((n, n))
            for c in t.crossbars:
                if c.src == 0:
                    continue
                ps, pd = off[c.src], off[c.dst]
                ns, nd = t.layer_size(c.src), t.layer_size(c.dst)
                pr[ps:ps + ns, pd:pd + nd] += self._fwd[c.index]
                pr[pd:pd + nd, ps:ps + ns] += self._bwd[c.index]
            inv_k = np.concatenate([self._inv_k[q] for q in layers])
            clamped = np.concatenate([np.full(t.layer_size(q), self._clamped[q]) for q in layers])
            big = layers[int(np.argmax(sizes))]
            idx = np.arange(n)
            in_big = (idx >= off[big]) & (idx < off[big] + t.layer_size(big))
            ideal = d.model == "ideal"
            self._newton = NewtonSystem(
                sizes, offsets, pr, inv_k, clamped, ideal,
                v_hi=p.v_clamp_high if ideal else p.v_bias_high, v_lo=p.v_clamp_low if ideal else p.v_bias_low,
                dg=d.g_on - d.g_off, i_s=d.i_s, n_vt=d.n_vt, diode_params=d, elim=idx[in_big], rest=idx[~in_big])
        return self._newton

    def _newton_step(self, v: list, base: dict, m: int, b: int,
                     travel: np.ndarray) -> tuple[int | None, float | None]:
        """Replace the BCD iterate v (in place, per layer) by Newton's refinement of it.

        Adds each layer's change to ``travel`` (so the bookkeeping's |v| and displacement bounds
        stay valid). Returns (iterations, max |KCL / K| at the Newton point (V)), or (None, None) if
        the fallback is not available (too many nodes outside the largest layer)."""
        system = self._newton_system()
        if not system.available:
            return None, None
        t = self.circuit.topology
        layers = range(1, t.n_layers)
        rows = m * b
        src = []
        for q in layers:
            bq = base[q]
            src.append(bq if bq.shape[0] == rows else np.tile(bq, (rows // bq.shape[0], 1)))
        stacked = np.concatenate([v[q] for q in layers], axis=1)
        new, its, zmax = newton_refine(system, np.concatenate(src, axis=1), stacked)
        for q, o in zip(layers, system.offsets):
            part = new[:, o:o + t.layer_size(q)]
            if part.size:
                travel[q] += float(np.max(np.abs(part - v[q])))
            v[q] = np.ascontiguousarray(part)
        logger.debug("numpy backend: Newton fallback, %d iterations, max |KCL/K| %.2e V", its, zmax)
        return its, zmax

    @staticmethod
    def _relative_ok(bounds: np.ndarray, tol: float, rel_tol: float, travel: np.ndarray, v: list,
                     start: Solution | None, m: int) -> bool:
        """Every layer's bound <= max(tol, rel_tol * response), checked layer by layer (one pass each).

        The response of a layer: for m >= 2 stacked phases, half the largest difference between a
        phase and the first (the +-beta spread the centered gradient is made of; a warm start that
        is itself inexact moves both phases alike and does not count); for one phase, the largest
        displacement from ``start``.
        """
        if start is None:  # a cold start has no response to be relative to
            return False
        for q in range(1, len(bounds)):
            if bounds[q] <= tol:
                continue
            if bounds[q] > rel_tol * travel[q]:  # travel bounds the displacement from above
                return False
            if m >= 2:
                blocks = v[q].reshape(m, -1, v[q].shape[1])
                resp = 0.5 * max(_abs_max(blocks[k] - blocks[0]) for k in range(1, m))
            else:
                resp = float(np.max(np.abs(v[q] - start.layers[q])))
            if bounds[q] > rel_tol * resp:
                return False
        return True

    def _fail(self, phase, sweeps, step, err, tol, sample_ids, why: str | None = None) -> None:
        ids = "" if sample_ids is None else f" (samples {list(sample_ids)[:5]}...)"
        what = f": {why}" if why else ""
        raise ConvergenceError(
            f"numpy backend: {phase} phase did not converge in {sweeps} sweeps{ids}{what}: last step "
            f"{step:.2e} V, error bound {err:.2e} V > tol {tol:.1e} V")

    def _bounds(self, cert: _Certificate, moved: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Per-layer bound on |v - v*| (V).

        After a sweep, layer p's residual is alpha G (v_d^new - v_d^old) over the layers d updated
        after it (``moved``: per-layer max change). A node off by delta from its exact local
        solution (Shockley Newton, rounding) is off by delta plus the response to the residual N
        delta it causes in its neighbours (J^-1 D delta = delta + J^-1 N delta).
        local_p = max_{i in p} |r_i| / K_i; then |v - v*| <= delta + J^-1 |r| <= delta + sum_p c_p s^(p).
        """
        local = self._couple_out @ (moved + delta) + self._couple_in @ delta
        coef = cert.a * local + cert.b * float(local.max())
        out = coef @ cert.reach + delta
        out[0] = 0.0
        return out

    def _refined_bounds(self, v: list, moved: np.ndarray, delta: np.ndarray, enclosure: np.ndarray,
                        max_sweeps: int = 500) -> np.ndarray:
        """:meth:`_bounds` with certificates of the Jacobian around this state (per sample).

        ``enclosure`` (per layer, V) is a valid bound on |v - v*|, so the diode conductance of the
        secant between v and v* is at least its minimum over [v - e, v + e] (a diode's conductance
        is monotone in its voltage): J >= J_min + diag(d). Returns +inf per layer if that fails.
        """
        t, p = self.circuit.topology, self.circuit.params
        dm = p.diode
        ratio = {}
        for q in range(1, t.n_layers):
            ratio[q] = 1.0
            if not self._clamped[q] or not np.isfinite(enclosure[q]):
                continue
            e = float(enclosure[q])
            x1, x2 = v[q] - p.v_bias_high, p.v_bias_low - v[q]
            if dm.model == "ideal":
                dg = dm.g_on - dm.g_off
                extra = dg * ((x1 - e > dm.v_th).astype(np.float64) + (x2 - e > dm.v_th))
            else:
                extra = diode_branch(x1 - e, dm)[1] + diode_branch(x2 - e, dm)[1]
            ratio[q] = 1.0 / (1.0 + extra * self._inv_k[q])       # K / (K + d)
        cert = self._layer_certificates(ratio, v[1].shape[0], max_sweeps)
        if cert is None:
            return np.full(t.n_layers, np.inf)
        return self._bounds(cert, moved, delta)

    def _rounding(self, vmax: np.ndarray, bmax: np.ndarray) -> np.ndarray:
        """Per-layer rounding floor (V) of a node solve: a few ulps of the magnitudes summed into R/K
        (``vmax``, ``bmax``: per layer max |v| and max |R/K of the sources|)."""
        mag = vmax + bmax + self._couple_in @ vmax + self._couple_out @ vmax
        return self._ulps * mag

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
            # early sweeps need no rounding-level node solves: 1e-3 of the layer's last change suffices
            # (the node's remaining distance enters the error bound)
            return shockley_node_solve(k, v0 * k, p, prev, xtol=1e-3 * self._moved_last[q])
        cl = np.maximum(v0, p.v_clamp_low)
        np.minimum(cl, p.v_clamp_high, out=cl)
        v0 -= cl
        v0 *= self._frac[q]
        v0 += cl
        return v0, 0.0, 0


def shockley_node_solve(k: np.ndarray, r: np.ndarray, p, start: np.ndarray | None = None, xtol: float = 0.0,
                        max_iterations: int = SHOCKLEY_MAX_ITERATIONS) -> tuple[np.ndarray, float, int]:
    """Solve F(v) = K v - R + i_D(v - V_BH) - i_D(V_BL - v) = 0 for every node (vectorised).

    ``k`` (n,) S, ``r`` (B, n) A, ``p`` the CircuitParams, ``start`` (B, n) V a warm start.
    F is strictly increasing (F' >= K > 0). The iteration keeps a bracket [lo, hi] with
    F(lo) <= 0 <= F(hi) (initially around R/K and both diode biases, where the signs are
    guaranteed). Where a forward-biased diode dominates F' its current, not v, is the Newton
    variable: v_new = v -+ n Vt ln(1 +- F / (n Vt F')) (F is nearly linear in that current, so
    exponential regions take a few steps instead of one thermal voltage per step); elsewhere
    plain Newton; any step leaving the bracket bisects. A node is done when |F| is at the
    rounding level of its terms, its bracket is a few ulps wide, or its Newton step |F|/F' is
    below ``xtol`` (V); it returns the last point where F was evaluated. With series resistance
    (``p.diode.r_s`` > 0, :func:`~ebana.circuit.diode_branch`) the steps are plain Newton.

    Returns (v, max |F|/F' (V, the distance to the root), iterations); raises ConvergenceError
    if a node is not done after ``max_iterations``.
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
            n_a = va.size
            i12, g12 = diode_branch(np.concatenate([x1, x2]), d)  # both diodes in one pass
            i1, i2, g1, g2 = i12[:n_a], i12[n_a:], g12[:n_a], g12[n_a:]
            lin = ka * va - ra
            f = lin + i1 - i2
            fp = ka + g1 + g2
            ftol = 4.0 * _EPS * (np.abs(ka * va) + np.abs(ra) + np.abs(i1) + np.abs(i2) + fp * (np.abs(va) + 1e-3))
            la, ha = lo[act], hi[act]
            la = np.where(f <= 0, va, la)
            ha = np.where(f >= 0, va, ha)
            af = np.abs(f)
            done = (af <= ftol) | (ha - la <= 4.0 * _EPS * np.maximum(np.abs(la), np.abs(ha)))
            if xtol > 0:
                done |= af <= xtol * fp
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
            if d.r_s > 0:      # series resistance: the branch is not exponential in v; Newton + bisection
                bad = ~((new > la) & (new < ha))
                v = np.where(bad, 0.5 * (la + ha), new)
                continue
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
