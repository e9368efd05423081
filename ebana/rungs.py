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
and with them every device's drop, d_i = W_i c_i + rho_i u_i (W_i = N_i - I), one C x C product per rung.

Cost: O(R C^3) per weight update and O(R C^2) per state; memory 2 R C^2 float64 (the Q_i and the
rungs' drop maps W_i). Used by :class:`ebana.lines.CrossbarLines` when both r_wordline > 0 and
r_bitline > 0 (every cell has its own row and column node) and the two fit its memory budget; with
an ideal wordline or bitline, or a crossbar too wide, it uses its sparse LU instead.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["RungElimination"]

_STAMP_CHUNK = 128   # rungs whose row-chain inverses are formed at once


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


def _spd_inverse(e: np.ndarray, shift: float, full: bool = True) -> np.ndarray:
    """(shift I + e)^-1 for a symmetric positive definite admittance ``e`` (S; its lower triangle is
    read) and ``shift`` > 0 (S), by Cholesky (LAPACK potrf / potri); ``full=False``: only the lower
    triangle of the result is valid. Raises LinAlgError if the factorisation fails."""
    a = e.copy()
    a.flat[:: a.shape[0] + 1] += shift
    c, info = lapack.dpotrf(a, lower=1, overwrite_a=1)
    if info == 0:
        c, info = lapack.dpotri(c, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"rung elimination: Cholesky of a {a.shape[0]}x{a.shape[0]} cut admittance "
                                    f"failed (info {info})")
    if full:
        upper = np.triu_indices(c.shape[0], 1)
        c[upper] = c.T[upper]
    return c


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
        self._rho = rho = self._rung_stamps()
        self._f = g * rho                                  # (R, C) A per V of the rung's source
        self._q, e_last = self._descend()
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

    def _rung_stamps(self) -> np.ndarray:
        """rho (R, C): row-node voltage per volt of the rung's source (columns at 0 V). Keeps
        W = N - I (R, C, C): the drops r - c per volt at the column nodes (sources at 0 V), N = M
        diag(G) the row nodes' response, M = (T + diag G)^-1 the row chain's inverse (ohm). The
        rung's admittance at its column nodes is S = diag(G) - diag(G) N = -diag(G) W."""
        n_r, n_c = self.shape
        j0 = self._j0
        n = n_c - j0
        idx = np.arange(n)
        rho = np.ones((n_r, n_c))
        self._w = w = np.zeros((n_r, n_c, n_c))
        inv_m, up = self._row_factors
        for a in range(0, n_r, _STAMP_CHUNK):              # rungs at a time: the blocks stay in cache
            b = min(a + _STAMP_CHUNK, n_r)
            m = np.zeros((b - a, n, n))
            m[:, idx, idx] = 1.0
            _chain_solve(m, inv_m[a:b], up[a:b], self.g_w)
            if n:
                rho[a:b, j0:] = self._g_end * m[:, :, 0]
            m *= self._g[a:b, None, j0:]
            w[a:b, j0:, j0:] = m
        diag = np.arange(n_c)
        w[:, diag, diag] -= 1.0
        return rho

    def _descend(self) -> tuple[np.ndarray, np.ndarray]:
        """Q_i = g_b (g_b + E_i)^-1 for rungs 0..R-2 (R-1, C, C) and E_{R-1} (C, C) (S), with
        S_i = -diag(G_i) W_i formed rung by rung.

        E_i is symmetric in exact arithmetic; only its lower triangle is read (Cholesky), and each
        Q_i is made exactly symmetric."""
        n_r, n_c = self.shape
        q = np.empty((max(n_r - 1, 0), n_c, n_c))
        upper = np.triu_indices(n_c, 1)
        g, w = self._g, self._w
        e, nxt, s_i = -g[0][:, None] * w[0], np.empty((n_c, n_c)), np.empty((n_c, n_c))
        for i in range(n_r - 1):
            qi = q[i]
            np.multiply(_spd_inverse(e, self.g_b, full=False), self.g_b, out=qi)
            qi[upper] = qi.T[upper]
            np.matmul(qi, e, out=nxt)
            np.multiply(g[i + 1][:, None], w[i + 1], out=s_i)
            nxt -= s_i
            e, nxt = nxt, e
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
        d, c = self._solve(vt)
        d += c
        return d, c

    def drops(self, vt: np.ndarray) -> np.ndarray:
        """Voltage across every device (R, C, K) (V) at terminal voltages ``vt`` (K, R + C)."""
        return self._solve(vt)[0]

    def column_unit_drops(self, cols: np.ndarray) -> np.ndarray:
        """Device drops (R, C, K) (V per V) for 1 V on each neuron node of ``cols`` (column indices),
        0 V at every other end."""
        n_r, n_c = self.shape
        cols = np.asarray(cols)
        v = np.zeros((n_c, cols.size))
        v[cols, np.arange(cols.size)] = 1.0
        return self._ascend(None, None, v)[0]

    def column_response_products(self, cols: np.ndarray, vt: np.ndarray) -> np.ndarray:
        """sum_k h_k * z_k (R, C) (V^2 per V), h_k the device drops for 1 V on neuron node ``cols[k]``
        (0 V at every other end), z_k the drops at terminal voltages ``vt[k]`` (K, R + C).

        One pass up the bitlines carries both: the column voltages of the unit responses (psi_i =
        Q_i psi_{i+1}, no sources) and of the states, and sums the product rung by rung, without
        (R, C, K) drop arrays."""
        n_r, n_c = self.shape
        cols = np.asarray(cols)
        vt = np.atleast_2d(np.asarray(vt, dtype=np.float64))
        u, v = vt[:, :n_r].T, vt[:, n_r:].T
        j = self._norton(u)                                 # (R, C, K), becomes the state's c_i
        unit = np.zeros((n_c, cols.size))
        unit[cols, np.arange(cols.size)] = 1.0
        out = np.empty((n_r, n_c))
        psi, psi_next = np.empty((n_c, cols.size)), unit
        h, z = np.empty((n_c, cols.size)), np.empty((n_c, cols.size))
        for i in range(n_r - 1, -1, -1):
            c = j[i]
            if i == n_r - 1:
                if self.g_s is None:
                    psi[:] = unit
                    c[:] = v
                else:
                    np.matmul(self._q_s, unit, out=psi)
                    c[:] = self._q_s @ (c / self.g_s + v)
            else:
                np.matmul(self._q[i], psi_next, out=psi)
                c *= 1.0 / self.g_b
                c += j[i + 1]
                c[:] = self._q[i] @ c
            np.matmul(self._w[i], psi, out=h)
            np.matmul(self._w[i], c, out=z)
            z += self._rho[i][:, None] * u[i][None, :]
            np.einsum("ck,ck->c", h, z, out=out[i])
            psi, psi_next = (psi_next, psi) if i < n_r - 1 else (np.empty_like(psi), psi)
        return out

    def _norton(self, u: np.ndarray) -> np.ndarray:
        """Norton currents J_i (R, C, K) (A) of rungs 0..i at their column cut, sources ``u`` (R, K)."""
        n_r = self.shape[0]
        j = self._f[:, :, None] * u[:, None, :]
        tmp = np.empty(j.shape[1:])
        for i in range(1, n_r):
            np.matmul(self._q[i - 1], j[i - 1], out=tmp)
            j[i] += tmp
        return j

    def _solve(self, vt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(drops, column node voltages), each (R, C, K) (V), at terminal voltages ``vt`` (K, R + C)."""
        n_r = self.shape[0]
        vt = np.atleast_2d(np.asarray(vt, dtype=np.float64))
        u, v = vt[:, :n_r].T, vt[:, n_r:].T                  # (R, K), (C, K)
        return self._ascend(self._norton(u), u, v)

    def _ascend(self, j: np.ndarray | None, u: np.ndarray | None, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Up the bitlines from the neuron nodes at ``v`` (C, K): column node voltages c_i (in place of
        the Norton currents ``j``; None: no sources, J = 0) and the drops W_i c_i + rho_i u_i."""
        n_r, n_c = self.shape
        k = v.shape[1]
        c = np.empty((n_r, n_c, k)) if j is None else j
        d = np.empty((n_r, n_c, k))
        c_next = v
        for i in range(n_r - 1, -1, -1):
            if i == n_r - 1:
                if self.g_s is None:
                    c[i] = v
                else:
                    c[i] = self._q_s @ (v if j is None else c[i] / self.g_s + v)
            elif j is None:
                np.matmul(self._q[i], c_next, out=c[i])
            else:
                c[i] *= 1.0 / self.g_b
                c[i] += c_next
                c[i] = self._q[i] @ c[i]
            c_next = c[i]
            np.matmul(self._w[i], c_next, out=d[i])
            if u is not None:
                d[i] += self._rho[i][:, None] * u[i][None, :]
        return d, c
