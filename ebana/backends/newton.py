"""Newton on the whole circuit's KCL: the numpy fast path's fallback where BCD contracts slowly.

Block coordinate descent (BCD, :mod:`ebana.backends.numpy_solver`) converges linearly at the
rate of the coupling between layers; strongly coupled or high-gain layers need hundreds of
sweeps. Newton's iteration count does not depend on the coupling. This module takes the BCD
iterate and improves it; it never certifies anything itself: the solver finishes with BCD
sweeps from the Newton point, and their residual-based bound is the stated error bound.

Unknowns: every neuron node of layers 1..L-1, per sample, in the solver's folded variables.
The KCL of node j, divided by its linear conductance K_j, is the residual (V)

    z_j = b_j + sum_i P_ij v_i - v_j - D_j(v_j) / K_j

with b the sources' R/K (Norton currents, bias rows, nudge), P the folded couplings (gain G
into a destination, cccs_gain G back into a source, each divided by the receiving node's K) and
D the clamp diodes' net current beyond their linear part. Newton solves (I + diag(D'/K) - P^T) d = z;
the nodes within one layer are never coupled directly, so the largest layer's block is diagonal
and is eliminated (Schur complement on the other layers: a 20x20 system for the MNIST net). The
system is not symmetric (cccs_gain != gain in general), which the dense LU does not mind.

* Ideal (piecewise-linear) diodes: D' is the slope of each diode's current segment at v
  (semismooth Newton = active-set iteration: solve with the segments fixed, update them).
* Shockley diodes: damped Newton; where a forward-biased junction would move forward by more
  than a thermal voltage the step is taken in the log of its current (SPICE's junction
  limiting), then a backtracking line search on the residual norm |z|_2, per sample.

Steps are accepted by a non-monotone Armijo rule on |z|_2 and each sample returns its best
iterate, so the result is never worse than the start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.circuit import diode_branch

__all__ = ["NewtonSystem", "newton_refine", "NEWTON_MAX_NODES"]

NEWTON_MAX_NODES = 1500
"""Largest number of nodes outside the eliminated layer for which the fallback is used (dense LU)."""
_EPS = float(np.finfo(np.float64).eps)
_CHUNK_ENTRIES = 1 << 22   # batch chunk: at most this many float64 in the Schur products (32 MB)


@dataclass
class NewtonSystem:
    """The folded nodal system of one compiled circuit (built by the numpy backend's ``load``).

    ``sizes``/``offsets``: nodes per layer 1..L-1 in the stacked vector; ``pr`` (n, n): row
    form of the folded couplings (``v @ pr`` is the coupled part of R/K); ``inv_k`` (n,) 1/K (S^-1)
    in the solver's folding (ideal clamped layers include both diodes' off conductance);
    ``clamped`` (n,) bool; ``ideal``: diode model; diode and bias constants.
    """

    sizes: list[int]
    offsets: list[int]
    pr: np.ndarray
    inv_k: np.ndarray
    clamped: np.ndarray
    ideal: bool
    v_hi: float        # ideal: upper clamp level (V); Shockley: V_BH
    v_lo: float        # ideal: lower clamp level (V); Shockley: V_BL
    dg: float          # ideal: g_on - g_off (S)
    i_s: float
    n_vt: float
    diode_params: object   # the circuit's DiodeParams (Shockley branch, series resistance included)
    elim: np.ndarray   # node indices of the eliminated (largest) layer
    rest: np.ndarray   # the others

    @property
    def available(self) -> bool:
        return 0 < self.rest.size <= NEWTON_MAX_NODES

    def diode(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(D(v)/K, D'(v)/K) for the stacked voltages v (B, n): the diode current beyond the
        folded linear part, and its slope (of the current segment, for the ideal diode)."""
        cl = self.clamped
        if self.ideal:
            above = v > self.v_hi
            below = v < self.v_lo
            cur = self.dg * (np.where(above, v - self.v_hi, 0.0) - np.where(below, self.v_lo - v, 0.0))
            slope = self.dg * (above | below)
        else:
            x = np.concatenate([v - self.v_hi, self.v_lo - v])
            i, g = diode_branch(x, self.diode_params)
            n = v.shape[0]
            cur, slope = i[:n] - i[n:], g[:n] + g[n:]
        cur = np.where(cl, cur, 0.0) * self.inv_k
        slope = np.where(cl, slope, 0.0) * self.inv_k
        return cur, slope

    def residual(self, b: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z (V), D'/K) at v; z = b + v @ pr - v - D(v)/K."""
        cur, slope = self.diode(v)
        return b + v @ self.pr - v - cur, slope

    def floor(self, b: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Per sample, the rounding level of z (V): a few ulps of the magnitudes summed into it."""
        av = np.abs(v)
        mag = np.abs(b) + av @ np.abs(self.pr) + av + np.abs(self.diode(v)[0])
        return 8.0 * _EPS * mag.max(axis=1)

    def step(self, z: np.ndarray, slope: np.ndarray) -> np.ndarray:
        """Newton step d (B, n) solving (I + diag(slope) - pr^T) d = z per sample (Schur on ``elim``)."""
        e, r = self.elim, self.rest
        p_re, p_er = self.pr[np.ix_(r, e)], self.pr[np.ix_(e, r)]
        p_rr_t = self.pr[np.ix_(r, r)].T
        out = np.empty_like(z)
        chunk = max(1, _CHUNK_ENTRIES // max(r.size * max(r.size, e.size), 1))
        for lo in range(0, z.shape[0], chunk):
            sl = slice(lo, lo + chunk)
            de = 1.0 + slope[sl][:, e]                     # the eliminated layer's diagonal
            ze = z[sl][:, e] / de
            x = np.matmul(p_re[None] / de[:, None, :], p_er)   # (b, nr, nr): P_RE diag(1/dE) P_ER
            s = -(np.swapaxes(x, 1, 2) + p_rr_t[None])
            idx = np.arange(r.size)
            s[:, idx, idx] += 1.0 + slope[sl][:, r]
            rhs = z[sl][:, r] + ze @ p_er
            dr = np.linalg.solve(s, rhs[:, :, None])[:, :, 0]
            out[sl][:, r] = dr      # (out[sl] is a view)
            out[sl][:, e] = ze + (dr @ p_re) / de
        return out

    def limit(self, v: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Shockley junction limiting: where a step moves a forward-biased junction forward by more
        than n Vt, take n Vt ln(1 + excess / n Vt) of it instead (the step in its current)."""
        if self.ideal:
            return d
        nvt = self.n_vt
        out = d.copy()
        for sign, x in ((1.0, v - self.v_hi), (-1.0, self.v_lo - v)):
            dx = sign * d                                     # the junction's forward move
            big = self.clamped & (dx > nvt) & (x + dx > 0.0)
            if big.any():
                lim = nvt * (1.0 + np.log(np.where(big, dx, nvt) / nvt))
                out = np.where(big, sign * lim, out)
        return out


def newton_refine(system: NewtonSystem, b: np.ndarray, v: np.ndarray,
                  max_iterations: int = 40, memory: int = 8) -> tuple[np.ndarray, int, float]:
    """Improve the stacked node voltages v (B, n) (V) towards z = 0, sample by sample.

    ``b`` (B, n): the sources' R/K (V). Returns (v, Newton iterations, max |z| at the end (V)).
    A step is accepted when |z|_2^2 falls below (1 - 2e-4 lambda) times the largest of the last
    ``memory`` accepted values (a non-monotone Armijo rule: active-set steps of the ideal diode may
    raise |z| once before they land on the right segments), else lambda is halved. A sample
    stops when |z| or its step is at the rounding level, or no lambda >= 2^-30 is accepted. The
    returned point is each sample's best (smallest |z|) iterate: never worse than the start.
    """
    v = np.array(v, dtype=np.float64)
    z, slope = system.residual(b, v)
    phi = np.einsum("ij,ij->i", z, z)
    best_v, best_phi = v.copy(), phi.copy()
    hist = np.repeat(phi[:, None], memory, axis=1)    # the last accepted merits, per sample
    act = np.arange(v.shape[0])
    its = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while act.size and its < max_iterations:
            its += 1
            va, za = v[act], z[act]
            ref = hist[act].max(axis=1)
            d = system.step(za, slope[act])
            scale = np.abs(va).max(axis=1) + 1e-3
            tiny = ~(np.abs(d).max(axis=1) > 8.0 * _EPS * scale)
            directions = [system.limit(va, d)] if not system.ideal else []
            directions.append(d)
            accepted = np.zeros(act.size, dtype=bool)
            new_v, new_z, new_s, new_p = va.copy(), za.copy(), slope[act].copy(), phi[act].copy()
            for dd in directions:
                lam = np.ones(act.size)
                todo = ~accepted & ~tiny
                for _ in range(30):
                    if not todo.any():
                        break
                    vt = va[todo] + lam[todo, None] * dd[todo]
                    zt, st = system.residual(b[act[todo]], vt)
                    pt = np.einsum("ij,ij->i", zt, zt)
                    ok = np.isfinite(pt) & (pt <= (1.0 - 2e-4 * lam[todo]) * ref[todo])
                    sel = np.flatnonzero(todo)[ok]
                    new_v[sel], new_z[sel], new_s[sel], new_p[sel] = vt[ok], zt[ok], st[ok], pt[ok]
                    accepted[sel] = True
                    todo[sel] = False
                    lam[todo] *= 0.5
            v[act], z[act], slope[act], phi[act] = new_v, new_z, new_s, new_p
            hist[act, its % memory] = np.where(accepted, new_p, hist[act, its % memory])
            better = act[new_p < best_phi[act]]
            best_v[better], best_phi[better] = v[better], phi[better]
            # done: at the rounding level of z or of the step, or no decrease was found
            moved = np.abs(new_v - va).max(axis=1)
            keep = accepted & ~tiny & (moved > 8.0 * _EPS * scale)
            keep &= np.abs(new_z).max(axis=1) > system.floor(b[act], new_v)
            act = act[keep]
    z, _ = system.residual(b, best_v)
    zmax = float(np.abs(z).max()) if z.size else 0.0
    return best_v, its, zmax
