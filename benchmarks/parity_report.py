"""Print the measured agreement figures behind the parity and gradient tests (not a test).

    python benchmarks/parity_report.py        # ~20 s; needs ngspice

numpy float64 vs ngspice on random networks (free and nudged), Norton vs full netlist,
stock `ngspice -b` on rendered netlists, and EqProp vs finite-difference gradients.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ebana.backends import create
from ebana.circuit import Circuit, CircuitParams, DiodeParams
from ebana.gradients import finite_difference_gradients
from ebana.losses import create_loss
from ebana.netlist import node_names, render
from ebana.phases import PhaseController
from ebana.rawfile import read_ascii_raw
from ebana.topology import Topology

CASES = {
    "1 hidden, ideal": dict(n_in=4, hidden=(10,), n_cls=3),
    "2 hidden + skips, ideal": dict(n_in=4, hidden=(6, 5), n_cls=3, skips=((0, 2), (0, 3))),
    "skip from hidden (cccs = gain)": dict(n_in=3, hidden=(4, 4), n_cls=2, skips=((1, 3),), cccs_gain=4.0),
    "output diodes": dict(n_in=4, hidden=(8,), n_cls=3, output_diodes=True),
    "Shockley": dict(n_in=4, hidden=(8,), n_cls=3, diode="shockley", v_clamp_low=0.5, v_clamp_high=0.7),
}


def circuit(rng, n_in, hidden, n_cls, skips=(), diode="ideal", output_diodes=False, **kw) -> Circuit:
    p = CircuitParams(bias_input=(0.9, 0.3), bias_hidden=(0.3,), output_diodes=output_diodes,
                      diode=DiodeParams(model=diode, v_th=0.15 if diode == "ideal" else 0.6), **kw)
    t = Topology(n_in, hidden, n_cls, skips=skips, n_bias_input=2, n_bias_hidden=1)
    return Circuit(t, p, [10 ** rng.uniform(-7, -5, s.shape) for s in t.crossbars])


def max_dv(a, b, c) -> float:
    return max(float(np.max(np.abs(a.layers[q] - b.layers[q]))) for q in range(1, c.topology.n_layers))


def main() -> None:
    rng = np.random.default_rng(1234)
    print("| network | numpy-ngspice free | nudged | Norton-full | ngspice -b netlist |")
    print("|---|---|---|---|---|")
    for name, case in CASES.items():
        c = circuit(rng, **case)
        x = rng.uniform(-8, 8, (6, c.topology.n_inputs))
        inj = rng.normal(0, 3e-7, (6, 2 * c.topology.n_classes))
        nb, ng = create("numpy", c), create("ngspice", c.copy())
        free = max_dv(nb.solve(x), ng.solve(x), c)
        nud = max_dv(nb.solve(x, inj), ng.solve(x, inj), c)
        nor = max_dv(create("ngspice", c.copy(), norton=True).solve(x, inj), ng.solve(x, inj), c)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "net.cir"
            path.write_text(render(c, x[0], inj[0]))
            subprocess.run(["ngspice", "-b", "-r", str(Path(d) / "o.raw"), str(path)], check=True,
                           capture_output=True, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
            raw = read_ascii_raw(Path(d) / "o.raw")
        ref = nb.solve(x[:1], inj[:1])
        batch = max(float(np.max(np.abs(np.array([raw[n][0] for n in node_names(c, q)]) - ref.layers[q][0])))
                    for q in range(1, c.topology.n_layers))
        print(f"| {name} | {free:.1e} V | {nud:.1e} V | {nor:.1e} V | {batch:.1e} V |")

    print("\n| network | loss | one-sided rel. error (beta 1e-10 A) | centered | centered / one-sided |")
    print("|---|---|---|---|---|")
    for name, case in list(CASES.items())[:2]:
        for loss_name in ("ce", "mse"):
            c = circuit(np.random.default_rng(7), **{**case, "n_in": 3})
            x = rng.uniform(-1, 1, (8, 3))
            y = rng.integers(0, c.topology.n_classes, 8)
            loss = create_loss(loss_name, tau=0.02, target_scale=0.05)
            b = create("numpy", c)

            def mean_loss(gs):
                b.load([g.copy() for g in gs])
                return loss.value(c.prediction(b.solve(x).output), y).mean()

            g0 = [g.copy() for g in c.conductances]
            entries = [(k, i, j) for k, s in enumerate(c.topology.crossbars)
                       for i, j in [(0, 0), (1, 1), (s.shape[0] - 1, s.shape[1] - 1)]]
            fd = finite_difference_gradients(mean_loss, g0, 1e-4, entries)
            b.load(g0)
            f = np.array([fd[e] for e in entries])
            errs = []
            for centered in (False, True):
                pc = PhaseController(b, loss, 1e-10, centered)
                g = pc.gradients(pc.run(x, y))
                est = np.array([g[k][i, j] for k, i, j in entries])
                errs.append(np.linalg.norm(est - f) / np.linalg.norm(f))
            print(f"| {name} | {loss_name} | {errs[0]:.2e} | {errs[1]:.2e} | {errs[1] / errs[0]:.1e} |")


if __name__ == "__main__":
    main()
