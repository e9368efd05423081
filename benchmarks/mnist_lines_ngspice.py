"""Stock ``ngspice -b`` against the numpy fast path on the full MNIST network with line resistance.

    PYTHONPATH=. EBANA_DATA_DIR=../shared/data python benchmarks/mnist_lines_ngspice.py [--phase free|nudged|both]

The ``mnist`` preset (1568-100-20 with bias rows: 1570 x 100 + 101 x 20 devices) with 1 ohm on every
wordline and bitline segment, driver and sense, its initial conductances (seed 0), the first test
image and, for the nudged phase, nudging currents N(0, 1e-8 A). Every device has its own row and
column node (~318k cell nodes), so one ``op`` takes ngspice tens of minutes to hours (Sparse);
numpy's solve takes about a second. Writes the netlists to a temporary directory and the result
(max |ngspice - numpy| over the neuron nodes, numpy's error bound, both times) to
benchmarks/mnist_lines_ngspice.md. Not a test; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ebana.backends import create
from ebana.builder import build
from ebana.config import apply_overrides, preset
from ebana.netlist import node_names, render
from ebana.rawfile import read_ascii_raw

HERE = Path(__file__).resolve().parent
WIRES = ("circuit.r_wordline", "circuit.r_bitline", "circuit.r_driver", "circuit.r_sense")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", choices=["free", "nudged", "both"], default="both")
    args = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    cfg = apply_overrides(preset("mnist"), {"data_dir": data, "limit_train": 256, "limit_test": 16,
                                           **{k: 1.0 for k in WIRES}})
    parts = build(cfg)
    c = parts.circuit
    x = parts.x_test[:1].astype(np.float64)
    i_nudge = np.random.default_rng(0).normal(0, 1e-8, 2 * c.topology.n_classes)
    nb = create("numpy", c)
    rows = []
    phases = [("free", None), ("nudged", i_nudge)]
    for label, inj in phases if args.phase == "both" else [p for p in phases if p[0] == args.phase]:
        t0 = time.perf_counter()
        sol = nb.solve(x, None if inj is None else inj[None])
        t_np = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{label}.cir"
            path.write_text(render(c, x[0], inj))
            t0 = time.perf_counter()
            proc = subprocess.run(["ngspice", "-b", "-r", str(Path(tmp) / "out.raw"), str(path)], capture_output=True,
                                  text=True, env=dict(os.environ, SPICE_ASCIIRAWFILE="1"))
            t_ng = time.perf_counter() - t0
            if proc.returncode:
                rows.append(f"| {label} | ngspice failed: {proc.stderr.strip().splitlines()[-1:]} | | {t_ng:.0f} | |")
                continue
            spice = {k: v[0] for k, v in read_ascii_raw(Path(tmp) / "out.raw").items()}
        d = max(float(np.max(np.abs(np.array([spice[n] for n in node_names(c, q)]) - sol.layers[q][0])))
                for q in range(1, c.topology.n_layers))
        rows.append(f"| {label} | {d:.2e} | {float(sol.info['error_bound']):.1e} | {t_ng:.0f} | {t_np:.2f} |")
        print(rows[-1], flush=True)
    text = "\n".join([
        "# Full MNIST network with line resistance: stock ngspice vs numpy (python benchmarks/mnist_lines_ngspice.py)",
        "", f"{platform.platform()}; the mnist preset, 1 ohm on every segment, driver and sense; the first test image.",
        "", "| phase | max \\|ngspice - numpy\\| over neuron nodes (V) | numpy error bound (V) | ngspice op (s) | numpy solve (s) |",
        "|---|---|---|---|---|", *rows, ""])
    (HERE / "mnist_lines_ngspice.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
