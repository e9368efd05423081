"""Fast path of a convolutional input crossbar: dense GEMM with zeros vs im2col vs scipy CSR.

The numpy backend keeps every local crossbar as a dense (rows, cols) array with 0 S off the
mask, so the solver, the Norton currents and the EqProp gradient are unchanged and exact. This
times the two input-crossbar products of a training batch -- the Norton currents x @ D (D the
(features, cols) drive a (G+ - G-)) and the gradient GEMM x^T @ dc -- both ways on MNIST
(784 pixels, conv8k5s2 -> 12x12x8 = 1152 columns, batch 256, float32 as the MNIST preset), and
checks that they agree. im2col: patches P (B, 144, 25) gathered from x, then P @ K (25, 8) for
the shared kernel K and P^T dc summed over positions for its gradient.

Run: ``OMP_NUM_THREADS=1 python benchmarks/local_crossbar.py``; prints JSON (ms per call, best of 7).
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np

from ebana.local import parse_local, share


def best(fn, n: int = 7) -> float:
    """Best wall time (ms) of n calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return 1e3 * min(out)


def main(batch: int = 256, spec: str = "conv8k5s2") -> dict:
    rng = np.random.default_rng(0)
    layer = parse_local(spec, 784)[0]
    tie = layer.ties(2)
    g = share(tie, rng.uniform(1e-7, 1e-5, tie.shape))
    n = 784
    drive = (g[:n] - g[n:2 * n]).astype(np.float32)                 # a = 1 V: D = G+ - G-
    x = rng.uniform(0, 1, (batch, n)).astype(np.float32)
    dc = rng.normal(0, 1e-3, (batch, layer.n_out)).astype(np.float32)
    ho, wo, f = layer.out_shape
    k, s = layer.kernel, layer.stride
    # im2col index: pixel of (position, kernel offset)
    oy, ox, ky, kx = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(k), np.arange(k), indexing="ij")
    pix = ((oy * s + ky) * 28 + (ox * s + kx)).reshape(ho * wo, k * k)
    kern = np.zeros((k * k, f), np.float32)                          # the shared kernel, from the devices
    kid = tie[:n][tie[:n] >= 0]
    rows, cols = np.nonzero(tie[:n] >= 0)
    kern_full = np.zeros(2 * k * k * f + 2 * f)
    kern_full[kid] = g[:n][rows, cols] - g[n:2 * n][rows, cols]
    kern[:] = kern_full[:k * k * f].reshape(k * k, f)

    def dense_norton():
        return x @ drive

    def im2col_norton():
        return (x[:, pix] @ kern).reshape(batch, ho * wo * f)

    def dense_grad():
        return x.T @ dc                                                # (784, 1152), then tie-summed

    def im2col_grad():
        p = x[:, pix].reshape(batch * ho * wo, k * k)
        return p.T @ dc.reshape(batch * ho * wo, f)                  # (25, 8): the kernel gradient

    ok_norton = np.allclose(dense_norton(), im2col_norton(), rtol=1e-4, atol=1e-9)
    gd = dense_grad().astype(np.float64)
    summed = np.bincount(kid, weights=gd[rows, cols], minlength=kern_full.size)[:k * k * f].reshape(k * k, f)
    ok_grad = np.allclose(summed, im2col_grad(), rtol=1e-3, atol=1e-6)
    out = dict(machine=platform.processor() or platform.machine(), batch=batch, spec=spec,
               shape=list(tie.shape), devices=int((tie >= 0).sum()), density=float((tie >= 0).mean()),
               agree=bool(ok_norton and ok_grad))
    try:
        import scipy.sparse as sp
        csr = sp.csr_matrix(drive.T)                                  # (cols, features)
        out["csr_norton_ms"] = best(lambda: (csr @ x.T).T)
    except ImportError:                                               # pragma: no cover
        pass
    out.update(dense_norton_ms=best(dense_norton), im2col_norton_ms=best(im2col_norton),
               dense_grad_ms=best(dense_grad), im2col_grad_ms=best(im2col_grad))
    out["hidden"] = hidden_coupling(batch, rng)
    return out


def hidden_coupling(batch: int, rng: np.random.Generator, spec: str = "conv8k5s2,conv16k3") -> dict:
    """A conv crossbar between two hidden layers (12x12x8 -> 10x10x16): the solver's coupling
    products v_src @ fwd and v_dst @ bwd (float64), run every sweep; dense vs CSR."""
    import scipy.sparse as sp
    layer = parse_local(spec, 784)[1]
    tie = layer.ties(0)
    g = share(tie, rng.uniform(1e-7, 1e-5, tie.shape))
    v_src, v_dst = rng.normal(0, 1e-3, (batch, g.shape[0])), rng.normal(0, 1e-3, (batch, g.shape[1]))
    fwd_t, bwd_t = sp.csr_matrix(g.T), sp.csr_matrix(g)
    ok = np.allclose(v_src @ g, (fwd_t @ v_src.T).T) and np.allclose(v_dst @ g.T, (bwd_t @ v_dst.T).T)
    return dict(spec=layer.text, shape=list(g.shape), density=float((tie >= 0).mean()), agree=bool(ok),
                dense_ms=best(lambda: (v_src @ g, v_dst @ g.T)),
                csr_ms=best(lambda: ((fwd_t @ v_src.T).T, (bwd_t @ v_dst.T).T)))


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
