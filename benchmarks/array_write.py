"""One update written through the MNIST 1568-100-20 arrays (1570x100 and 101x20 VTEAM devices, PWM at
+0.22 / -0.035 V, energy on): the selector against the passive-array schemes, side by side (issue 15).

Every scheme writes the same request (a random half of the devices pulsed, each a random width in
[0.1, 2] ns, signs at random, states uniform in [0.05, 0.95]). Row and column V/2 put only dead
voltages on the unselected devices, so they take the one-pass write (``PassiveArray._write_dead``);
``--step`` also times them step by step (one full-array device step per row phase: ~1 min for the
rows). Column V/3 moves unselected devices and is always step by step. Best of ``--repeats``
(``time.process_time``); the table goes to ``benchmarks/array_write.md``.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/array_write.py [--step] [--repeats 3]

Not a test; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_path import best_of  # noqa: E402

from ebana import devices  # noqa: E402
from ebana.updates.array_schemes import PassiveArray  # noqa: E402

SHAPES = [(1570, 100), (101, 20)]


def request(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = sum(r * c for r, c in SHAPES)
    v = np.where(rng.random(n) < 0.5, 0.22, -0.035) * (rng.random(n) < 0.5)
    t = np.where(v != 0, rng.uniform(1e-10, 2e-9, n), 0.0)
    return rng.uniform(0.05, 0.95, n), v, t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--step", action="store_true", help="also time row/column V/2 step by step")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "array_write.md"))
    args = ap.parse_args()
    m = devices.create("vteam")
    x, v, t = request(np.random.default_rng(0))
    rows = [("selector (every device its own pulse)", best_of(lambda: m.apply_pulse(x, v, t), args.repeats, time.process_time))]
    cases = [("row_v2", True), ("column_v2", True), ("column_v3", False)]
    if args.step:
        cases += [("row_v2", False), ("column_v2", False)]
    for scheme, one in cases:
        arr = PassiveArray(scheme, SHAPES, m, v_set=0.22, v_reset=-0.035, rng=np.random.default_rng(0))
        arr.one_pass = one
        reps = args.repeats if one else 1
        rows.append((f"{scheme}, {'one pass' if one and scheme.endswith('v2') else 'step by step'}",
                     best_of(lambda: arr.write(x, v, t), reps, time.process_time)))
    base = rows[0][1]
    lines = ["# One update through the MNIST 1568-100-20 arrays (python benchmarks/array_write.py)", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, BLAS threads 1. VTEAM, PWM +0.22 / -0.035 V,",
             "energy on, 157,020 + 2,020 devices, half of them pulsed (widths 0.1-2 ns). CPU seconds, best of",
             f"{args.repeats} (step-by-step writes once).", "",
             "| write | seconds | × selector |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.4g} | {sec / base:.3g} |" for name, sec in rows]
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
