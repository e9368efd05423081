"""Exact rung-by-rung elimination of a crossbar's internal network (resistive wordlines and bitlines).

Geometry as in :mod:`ebana.lines`: wordline i (a "rung") is a chain of row nodes r(i, 0..C-1), joined
by g_w = 1/r_wordline, driven at its left end (through g_d = 1/r_driver, or r(i, 0) is the source
itself when r_driver = 0); bitline j is a chain of column nodes c(0..R-1, j) joined by g_b =
1/r_bitline, ending at the neuron node through g_s = 1/r_sense (or c(R-1, j) is the neuron node when
r_sense = 0); device G_ij joins r(i, j) and c(i, j). All values SI (S, V, A).

For column voltages c_i held fixed, rung i's row chain is linear: r_i = rho_i u_i + N_i c_i (u_i its
source voltage), so the rung delivers f_i u_i - S_i c_i (A) into its column nodes, f_i = G_i rho_i,
S_i = diag(G_i) - diag(G_i) N_i (a C x C admittance). Going down the bitlines, everything above
and including rung i acts on the cut c_i as a Norton source J_i - E_i c_i (C x C admittance E_i, A
per V); a bitline segment in series turns it into Q_i J_i - Q_i E_i c_{i+1}, Q_i = g_b (g_b + E_i)^-1
(current division; no cancellation: E_i is a sum of such positive terms), so

    E_0 = S_0, J_0 = f_0 u_0;   E_i = S_i + Q_{i-1} E_{i-1},   J_i = f_i u_i + Q_{i-1} J_{i-1}.

At the bottom the neuron nodes see Y_cc = E_{R-1} (through the sense resistance: Q_s E_{R-1}) and
the sources through Y_cs[:, i] = -Phi_i f_i, Phi_i the product of the Q's from rung i down: the
columns of the port admittance Y at the column ends, exactly, with R dense C x C steps (BLAS-3),
no sparse factorisation. The cell voltages of a state follow back up: c_i = Q_i (J_i / g_b + c_{i+1}),
then every rung's row chain by one tridiagonal (Thomas) solve, vectorised over all rungs and states.

Cost: O(R C^3) per weight update and O(R C^2) per state; memory R C^2 float64 (the Q_i). Used by
:class:`ebana.lines.CrossbarLines` when both r_wordline > 0 and r_bitline > 0 (every cell has its
own row and column node); with an ideal wordline or bitline it uses its sparse LU instead.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["RungElimination"]


def _chain_factors(diag: np.ndarray, g_link: float) -> tuple[np.ndarray, np.ndarray]:
    """LU (Thomas) factors of tridiagonal chains, one per row of ``diag`` (S), off-diagonal -g_link:
    (1 / pivot, upper multiplier), each shaped like ``diag``. The chains are M-matrices (no pivoting)."""
    inv_m, up = np.empty_like(diag), np.empty_like(diag)
    for j in range(diag.shape[1]):
        m = diag[:, j] if j == 0 else diag[:, j] - g_link * up[:, j - 1]
        inv_m[:, j] = 1.0 / m
        up[:, j] = g_link * inv_m[:, j]
    return inv_m, up


def _chain_solve(rhs: np.ndarray, inv_m: np.ndarray, up: np.ndarray, g_link: float) -> None:
    """Solve every chain for ``rhs`` (chains, n, K) in place (A per node -> V); factors (chains, n)."""
    n = rhs.shape[1]
    if n == 0:
        return
    rhs[:, 0] *= inv_m[:, 0, None]
    for j in range(1, n):
        rhs[:, j] += g_link * rhs[:, j - 1]
        rhs[:, j] *= inv_m[:, j, None]
    for j in range(n - 2, -1, -1):
        rhs[:, j] += up[:, j, None] * rhs[:, j + 1]


def _spd_inverse(e: np.ndarray, shift: float) -> np.ndarray:
    """(shift I + e)^-1 for a symmetric positive definite admittance ``e`` (S) and ``shift`` > 0 (S),
    by Cholesky (LAPACK potrf / potri). Raises LinAlgError if the factorisation fails."""
    a = e.copy()
    a.flat[:: a.shape[0] + 1] += shift
    c, info = lapack.dpotrf(a, lower=1, overwrite_a=1)
    if info == 0:
        c, info = lapack.dpotri(c, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"rung elimination: Cholesky of a {a.shape[0]}x{a.shape[0]} cut admittance "
                                    f"failed (info {info})")
    lower = np.tril(c)
    lower += np.tril(c, -1).T
    return lower


class RungElimination:
    """The internal network of one crossbar (R x C devices ``g``, S) with resistive wordlines and
    bitlines, eliminated rung by rung (see the module docstring). Resistances in ohm: per cell segment
    of a wordline and of a bitline (both > 0), the driver and the sense resistance (>= 0; 0 joins the
    line end to its source / neuron node)."""

    def __init__(self, g: np.ndarray, r_wordline: float, r_bitline: float, r_driver: float,
                 r_sense: float) -> None:
        if not (r_wordline > 0 and r_bitline > 0):
            raise ValueError("rung elimination needs resistive wordlines and bitlines")
        g = np.asarray(g, dtype=np.float64)
        n_r, n_c = g.shape
        self.shape = (n_r, n_c)
        self._g = g
        self.g_w, self.g_b = 1.0 / r_wordline, 1.0 / r_bitline
        self.g_s = 1.0 / r_sense if r_sense > 0 else None
        driven = r_driver > 0
        self._j0 = 0 if driven else 1                      # first row-chain unknown (r(i, 0) is the source)
        self._g_end = 1.0 / r_driver if driven else self.g_w
        self._row_factors = self._row_chain()
        rho, s = self._rung_stamps()
        self._f = g * rho                                  # (R, C) A per V of the rung's source
        self._q, e_last = self._descend(s)
        del s
        if self.g_s is not None:
            q_s = self.g_s * _spd_inverse(e_last, self.g_s)
            self._y_cc = q_s @ e_last
        else:
            q_s, self._y_cc = None, e_last
        self._y_cc = 0.5 * (self._y_cc + self._y_cc.T)
        self._q_s = q_s
        self._e_last = e_last

    # ------------------------------------------------------------------ setup
    def _row_chain(self) -> tuple[np.ndarray, np.ndarray]:
        """Thomas factors of every rung's row chain over its unknown nodes j0..C-1 (S)."""
        g = self._g[:, self._j0:]
        n = g.shape[1]
        diag = g + 2.0 * self.g_w
        if n:
            diag[:, 0] += self._g_end - self.g_w           # the first node's left link is the driver end
            diag[:, -1] -= self.g_w                        # the last node has no right neighbour
        return _chain_factors(diag, self.g_w)

    def _rung_stamps(self) -> tuple[np.ndarray, np.ndarray]:
        """rho (R, C): row-node voltage per volt of the rung's source (columns at 0 V); S (R, C, C):
        the rung's admittance at its column nodes (sources at 0 V), diag(G) - G_J M G_J."""
        n_r, n_c = self.shape
        j0 = self._j0
        n = n_c - j0
        idx = np.arange(n_c)
        s = np.zeros((n_r, n_c, n_c))
        m = s[:, j0:, j0:]
        m[:, idx[:n], idx[:n]] = 1.0
        _chain_solve(m, *self._row_factors, self.g_w)      # M = (T + diag G)^-1 per rung (ohm), in place
        rho = np.ones((n_r, n_c))
        if n:
            rho[:, j0:] = self._g_end * m[:, :, 0]
        gj = self._g[:, j0:]
        m *= gj[:, :, None]
        m *= -gj[:, None, :]
        s[:, idx, idx] += self._g
        return rho, s

    def _descend(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q_i = g_b (g_b + E_i)^-1 for rungs 0..R-2 (R-1, C, C) and E_{R-1} (C, C) (S)."""
        n_r, n_c = self.shape
        q = np.empty((max(n_r - 1, 0), n_c, n_c))
        e = s[0].copy()
        for i in range(n_r - 1):
            q[i] = _spd_inverse(e, self.g_b)
            q[i] *= self.g_b
            e = q[i] @ e
            e += s[i + 1]
            e += e.T
            e *= 0.5                                       # symmetric in exact arithmetic
        return q, e

    # ------------------------------------------------------------------ results
    def column_admittance(self) -> tuple[np.ndarray, np.ndarray]:
        """Y at the column ends: (Y_rc (R, C), Y_cc (C, C)) (S); current into the crossbar at row end i
        (column end j) per volt at column end k, all other ends at 0 V. Y_rc = Y_cr^T."""
        n_r, n_c = self.shape
        y_rc = np.empty((n_r, n_c))
        phi = self._q_s.copy() if self._q_s is not None else np.eye(n_c)
        y_rc[n_r - 1] = -(phi @ self._f[n_r - 1])
        for i in range(n_r - 2, -1, -1):
            phi = phi @ self._q[i]
            y_rc[i] = -(phi @ self._f[i])
        return np.minimum(y_rc, 0.0), self._y_cc.copy()

    def cell_voltages(self, vt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column node voltages of every device, each (R, C, K) (V), at terminal voltages
        ``vt`` (K, R + C) (the rung sources, then the neuron nodes)."""
        n_r, n_c = self.shape
        vt = np.atleast_2d(np.asarray(vt, dtype=np.float64))
        u, v = vt[:, :n_r].T, vt[:, n_r:].T                  # (R, K), (C, K)
        c = self._f[:, :, None] * u[:, None, :]             # (R, C, K): f_i u_i, then J_i, then c_i
        for i in range(1, n_r):
            c[i] += self._q[i - 1] @ c[i - 1]
        self._ascend(c, v)
        return self._rows(c, u), c

    def column_unit_cell_voltages(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`cell_voltages` (R, C, K) for 1 V on each neuron node of ``cols`` (column indices),
        0 V at every other end."""
        n_r, n_c = self.shape
        cols = np.asarray(cols)
        v = np.zeros((n_c, cols.size))
        v[cols, np.arange(cols.size)] = 1.0
        c = np.zeros((n_r, n_c, cols.size))
        self._ascend(c, v)
        return self._rows(c, np.zeros((n_r, cols.size))), c

    def _ascend(self, c: np.ndarray, v: np.ndarray) -> None:
        """Column node voltages (R, C, K) in place of the Norton currents J in ``c``, neuron nodes at ``v``."""
        n_r = self.shape[0]
        if self.g_s is not None:
            c[-1] = self._q_s @ (c[-1] / self.g_s + v)
        else:
            c[-1] = v
        for i in range(n_r - 2, -1, -1):
            c[i] *= 1.0 / self.g_b
            c[i] += c[i + 1]
            c[i] = self._q[i] @ c[i]

    def _rows(self, c: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Row node voltages (R, C, K) (V) from column node voltages ``c`` (R, C, K) and sources ``u`` (R, K)."""
        j0 = self._j0
        r = np.empty_like(c)
        r[:, :j0] = u[:, None, :]
        rhs = self._g[:, j0:, None] * c[:, j0:]
        if rhs.shape[1]:
            rhs[:, 0] += self._g_end * u
        _chain_solve(rhs, *self._row_factors, self.g_w)
        r[:, j0:] = rhs
        return r

    def drops(self, vt: np.ndarray) -> np.ndarray:
        """Voltage across every device (R, C, K) (V) at terminal voltages ``vt`` (K, R + C)."""
        r, c = self.cell_voltages(vt)
        r -= c
        return r

    def column_unit_drops(self, cols: np.ndarray) -> np.ndarray:
        """Device drops (R, C, K) (V per V) for 1 V on each neuron node of ``cols``."""
        r, c = self.column_unit_cell_voltages(cols)
        r -= c
        return r
