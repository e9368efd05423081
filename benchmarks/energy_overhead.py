"""Training seconds of one MNIST preset epoch with the energy accounting on and off, alternating.

    PYTHONPATH=. python benchmarks/energy_overhead.py [repeats]

Prints JSON (machine, sizes, seconds). Not a test; nothing here asserts. MNIST from $EBANA_DATA_DIR
or ../shared/data.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

if __name__ == "__main__":
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    out: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "dataset": "mnist", "epochs": 1,
                 "train_seconds": {"on": [], "off": []}}
    for _ in range(repeats):
        for on in (True, False):
            cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "energy.enabled": on})
            with tempfile.TemporaryDirectory() as tmp:
                tr = Trainer(cfg, os.path.join(tmp, "run"))
                tr.run()
                out["train_seconds"]["on" if on else "off"].append(round(tr.elapsed, 3))
                out["n_train"], out["batch_size"] = len(tr.x_train), cfg.batch_size
    print(json.dumps(out))
