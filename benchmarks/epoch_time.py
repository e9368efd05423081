"""Seconds of one MNIST preset training epoch (as metrics.csv records it) of the ebana on sys.path.

Compare two checkouts side by side, alternating (the machine is noisy):

    for r in 1 2 3; do for t in OLD_TREE .; do (cd $t && PYTHONPATH=. python benchmarks/epoch_time.py); done; done

Not a test; nothing here asserts. MNIST from $EBANA_DATA_DIR or ../shared/data.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import tempfile  # noqa: E402

import ebana  # noqa: E402
from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

if __name__ == "__main__":
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data})
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, os.path.join(tmp, "run"))
        tr.run()
        print(f"{os.path.dirname(os.path.dirname(ebana.__file__))}: epoch {tr.history[-1]['seconds']:.3f} s")
