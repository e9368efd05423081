"""Time one analog-algorithm update on MNIST-size arrays: pulse only the devices with n ≠ 0 vs all.

Usage (from the repository root): ``python benchmarks/algorithm_step.py``. Shapes of the
1568-100-20 circuit (159k devices), ``soft_bounds_linear`` ``asymmetric``, write energy on; the
gradients are scaled so that a given fraction of the devices receives a pulse (the MNIST runs of
``experiments/analog_algorithms`` pulse ≈ 5–10 % per step). Both variants run side by side in
one process (best of 5 repeats of 20 steps); the ratio is what to read, not the absolute times.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from ebana.config import AlgorithmConfig, DeviceConfig  # noqa: E402
from ebana.updates import algorithms  # noqa: E402

SHAPES = [(1570, 100), (100, 20)]
G_MIN, G_MAX = 1e-7, 1e-5


def time_steps(name: str, frac: float, subset: bool, steps: int = 20, repeats: int = 5) -> float:
    """Best mean seconds per step of algorithm ``name`` when ``frac`` of the devices pulse."""
    rng = np.random.default_rng(0)
    g0 = [rng.uniform(0.3, 0.7, s) * (G_MAX - G_MIN) + G_MIN for s in SHAPES]
    up = algorithms.create_algorithm(DeviceConfig(model="soft_bounds_linear", preset="asymmetric"),
                                     AlgorithmConfig(name=name), "sgd", g0, G_MIN, G_MAX, lr_ref=1.0,
                                     rng=np.random.default_rng(1))
    up.request.lr_scale = [up.eps] * len(SHAPES)  # one unit of gradient = one pulse step
    grads = [rng.standard_normal(s) * frac for s in SHAPES]  # |r| < 1 mostly: P(n ≠ 0) ≈ E|r| ≈ 0.8·frac
    uniform = algorithms._uniform
    if not subset:
        algorithms._uniform = lambda model: False  # pulse every device (zero width where n = 0)
    try:
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(steps):
                up.step(grads, 1.0)
            best = min(best, (time.perf_counter() - t0) / steps)
    finally:
        algorithms._uniform = uniform
    return best


def main() -> None:
    lines = ["# Analog-algorithm update on MNIST-size arrays (159k devices): pulse only n ≠ 0 vs all", "",
             "Command: `python benchmarks/algorithm_step.py` (1 BLAS thread, best of 5 × 20 steps, side by side).", "",
             "| algorithm | devices pulsed per step | all devices (ms/step) | pulsed only (ms/step) | speed-up |",
             "|---|---|---|---|---|"]
    for name in ("analog_sgd", "residual"):
        for frac in (0.05, 0.2):
            full, sub = time_steps(name, frac, False), time_steps(name, frac, True)
            lines.append(f"| {name} | ≈ {0.8 * frac:.0%} | {1e3 * full:.1f} | {1e3 * sub:.1f} | {full / sub:.1f}× |")
    (Path(__file__).resolve().parent / "algorithm_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
