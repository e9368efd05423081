"""Speed and Newton iterations of Shockley-diode solves on the numpy fast path (issue 14).

Run from the repository root (a few seconds):

    python benchmarks/shockley_solver.py

The IRIS preset circuit with Shockley clamps (v_th 0.6 V) and output diodes, hidden (8, 6) and
(8, 6, 5), gains 4 to 1000, batch 1 (as `ebana train iris --batch-size 1`) and batch 64: seconds per
sample for a free solve and a warm-started nudged solve, sweeps, and the most Newton iterations
of any node solve. Prints JSON lines; not a test, nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from ebana.backends import create  # noqa: E402
from ebana.circuit import Circuit, CircuitParams, DiodeParams  # noqa: E402
from ebana.topology import Topology  # noqa: E402


def main() -> None:
    print(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count()}))
    rng = np.random.default_rng(0)
    for hidden in ((8, 6), (8, 6, 5)):
        for gain in (4.0, 100.0, 1000.0):
            p = CircuitParams(gain=gain, output_diodes=True, diode=DiodeParams(model="shockley", v_th=0.6))
            t = Topology(4, hidden, 3, n_bias_input=2, n_bias_hidden=2)
            c = Circuit.random(t, p, np.random.default_rng(0))
            b = create("numpy", c)
            for batch in (1, 64):
                x = rng.uniform(-1, 1, (batch, 4))
                inj = rng.normal(0, 1e-7, (batch, 6))
                reps = 20 if batch == 1 else 3
                t0 = time.perf_counter()
                for _ in range(reps):
                    free = b.solve(x)
                t_free = (time.perf_counter() - t0) / reps / batch
                t0 = time.perf_counter()
                for _ in range(reps):
                    nudged = b.solve(x, inj, start=free)
                t_nudged = (time.perf_counter() - t0) / reps / batch
                print(json.dumps({"hidden": list(hidden), "gain": gain, "batch": batch,
                                  "free_s_per_sample": round(t_free, 6), "nudged_s_per_sample": round(t_nudged, 6),
                                  "free_sweeps": free.sweeps, "nudged_sweeps": nudged.sweeps,
                                  "max_newton_iterations": max(free.info["node_iterations"],
                                                               nudged.info["node_iterations"]),
                                  "error_bound_v": free.info["error_bound"]}))


if __name__ == "__main__":
    main()
