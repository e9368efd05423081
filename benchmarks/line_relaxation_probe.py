"""Probe: sparse LU vs rung elimination vs a batched block line relaxation on the MNIST input crossbar.

    OMP_NUM_THREADS=1 python benchmarks/line_relaxation_probe.py [--rhs 64] [--r 1.0]

The internal network of a 1570 x 100 crossbar (G uniform in [1e-7, 1e-5] S, r_wordline = r_bitline
= R ohm per segment, ideal drivers and sense: the first wordline node and the last bitline node are
the terminals) is solved for ``--rhs`` random terminal voltage vectors three ways: ebana's two exact paths
(:class:`ebana.lines.CrossbarLines` with ``method="lu"``: sparse LU and back-substitution; and the
default, the rung elimination of :mod:`ebana.rungs`), and block Gauss-Seidel over lines
(every wordline solved exactly by a Thomas sweep given the bitline voltages, then every bitline
given the wordline voltages; vectorised over the right-hand sides and the lines in numpy). Prints
JSON: seconds of each (setup per weight update, then per right-hand side), the largest voltage step
of every relaxation sweep and the distances to the LU solution.
The relaxation here only measures (no error bound); ebana does not use it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import time

import numpy as np

from ebana.lines import CrossbarLines, LineResistance


def thomas_factors(diag: np.ndarray, g_link: float) -> tuple[np.ndarray, np.ndarray]:
    """LU factors of tridiagonal chains (one per row of ``diag``, off-diagonal -g_link S):
    (1/pivot, multiplier), each shaped like ``diag``."""
    inv_m, up = np.empty_like(diag), np.empty_like(diag)
    m = diag[:, 0].copy()
    for j in range(diag.shape[1]):
        if j:
            m = diag[:, j] - g_link * up[:, j - 1]
        inv_m[:, j] = 1.0 / m
        up[:, j] = g_link * inv_m[:, j]
    return inv_m, up


def chain_solve(rhs: np.ndarray, inv_m: np.ndarray, up: np.ndarray, g_link: float) -> None:
    """Solve the chains along axis 1 of ``rhs`` (lines, n, K) in place (the factors are (lines, n))."""
    n = rhs.shape[1]
    rhs[:, 0] *= inv_m[:, 0, None]
    for j in range(1, n):
        rhs[:, j] += g_link * rhs[:, j - 1]
        rhs[:, j] *= inv_m[:, j, None]
    for j in range(n - 2, -1, -1):
        rhs[:, j] += up[:, j, None] * rhs[:, j + 1]


def relax(g: np.ndarray, v_rows: np.ndarray, v_cols: np.ndarray, r: float, sweeps: int) -> tuple:
    """Block line Gauss-Seidel: row and column node voltages (R, C, K) and the largest step per sweep."""
    n_r, n_c = g.shape
    gw = 1.0 / r
    dw = g[:, 1:] + 2 * gw
    dw[:, -1] -= gw
    w_fac = thomas_factors(dw, gw)                    # wordline nodes j = 1..C-1 of every row
    db = (g[:-1] + 2 * gw).T.copy()
    db[:, 0] -= gw
    b_fac = thomas_factors(db, gw)                    # bitline nodes i = 0..R-2 of every column
    k = v_rows.shape[1]
    vr = np.broadcast_to(v_rows[:, None, :], (n_r, n_c, k)).copy()
    vc = np.broadcast_to(v_cols[None, :, :], (n_r, n_c, k)).copy()
    gg = g[:, :, None]
    steps = []
    for _ in range(sweeps):
        old = vc.copy()
        rhs = gg[:, 1:] * vc[:, 1:]
        rhs[:, 0] += gw * v_rows
        chain_solve(rhs, *w_fac, gw)
        vr[:, 1:] = rhs
        rhs = np.ascontiguousarray(np.moveaxis(gg[:-1] * vr[:-1], 0, 1))      # (C, R-1, K)
        rhs[:, -1] += gw * v_cols
        chain_solve(rhs, *b_fac, gw)
        vc[:-1] = np.moveaxis(rhs, 0, 1)
        steps.append(float(np.abs(vc - old).max()))
    return vr, vc, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rhs", type=int, default=64)
    ap.add_argument("--r", type=float, default=1.0, help="ohm per segment")
    ap.add_argument("--sweeps", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    g = rng.uniform(1e-7, 1e-5, (1570, 100))
    v_rows = rng.uniform(-1, 1, (1570, args.rhs))
    v_cols = rng.uniform(-5e-3, 5e-3, (100, args.rhs))
    lines = LineResistance(args.r, args.r, 0.0, 0.0)
    t0 = time.perf_counter()
    net = CrossbarLines(g, lines, method="lu")
    ref_r, ref_c = net.cell_voltages(v_rows[:, :1].T, v_cols[:, :1].T)   # the LU is factored on first use
    t1 = time.perf_counter()
    ref_r, ref_c = net.cell_voltages(v_rows.T, v_cols.T)
    t2 = time.perf_counter()
    rungs = CrossbarLines(g, lines)
    t3 = time.perf_counter()
    got_r, got_c = rungs.cell_voltages(v_rows.T, v_cols.T)
    t4 = time.perf_counter()
    vr, vc, steps = relax(g, v_rows, v_cols, args.r, args.sweeps)
    t5 = time.perf_counter()
    dist = max(float(np.abs(np.moveaxis(vr, -1, 0) - ref_r).max()), float(np.abs(np.moveaxis(vc, -1, 0) - ref_c).max()))
    dist_rungs = max(float(np.abs(got_r - ref_r).max()), float(np.abs(got_c - ref_c).max()))
    print(json.dumps({"shape": g.shape, "r_segment_ohm": args.r, "rhs": args.rhs,
                      "lu_setup_s": round(t1 - t0, 3), "lu_s_per_rhs": round((t2 - t1) / args.rhs, 4),
                      "rungs_setup_s": round(t3 - t2, 3), "rungs_s_per_rhs": round((t4 - t3) / args.rhs, 4),
                      "rungs_vs_lu_max_V": f"{dist_rungs:.1e}",
                      "relax_sweeps": args.sweeps, "relax_s_per_sweep_per_rhs": round((t5 - t4) / args.sweeps / args.rhs, 4),
                      "relax_max_step_per_sweep_V": [f"{s:.1e}" for s in steps],
                      "relax_vs_lu_max_V": f"{dist:.1e}"}, indent=1))


if __name__ == "__main__":
    main()
