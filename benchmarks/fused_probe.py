"""What compiled, fused kernels would buy the ideal MNIST epoch (issue 17 item 5): a probe, not a path.

    PYTHONPATH=. python benchmarks/fused_probe.py        (numba rows only when numba is installed:
                                                           pip install numba; ebana does not use it)

Two passes of a training batch that are pure elementwise work, at the MNIST preset's shapes (batch
256, 1568-100-20, centered nudging: the stacked +-beta phases are 512 rows, all three 768):

- the node update of the hidden layer in one relaxation sweep, as ``NumpyBackend.solve`` and
  ``_node_solve`` do it (coupling terms + the shared Norton/constant part, ideal-diode clamp,
  max |change|), and the same arithmetic fused in one loop;
- the Adam step of the input crossbar (1570 x 100, moments float32) with the clip to
  [g_min, g_max], as ``ideal.Adam.direction`` + ``IdealUpdate.step`` do it, and fused.

Beside them: one ``np.copyto`` of the same arrays (a single memory pass, the floor of any
elementwise kernel) and the 768 x 20 x 100 GEMM of the sweep. Each figure is the best of 5 runs
of 500 calls, float64 unless stated. The fused kernels are checked to give the same bits as numpy.
Writes benchmarks/fused_probe.md. Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_path import best_of  # noqa: E402

HERE = Path(__file__).resolve().parent
B, N_IN, N_H, N_OUT, M = 256, 1570, 100, 20, 3


def best_us(fn, calls: int = 500, reps: int = 5) -> float:
    """Microseconds per call of ``fn()``: the best of ``reps`` runs of ``calls`` calls (after one warm-up)."""
    fn()

    def run():
        for _ in range(calls):
            fn()
    return 1e6 * best_of(run, reps) / calls


def node_update_numpy(r, base, lo, hi, frac, v):
    """``r`` (M B, n) coupling terms (overwritten with the new voltages), ``v`` old voltages
    (overwritten with |change|); returns max |change| (V)."""
    blocks = r.reshape(M, B, -1)
    np.add(blocks, base, out=blocks)
    cl = np.maximum(r, lo)
    np.minimum(cl, hi, out=cl)
    r -= cl
    r *= frac
    r += cl
    d = np.subtract(r, v, out=v)
    np.abs(d, out=d)
    return float(d.max())


def adam_numpy(g, grad, m, v, t, lr, g_min, g_max, b1=0.9, b2=0.999, eps=1e-8):
    d = np.multiply(grad, 1.0 - b1, dtype=np.float32)
    m *= b1
    m += d
    np.multiply(d, d, out=d)
    d *= (1.0 - b2) / (1.0 - b1) ** 2
    v *= b2
    v += d
    np.sqrt(v, out=d)
    d *= 1.0 / np.sqrt(1.0 - b2 ** t)
    d += eps
    np.divide(m, d, out=d)
    step = np.multiply(d, -lr / (1.0 - b1 ** t), dtype=np.float64)
    step += g
    np.maximum(step, g_min, out=step)
    np.minimum(step, g_max, out=step)
    return step


def fused_kernels():
    """The same arithmetic in one numba loop each (None without numba)."""
    try:
        import numba as nb
    except ImportError:
        return None

    @nb.njit(nogil=True)
    def node_update(r, base, lo, hi, frac, v):
        rows, n = r.shape
        b = base.shape[0]
        moved = 0.0
        for k in range(rows // b):
            for i in range(b):
                ri, bi, vi = r[k * b + i], base[i], v[k * b + i]
                for j in range(n):
                    x = ri[j] + bi[j]
                    c = min(max(x, lo), hi)
                    x = (x - c) * frac[j] + c
                    d = abs(x - vi[j])
                    moved = max(moved, d)
                    ri[j] = x
                    vi[j] = d
        return moved

    @nb.njit(nogil=True)
    def adam(g, grad, m, v, t, lr, g_min, g_max):
        b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
        c1 = np.float32(1.0 - 0.9)
        c2 = np.float32((1.0 - 0.999) / (1.0 - 0.9) ** 2)
        cs = np.float32(1.0 / np.sqrt(1.0 - 0.999 ** t))
        f = -lr / (1.0 - 0.9 ** t)
        out = np.empty_like(g)
        gf, mf, vf, of = grad.ravel(), m.ravel(), v.ravel(), out.ravel()
        g0 = g.ravel()
        for i in range(gf.size):
            d = np.float32(gf[i]) * c1
            mi = mf[i] * b1 + d
            vi = vf[i] * b2 + d * d * c2
            mf[i], vf[i] = mi, vi
            s = np.float64(mi / (np.sqrt(vi) * cs + eps)) * f + g0[i]
            of[i] = min(max(s, g_min), g_max)
        return out

    return node_update, adam


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    r0, base = rng.random((M * B, N_H)) - 0.5, rng.random((B, N_H)) - 0.5
    frac, v0 = rng.random(N_H), rng.random((M * B, N_H)) - 0.5
    g0 = rng.uniform(1e-6, 1e-5, (N_IN, N_H))
    grad = rng.normal(0.0, 1e-3, (N_IN, N_H))
    mom, var = rng.normal(0, 1e-4, (N_IN, N_H)).astype(np.float32), rng.random((N_IN, N_H)).astype(np.float32) * 1e-6
    h, bwd = rng.random((M * B, N_OUT)), rng.random((N_OUT, N_H))
    r, v = r0.copy(), v0.copy()
    rows = []
    t_np = best_us(lambda: node_update_numpy(r, base, -0.2, 0.2, frac, v))
    t_copy = best_us(lambda: np.copyto(r, v))
    t_gemm = best_us(lambda: h @ bwd)
    m1, v1 = mom.copy(), var.copy()
    t_adam = best_us(lambda: adam_numpy(g0, grad, m1, v1, 10, 1e-7, 1e-6, 1e-5))
    t_copy_g = best_us(lambda: np.copyto(m1, v1)) + best_us(lambda: np.copyto(g0.copy(), grad))
    rows.append(("node update, hidden layer (768 x 100)", "numpy (as the solver)", t_np))
    rows.append(("", "np.copyto of one (768 x 100) array", t_copy))
    rows.append(("", "its coupling GEMM 768 x 20 x 100", t_gemm))
    rows.append(("Adam + clip, input crossbar (1570 x 100)", "numpy (as IdealUpdate)", t_adam))
    rows.append(("", "np.copyto of one float32 and one float64 array (+ a copy)", t_copy_g))
    same = None
    fused = fused_kernels()
    if fused is not None:
        node_update, adam = fused
        a1, w1, a2, w2 = r0.copy(), v0.copy(), r0.copy(), v0.copy()
        same_node = (node_update_numpy(a1, base, -0.2, 0.2, frac, w1) == node_update(a2, base, -0.2, 0.2, frac, w2)
                     and np.array_equal(a1, a2) and np.array_equal(w1, w2))
        ma, va, mb, vb = mom.copy(), var.copy(), mom.copy(), var.copy()
        ga = adam_numpy(g0, grad, ma, va, 10, 1e-7, 1e-6, 1e-5)
        gb = adam(g0, grad, mb, vb, 10, 1e-7, 1e-6, 1e-5)
        same = (same_node, bool(np.array_equal(ma, mb) and np.array_equal(va, vb)), float(np.max(np.abs(ga - gb))))
        r, v = r0.copy(), v0.copy()
        rows.insert(1, ("", "fused (numba)", best_us(lambda: node_update(r, base, -0.2, 0.2, frac, v))))
        m2, v2 = mom.copy(), var.copy()
        rows.insert(5, ("", "fused (numba)", best_us(lambda: adam(g0, grad, m2, v2, 10, 1e-7, 1e-6, 1e-5))))
    lines = ["# Fused kernels against numpy, two elementwise passes of an MNIST batch (python benchmarks/fused_probe.py)",
             "", f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, BLAS threads "
             f"{os.environ['OPENBLAS_NUM_THREADS']}; best of 5 x 500 calls.", "",
             "| pass | how | µs per call |", "|---|---|---:|"]
    lines += [f"| {a} | {b} | {t:.1f} |" for a, b, t in rows]
    lines.append("")
    if same is None:
        lines.append("numba is not installed: no fused rows.")
    else:
        lines.append(f"Fused = numpy bit for bit: node update {same[0]}, Adam moments {same[1]}; Adam's new G "
                     f"differs by at most {same[2]:.2e} S (of ~1e-5 S: the step's float32 arithmetic, not bit for bit).")
    text = "\n".join(lines) + "\n"
    (HERE / "fused_probe.md").write_text(text)
    print(text)
