"""Where the ideal-update MNIST epoch goes, part by part, against the GEMM bound (issue 17 item 5).

    PYTHONPATH=. python benchmarks/ideal_breakdown.py [repeats]

One run: ``repeats`` epochs of the ``mnist`` preset (1568-100-20, batch 256, float32, one BLAS
thread) with write/read energy on, each part of a training batch timed by wrapping the method
that does it (phases = the free and the stacked +-beta relaxation, of which the Norton GEMM of the
inputs is shown apart; energy = the phase-energy tally; gradient; Adam update; conductance load),
and the GEMM bound of the same shapes (:func:`benchmarks.fast_path.gemm_bound_per_batch`) measured
between the epochs. The epoch of least total time is reported. Rewrites the section of
benchmarks/results.md between its ``ideal-breakdown`` markers. Not a test; nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_path import gemm_bound_per_batch, write_section  # noqa: E402

from ebana.allocator import tune_malloc  # noqa: E402
from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- ideal-breakdown -->", "<!-- /ideal-breakdown -->"
PARTS = [("phases", "free + stacked +-beta relaxation (all of it)"), ("norton", "  of which the input GEMM x @ G"),
         ("energy", "phase-energy tally"), ("gradient", "EqProp gradient (input-crossbar GEMM + the rest)"),
         ("update", "Adam step and clipping"), ("load", "conductances into the solver")]


def _timed(obj, name: str, label: str, acc: dict) -> None:
    """Replace ``obj.name`` by a wrapper that adds its wall seconds to ``acc[label]`` while training."""
    f = getattr(obj, name)

    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            if acc.get("on"):
                acc[label] += time.perf_counter() - t
    setattr(obj, name, wrapper)


def one_epoch(data: str) -> tuple[float, dict, int, float]:
    cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "limit_test": 1000})
    acc: dict = defaultdict(float)
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, os.path.join(tmp, "run"))
        _timed(tr, "_phases", "phases", acc)
        _timed(tr.backend, "norton", "norton", acc)
        _timed(tr.energy, "add", "energy", acc)
        _timed(tr.phases, "gradients", "gradient", acc)
        _timed(tr.updater, "step", "update", acc)
        _timed(tr.backend, "load", "load", acc)
        batch = tr._train_batch

        def counted(idx):
            acc["on"] = True
            try:
                return batch(idx)
            finally:
                acc["on"] = False
        tr._train_batch = counted
        tr.run()
    return tr.elapsed, dict(acc), tr.n_batches, tr.history[-1]["mean_sweeps"]


if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    tune_malloc()
    runs, bounds = [], []
    for _ in range(repeats):
        elapsed, parts, n_batches, sweeps = one_epoch(data)
        runs.append((elapsed, parts))
        bounds.append(gemm_bound_per_batch(256, 784, 100, 20, sweeps, 2.0) * n_batches)
    elapsed, parts = min(runs, key=lambda r: r[0])
    bound = min(bounds)
    rows = ["| part | seconds per epoch | per batch (ms) | × GEMM bound |", "|---|---:|---:|---:|"]
    for key, what in PARTS:
        s = parts.get(key, 0.0)
        rows.append(f"| {key}: {what} | {s:.3f} | {1e3 * s / n_batches:.2f} | {s / bound:.2f} |")
    rest = elapsed - sum(parts.get(k, 0.0) for k, _ in PARTS if k != "norton")
    rows.append(f"| rest of the loop (batch slicing, tallies, progress) | {rest:.3f} | {1e3 * rest / n_batches:.2f} | "
                f"{rest / bound:.2f} |")
    rows.append(f"| **epoch** | **{elapsed:.3f}** | {1e3 * elapsed / n_batches:.2f} | **{elapsed / bound:.2f}** |")
    rows.append(f"| GEMM bound, same shapes | {bound:.3f} | {1e3 * bound / n_batches:.2f} | 1 |")
    text = "\n".join([
        BEGIN, "## Where the ideal epoch goes (python benchmarks/ideal_breakdown.py)", "",
        f"{platform.platform()}, {os.cpu_count()} CPUs, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; MNIST "
        f"60000 samples, 1568-100-20, batch 256, float32, energy on, {n_batches} batches; the fastest of {repeats} "
        f"epochs (epochs {', '.join(f'{e:.3f}' for e, _ in runs)} s), the bound the least of {len(bounds)} "
        "measurements. Each part is the wall time of the method that does it, summed over the epoch's batches.",
        "", *rows, "", END])
    write_section(HERE / "results.md", BEGIN, END, text)
    print(text)
