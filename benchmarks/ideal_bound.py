"""The ideal-update MNIST epoch against the GEMM bound of its own shapes, energy on and off, side by side.

    PYTHONPATH=. python benchmarks/ideal_bound.py [repeats]

One run: alternating epochs with ``energy.enabled`` on and off (the ``mnist`` preset, 1568-100-20,
batch 256, float32, one BLAS thread) and the GEMM bound of :func:`benchmarks.fast_path.gemm_bound_per_batch`
(the minimum GEMMs of the free + stacked +-beta relaxation and the gradient, same shapes, dtypes and
threads), measured between the epochs. Best of each and the median ratio; rewrites the section of
benchmarks/results.md between its ``ideal-bound`` markers. Not a test; nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_path import gemm_bound_per_batch, write_section  # noqa: E402

from ebana.allocator import tune_malloc  # noqa: E402
from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- ideal-bound -->", "<!-- /ideal-bound -->"

if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    tune_malloc()
    secs: dict[str, list[float]] = {"on": [], "off": []}
    bounds: list[float] = []
    sweeps = 2.0
    for _ in range(repeats):
        for mode in ("on", "off"):
            cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "limit_test": 1000,
                                                    "energy.enabled": mode == "on"})
            with tempfile.TemporaryDirectory() as tmp:
                tr = Trainer(cfg, os.path.join(tmp, "run"))
                tr.run()
            secs[mode].append(tr.elapsed)
            sweeps = tr.history[-1]["mean_sweeps"]
            bounds.append(gemm_bound_per_batch(cfg.batch_size, 784, 100, 20, sweeps, 2.0) * tr.n_batches)
    bound = min(bounds)
    res = {"machine": platform.platform(), "cpus": os.cpu_count(), "samples": len(tr.x_train),
           "batch": cfg.batch_size, "mean_free_sweeps": sweeps, "gemm_bound_s": [round(b, 4) for b in bounds],
           "epoch_s": {k: [round(v, 4) for v in vs] for k, vs in secs.items()}}
    print(json.dumps(res))
    rows = ["| energy | epoch (s), best | epochs (s) | GEMM bound (s), best | ratio (best/best) | ratio (median/median) |",
            "|---|---|---|---|---|---|"]
    for k in ("on", "off"):
        rows.append(f"| {k} | {min(secs[k]):.3f} | {', '.join(f'{v:.3f}' for v in secs[k])} | {bound:.3f} | "
                    f"{min(secs[k]) / bound:.2f}x | {np.median(secs[k]) / np.median(bounds):.2f}x |")
    text = "\n".join([BEGIN, "## Ideal-update epoch vs the GEMM bound, energy on and off (python benchmarks/ideal_bound.py)",
                      "", f"{res['machine']}, {res['cpus']} CPUs, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; "
                      f"MNIST {res['samples']} samples, 1568-100-20, batch {res['batch']}, float32, "
                      f"{sweeps:.2f} mean free sweeps; {repeats} alternating epochs per mode, the bound measured "
                      f"after each epoch ({len(bounds)} times).", "", *rows, "", END])
    write_section(HERE / "results.md", BEGIN, END, text)
