"""BCD alone vs BCD with the Newton fallback on strongly coupled circuits (issue 14, item 1).

Run from the repository root (about a minute):

    python benchmarks/newton_fallback.py

Circuits: hidden (8, 6), (8, 6, 5), (8, 6, 5, 4); amplifier gain 10 to 1000 with cccs_gain = gain;
a weak input crossbar (1e-7..3e-7 S) and strong hidden crossbars (5e-6..1e-5 S); clamp window
(0, 1.2) V (most nodes unclamped); ideal and Shockley diodes, output diodes on; batch 16, cold
free solves. "before": ``newton_after=0`` (BCD only, max_sweeps 5000); "after": the default
(Newton after 16 sweeps when the contraction is slow). Seconds per solve of the batch (best of 3),
sweeps, which solver finished, the stated error bound. Prints JSON lines; nothing here asserts.
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
from ebana.errors import ConvergenceError  # noqa: E402
from ebana.topology import Topology  # noqa: E402


def coupled(model: str, gain: float, hidden: tuple[int, ...]) -> Circuit:
    diode = DiodeParams(model=model, v_th=0.6 if model == "shockley" else 0.15)
    p = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), output_diodes=True, gain=gain, cccs_gain=gain,
                      diode=diode, v_clamp_low=0.0, v_clamp_high=1.2)
    t = Topology(4, hidden, 3, n_bias_input=2, n_bias_hidden=1)
    rng = np.random.default_rng(0)
    return Circuit(t, p, [10 ** rng.uniform(-7, -6.5, s.shape) if s.src == 0 else 10 ** rng.uniform(-5.3, -5, s.shape)
                          for s in t.crossbars])


def timed(backend, x) -> tuple[float, dict]:
    best, sol = np.inf, None
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            sol = backend.solve(x)
        except ConvergenceError as err:
            return time.perf_counter() - t0, {"error": str(err)[:80]}
        best = min(best, time.perf_counter() - t0)
    return best, {"sweeps": sol.sweeps, "solver": sol.info["solver"], "error_bound_v": sol.info["error_bound"],
                  "newton_iterations": sol.info.get("newton_iterations")}


def main() -> None:
    print(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count()}))
    x = np.random.default_rng(5).uniform(-1, 1, (16, 4))
    for model in ("ideal", "shockley"):
        for hidden in ((8, 6), (8, 6, 5), (8, 6, 5, 4)):
            for gain in (10.0, 60.0, 100.0, 300.0, 1000.0):
                c = coupled(model, gain, hidden)
                row = {"diode": model, "hidden": list(hidden), "gain": gain}
                for name, after in (("before", 0), ("after", None)):
                    kw = {} if after is None else {"newton_after": after}
                    s, res = timed(create("numpy", c, max_sweeps=5000, **kw), x)
                    row[name] = {"s_per_solve": round(s, 5), **res}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
