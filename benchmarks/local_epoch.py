"""One short MNIST epoch of a two-conv crossbar net with sparse (CSR) local couplings vs all dense.

Run: ``OMP_NUM_THREADS=1 python benchmarks/local_epoch.py DATA_DIR`` (runs into /tmp); prints JSON
with the epoch seconds (metrics.csv ``seconds``), test accuracy and loss of each variant.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

import ebana.backends.numpy_solver as numpy_solver
from ebana.config import TrainConfig, apply_overrides, preset
from ebana.training import Trainer


def run(data_dir: str, density: float, out: Path) -> dict:
    """Train one epoch with ``numpy_solver.SPARSE_DENSITY = density`` (-1: every coupling dense)."""
    numpy_solver.SPARSE_DENSITY = density
    cfg = apply_overrides(preset("mnist"), {"data_dir": data_dir, "conv": "conv8k5s2,conv16k3", "hidden": "none",
                                            "lr": 1e-6, "epochs": 1, "limit_train": 4096, "limit_test": 1000})
    assert isinstance(cfg, TrainConfig)
    Trainer(cfg, out).run()
    row = list(csv.DictReader(open(out / "metrics.csv")))[-1]
    return {k: float(row[k]) for k in ("seconds", "test_acc", "test_loss", "mean_sweeps")}


if __name__ == "__main__":
    tmp = Path(tempfile.mkdtemp())
    res = {name: run(sys.argv[1], d, tmp / name) for name, d in (("csr", 0.25), ("dense", -1.0))}
    print(json.dumps(res, indent=1))
