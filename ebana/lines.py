"""Line resistance inside one crossbar: the resistor network between its line ends, solved exactly.

Geometry (the netlist, :mod:`ebana.netlist`, draws the same circuit; all values SI):

* every device (i, j) has its own row node r(i, j) and column node c(i, j);
* wordline i is **driven from the left**: its source (an input or bias source, or the amplifier
  output of hidden neuron i) reaches r(i, 0) through the driver resistance ``r_driver``, then
  r(i, j-1) - r(i, j) are joined by ``r_wordline`` per cell segment;
* bitline j is **sensed at the bottom**: c(i, j) - c(i+1, j) are joined by ``r_bitline`` per cell
  segment and c(R-1, j) (the last row, the bias rows included) reaches the neuron node through
  the sense resistance ``r_sense``.

EqProp layers are bidirectional: a hidden neuron node is read and driven through the same wire.
It attaches to the bottom end of its bitline in the crossbar that feeds it and, through its
amplifier, to the left end of its wordline in every crossbar it feeds. A zero resistance joins
its two nodes (no resistor is drawn): with ``r_wordline = 0`` a wordline is one node, with
``r_driver = 0`` as well that node is the source itself (likewise bitlines and ``r_sense``).

Masked crossbars (graph edges, ``local`` / ``conv`` / ``avg`` layers): the wires run over every cell,
only the device of an absent cell is missing (G = 0 S, no resistor in the netlist). Its row and
column nodes stay, joined to their neighbours by the wire segments; every cell node reaches a line
end through wire resistors, so none floats (ngspice sees a DC path) and the grounded internal
Laplacian stays nonsingular (the rung elimination's row chains and cut admittances g_b + E_i stay
positive definite). A node with no device anywhere on its line carries its line end's voltage. A
column without any device is a bitline that carries no current (its Y entries are 0).

For fixed conductances the crossbar is a linear multi-port between its R row ends and C column
ends. :class:`CrossbarLines` eliminates the internal cell nodes exactly (once per set of
conductances, kept until G changes) and gives the port admittance Y (the Schur complement, a
symmetric Laplacian M-matrix; for ideal wires it is [[diag(row sums), -G], [-G^T, diag(column
sums)]]) and, per solved state, the voltages of the cell nodes.

Which path solves the internal network (both direct and exact to rounding; no iteration, so no
error bound beyond float64 rounding is involved, as with any direct solve):

* wordlines and bitlines both resistive (r_wordline > 0 and r_bitline > 0), and 2 R C^2 float64 within
  ``_RUNG_BYTES``: the rung-by-rung elimination of :mod:`ebana.rungs` (dense C x C steps down the
  bitlines; Y's columns at the column ends directly, O(R C^3) per weight update, O(R C^2) per state);
* otherwise (an ideal wordline or bitline joins nodes, or the crossbar is too wide): the sparse LU
  of the grounded internal Laplacian (:func:`scipy.sparse.linalg.splu`, symmetric ordering, no
  pivoting) and back-substitutions; ``method="lu"`` forces it (the reference the tests compare the
  rung elimination with).

Y's columns at the row ends (a crossbar between neuron layers needs all of Y) come from the unit
responses of whichever path solves the crossbar (:meth:`CrossbarLines.unit_drops`).

The EqProp batch sum (:meth:`CrossbarLines.squared_drop_difference`) takes min(2 B, 2 |k|) state
solves, |k| the terminals whose voltage differs between the two phases (an input crossbar: its C
columns), whatever the batch B. A batched block line relaxation (wordline / bitline Thomas solves
alternated) contracts by ~0.02 per sweep on the MNIST input crossbar at 1 ohm per segment but in
numpy costs more per right-hand side than either direct path (``benchmarks/line_relaxation_probe.py``),
so it is not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["LineResistance", "CrossbarLines"]

logger = logging.getLogger(__name__)

_SOLVE_CHUNK = 64   # right-hand sides per sparse back-substitution (bounds the dense block's memory)
_UNIT_CACHE_BYTES = 256 * 2**20   # unit responses port_admittance keeps for squared_drop_difference
_RUNG_BYTES = 2**30   # the rung elimination keeps 2 R C^2 float64 (Q_i, W_i); over this: the sparse LU


@dataclass(frozen=True, slots=True)
class LineResistance:
    """Wire resistances (ohm) of every crossbar: per cell segment of a wordline and of a bitline,
    the driver resistance at a wordline's driven (left) end, the sense resistance at a bitline's
    neuron (bottom) end. All 0: ideal wires."""

    r_wordline: float = 0.0
    r_bitline: float = 0.0
    r_driver: float = 0.0
    r_sense: float = 0.0

    @property
    def on(self) -> bool:
        return any(r > 0 for r in (self.r_wordline, self.r_bitline, self.r_driver, self.r_sense))


def row_cell(lines: LineResistance, i: int, j: int) -> tuple[str, int, int]:
    """The node of device (i, j)'s row end: ("terminal", i, 0) for the row's source itself, else
    ("cell", i, j') with j' the representative cell of the joined nodes (zero resistances join)."""
    jj = j if lines.r_wordline > 0 else 0
    if jj == 0 and lines.r_driver == 0:
        return ("terminal", i, 0)
    return ("cell", i, jj)


def col_cell(lines: LineResistance, n_rows: int, i: int, j: int) -> tuple[str, int, int]:
    """The node of device (i, j)'s column end: ("terminal", 0, j) for the neuron node itself, else
    ("cell", i', j) with i' the representative cell (the bottom row R-1 when bitlines are ideal)."""
    ii = i if lines.r_bitline > 0 else n_rows - 1
    if ii == n_rows - 1 and lines.r_sense == 0:
        return ("terminal", 0, j)
    return ("cell", ii, j)


class CrossbarLines:
    """The internal network of one crossbar with line resistance, for one set of conductances.

    Node numbering: terminals first (rows 0..R-1, then columns R..R+C-1), then the internal
    cell nodes. ``port_admittance(need)`` gives the columns ``need`` of Y (A/V: current into the
    crossbar at every terminal per volt at a terminal in ``need``); ``cell_voltages`` the cell
    node voltages of solved states.
    """

    def __init__(self, g: np.ndarray, lines: LineResistance, method: str = "auto") -> None:
        """``method``: "auto" eliminates rung by rung (:mod:`ebana.rungs`) when wordlines and bitlines
        are both resistive and its two R C^2 matrices fit in ``_RUNG_BYTES``, else uses the sparse LU; "lu"
        always uses the sparse LU (the reference)."""
        if method not in ("auto", "lu"):
            raise ValueError(f"CrossbarLines method must be 'auto' or 'lu', got {method!r}")
        import scipy.sparse as sp

        g = np.asarray(g, dtype=np.float64)
        n_r, n_c = g.shape
        self.shape = (n_r, n_c)
        n_t = n_r + n_c
        # node of every device's row end: the source (terminal i) or a cell node; zero resistances join
        rid = np.empty((n_r, n_c), dtype=np.int64)
        cid = np.empty((n_r, n_c), dtype=np.int64)
        nxt = n_t
        rep = np.zeros((n_r, n_c), dtype=bool)      # representative row cells that are internal nodes
        if lines.r_wordline > 0:
            rep[:] = True
        else:
            rep[:, 0] = True
        if lines.r_driver == 0:
            rep[:, 0] = False
        k = int(rep.sum())
        rid[rep] = nxt + np.arange(k)
        nxt += k
        if lines.r_driver == 0:
            rid[:, 0] = np.arange(n_r)
        if lines.r_wordline == 0:
            rid[:] = rid[:, :1]
        rep = np.zeros((n_r, n_c), dtype=bool)      # representative column cells (the bottom row R-1)
        if lines.r_bitline > 0:
            rep[:] = True
        else:
            rep[-1, :] = True
        if lines.r_sense == 0:
            rep[-1, :] = False
        k = int(rep.sum())
        cid[rep] = nxt + np.arange(k)
        nxt += k
        if lines.r_sense == 0:
            cid[-1, :] = n_r + np.arange(n_c)
        if lines.r_bitline == 0:
            cid[:] = cid[-1:, :]
        n = nxt
        self.n_internal = n - n_t
        a_idx, b_idx, cond = [rid.ravel()], [cid.ravel()], [g.ravel()]
        if lines.r_driver > 0:
            a_idx.append(np.arange(n_r))
            b_idx.append(rid[:, 0])
            cond.append(np.full(n_r, 1.0 / lines.r_driver))
        if lines.r_wordline > 0 and n_c > 1:
            a_idx.append(rid[:, :-1].ravel())
            b_idx.append(rid[:, 1:].ravel())
            cond.append(np.full(n_r * (n_c - 1), 1.0 / lines.r_wordline))
        if lines.r_bitline > 0 and n_r > 1:
            a_idx.append(cid[:-1, :].ravel())
            b_idx.append(cid[1:, :].ravel())
            cond.append(np.full((n_r - 1) * n_c, 1.0 / lines.r_bitline))
        if lines.r_sense > 0:
            a_idx.append(cid[-1, :])
            b_idx.append(n_r + np.arange(n_c))
            cond.append(np.full(n_c, 1.0 / lines.r_sense))
        a_all, b_all, c_all = np.concatenate(a_idx), np.concatenate(b_idx), np.concatenate(cond)
        rows = np.concatenate([a_all, b_all, a_all, b_all])
        cols = np.concatenate([b_all, a_all, a_all, b_all])
        vals = np.concatenate([-c_all, -c_all, c_all, c_all])
        lap = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
        lap.sum_duplicates()
        l_it = lap[n_t:, :n_t].tocsr()
        self._touch = np.flatnonzero(np.diff(l_it.indptr))           # internal nodes next to a terminal
        self._l_touch = l_it[self._touch]                              # their couplings (S), CSR
        self._rungs = None
        if method == "auto" and lines.r_wordline > 0 and lines.r_bitline > 0 and \
                2 * n_r * n_c * n_c * 8 <= _RUNG_BYTES:
            from ebana.rungs import RungElimination
            try:
                self._rungs = RungElimination(g, lines.r_wordline, lines.r_bitline, lines.r_driver,
                                               lines.r_sense)
            except np.linalg.LinAlgError as err:   # not expected (SPD cuts); the sparse LU is exact too
                logger.warning("%s: using the sparse LU", err)
        # L_ii is a symmetric, diagonally dominant M-matrix: no pivoting, a symmetric ordering; factored
        # when first needed (never, when the rung elimination serves every request)
        self._lap_ii = lap[n_t:, n_t:].tocsc() if self.n_internal else None
        self._lu = None
        self._g = g
        self._rid, self._cid = rid, cid   # node of every device's row / column end (terminals first)
        self._unit_cache: tuple[np.ndarray, np.ndarray] | None = None   # (terminals, their unit drops)

    def port_admittance(self, need: np.ndarray | None = None) -> np.ndarray:
        """Columns ``need`` (terminal indices; default all) of the port admittance Y, (R+C, len(need)) S.

        Y = L_tt - L_ti L_ii^-1 L_it, formed without its cancellation: column k is the response to
        1 V on terminal k (0 V on the others), and the current into the crossbar at a row end is the
        sum of the currents G_ij (V_r - V_c) of that row's devices (KCL on the whole wordline; at a
        column end minus the column's sum), so a stiff wire (1/r >> G) costs no digits. Off-diagonal
        entries are clipped to <= 0 (Y is a Laplacian M-matrix; rounding may leave +1e-30).

        The device drops of these unit responses are kept (within ``_UNIT_CACHE_BYTES``): they are
        the columns of the linear map terminals -> drops that :meth:`squared_drop_difference` needs."""
        n_r, n_c = self.shape
        n_t = n_r + n_c
        need = np.arange(n_t) if need is None else np.asarray(need)
        if self._rungs is not None and np.all(need >= n_r):
            y_rc, y_cc = self._rungs.column_admittance()
            return np.concatenate([y_rc[:, need - n_r], y_cc[:, need - n_r]], axis=0)
        out = np.empty((n_t, need.size))
        keep = need.size * n_r * n_c * 8 <= _UNIT_CACHE_BYTES
        cache = np.empty((need.size, n_r, n_c)) if keep else None
        for k in range(0, need.size, _SOLVE_CHUNK):
            cols = need[k:k + _SOLVE_CHUNK]
            d = self.unit_drops(cols)                                     # (b, R, C) V per V
            if cache is not None:
                cache[k:k + cols.size] = d
            d *= self._g                                                  # (b, R, C) A per V
            out[:n_r, k:k + cols.size] = d.sum(axis=2).T
            out[n_r:, k:k + cols.size] = -d.sum(axis=1).T
        if cache is not None:
            self._unit_cache = (need.copy(), cache)
        diag = np.zeros_like(out, dtype=bool)
        diag[need, np.arange(need.size)] = True
        np.minimum(out, 0.0, out=out, where=~diag)
        return out

    def unit_drops(self, terminals: np.ndarray) -> np.ndarray:
        """Device drops (b, R, C) (V per V) for 1 V on each terminal of ``terminals`` (0 V on the
        others): the columns of the linear map from terminal voltages to device drops."""
        return np.ascontiguousarray(np.moveaxis(self._unit_drops_last(terminals), -1, 0))

    def _unit_drops_last(self, terminals: np.ndarray) -> np.ndarray:
        """:meth:`unit_drops` as (R, C, b) (V per V), from the responses :meth:`port_admittance`
        kept where it has them all."""
        n_r = self.shape[0]
        terminals = np.asarray(terminals)
        if self._rungs is not None and np.all(terminals >= n_r):
            return self._rungs.column_unit_drops(terminals - n_r)
        if self._unit_cache is not None:
            need, cache = self._unit_cache
            where = np.full(sum(self.shape), -1)
            where[need] = np.arange(need.size)
            pos = where[terminals]
            if np.all(pos >= 0):
                return np.moveaxis(cache[pos], 0, -1)
        n_t = sum(self.shape)
        vt = np.zeros((terminals.size, n_t))
        vt[np.arange(terminals.size), terminals] = 1.0
        return self._drops_last(vt)

    def _drops_last(self, vt: np.ndarray) -> np.ndarray:
        """:meth:`terminal_drops` as (R, C, b) (V)."""
        if self._rungs is not None:
            return self._rungs.drops(vt)
        return np.moveaxis(self.terminal_drops(vt), 0, -1)

    def squared_drop_difference(self, vt_a: np.ndarray, vt_b: np.ndarray) -> np.ndarray:
        """sum_batch [d_a^2 - d_b^2] (R, C) (V^2), d the device drops at terminal voltages ``vt_a``,
        ``vt_b`` (B, R + C) (rows, then columns) of two states of the same batch.

        Drops are linear in the terminal voltages, d = P v with P the (R C) x (R + C) map whose
        columns are :meth:`unit_drops`. With dv = v_a - v_b and sv = v_a + v_b,
        sum_b d_a^2 - d_b^2 = sum_b (P dv_b) (P sv_b) = sum_k (P e_k) * P (sum_b dv_bk sv_b),
        summed over the terminals k whose voltage differs between the states (for an input crossbar
        only its columns: its rows are the same sources in both phases). That is 2 |k| solves (|k|
        with the unit responses :meth:`port_admittance` kept) instead of 2 B, independent of the batch;
        when 2 B is smaller the drops of every state are formed instead. Both are exact."""
        vt_a, vt_b = np.atleast_2d(vt_a), np.atleast_2d(vt_b)
        dv = vt_a - vt_b
        differs = np.flatnonzero(np.any(dv != 0.0, axis=0))
        out = np.zeros(self.shape)
        if differs.size == 0:
            return out
        if differs.size < dv.shape[0]:
            x = dv[:, differs].T @ (vt_a + vt_b)                          # (|k|, R + C) V^2
            if self._rungs is not None and np.all(differs >= self.shape[0]):   # one pass per chunk
                for k in range(0, differs.size, 2 * _SOLVE_CHUNK):
                    sl = slice(k, k + 2 * _SOLVE_CHUNK)
                    out += self._rungs.column_response_products(differs[sl] - self.shape[0], x[sl])
                return out
            for k in range(0, differs.size, _SOLVE_CHUNK):
                sl = slice(k, k + _SOLVE_CHUNK)
                out += np.einsum("ijk,ijk->ij", self._unit_drops_last(differs[sl]), self._drops_last(x[sl]))
            return out
        for k in range(0, dv.shape[0], _SOLVE_CHUNK):
            sl = slice(k, k + _SOLVE_CHUNK)
            out += np.einsum("ijk,ijk->ij", self._drops_last(dv[sl]), self._drops_last(vt_a[sl] + vt_b[sl]))
        return out

    def terminal_drops(self, vt: np.ndarray) -> np.ndarray:
        """Voltage across every device, row node minus column node (B, R, C) (V), at terminal
        voltages ``vt`` (B, R + C) (rows, then columns)."""
        vt = np.atleast_2d(np.asarray(vt, dtype=np.float64))
        if self._rungs is not None:
            return np.ascontiguousarray(np.moveaxis(self._rungs.drops(vt), -1, 0))
        out = np.empty((vt.shape[0], self.shape[0] * self.shape[1]))
        rid, cid = self._rid.ravel(), self._cid.ravel()
        for k in range(0, vt.shape[0], _SOLVE_CHUNK):
            nodes = self._node_voltages(vt[k:k + _SOLVE_CHUNK])
            blk = out[k:k + _SOLVE_CHUNK]
            np.take(nodes, rid, axis=1, out=blk)
            blk -= np.take(nodes, cid, axis=1)
        return out.reshape((vt.shape[0],) + self.shape)

    def _node_voltages(self, vt: np.ndarray) -> np.ndarray:
        """Voltages (b, n) (V) of every node (terminals first, then the internal cell nodes) at
        terminal voltages ``vt`` (b, R + C): one sparse back-substitution per row of ``vt``."""
        n_t = vt.shape[1]
        nodes = np.empty((vt.shape[0], n_t + self.n_internal))
        nodes[:, :n_t] = vt
        if self._lap_ii is not None:
            if self._lu is None:
                from scipy.sparse.linalg import splu
                self._lu = splu(self._lap_ii, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                options=dict(SymmetricMode=True))
            rhs = np.zeros((self.n_internal, vt.shape[0]), order="F")      # L_it V_t (A), nonzero next
            rhs[self._touch] = self._l_touch @ vt.T                           # to the terminals only
            vi = self._lu.solve(rhs)                                          # (n_int, b): -V_internal
            np.negative(vi.T, out=nodes[:, n_t:])
        return nodes

    def cell_voltages(self, v_rows: np.ndarray, v_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Voltages (V) of every device's row and column node, each (B, R, C), at terminal voltages
        ``v_rows`` (B, R) (the line sources) and ``v_cols`` (B, C) (the neuron nodes)."""
        vt = np.concatenate([np.atleast_2d(v_rows), np.atleast_2d(v_cols)], axis=1)   # (B, n_t)
        if self._rungs is not None:
            return tuple(np.ascontiguousarray(np.moveaxis(a, -1, 0)) for a in self._rungs.cell_voltages(vt))
        vr, vc = np.empty((vt.shape[0],) + self.shape), np.empty((vt.shape[0],) + self.shape)
        for k in range(0, vt.shape[0], _SOLVE_CHUNK):
            nodes = self._node_voltages(vt[k:k + _SOLVE_CHUNK])
            vr[k:k + _SOLVE_CHUNK], vc[k:k + _SOLVE_CHUNK] = nodes[:, self._rid], nodes[:, self._cid]
        return vr, vc

    def drops(self, v_rows: np.ndarray, v_cols: np.ndarray) -> np.ndarray:
        """Voltage across every device, row node minus column node (B, R, C) (V)."""
        return self.terminal_drops(np.concatenate([np.atleast_2d(v_rows), np.atleast_2d(v_cols)], axis=1))
