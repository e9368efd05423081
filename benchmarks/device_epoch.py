"""MNIST 1568-100-20 epoch slice: ideal updates vs device updates with write energy on (issue 17).

One run, side by side: the ``mnist`` preset with ``limit_train`` samples (default 2048) and one
epoch, for ideal updates, VTEAM PWM, soft_bounds_power PWM and Yakopcic PAM (``device.energy``
true, the default). Each configuration is timed ``--repeats`` times (the epoch seconds that
metrics.csv records; the best is kept, the machine is noisy) and the ratios to the ideal epoch
are written to ``benchmarks/device_epoch.md``.

    OMP_NUM_THREADS=1 PYTHONPATH=. EBANA_DATA_DIR=../shared/data python benchmarks/device_epoch.py

Not a test; nothing here asserts. MNIST from $EBANA_DATA_DIR or ../shared/data.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

CONFIGS: list[tuple[str, dict]] = [
    ("ideal", {}),
    ("vteam PWM", {"device.model": "vteam", "device.scheme": "pwm"}),
    ("soft_bounds_power PWM", {"device.model": "soft_bounds_power", "device.scheme": "pwm"}),
    ("yakopcic PAM", {"device.model": "yakopcic", "device.scheme": "pam"}),
]


def epoch_seconds(overrides: dict, limit: int, data: str) -> tuple[float, float]:
    """(epoch seconds as metrics.csv records it, write energy J of the epoch or nan)."""
    cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "limit_train": limit,
                                            **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, os.path.join(tmp, "run"))
        tr.run()
        row = tr.history[-1]
        e = float(row.get("e_write", float("nan")))
        return float(row["seconds"]), e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-train", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "device_epoch.md"))
    a = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    rows = []
    for name, ov in CONFIGS:
        runs = [epoch_seconds(ov, a.limit_train, data) for _ in range(a.repeats)]
        best = min(r[0] for r in runs)
        rows.append((name, best, runs[0][1]))
        print(f"{name}: {best:.3f} s", flush=True)
    ideal = rows[0][1]
    lines = [
        "# Device epoch vs ideal epoch, write energy on (issue 17, item 1)",
        "",
        f"`benchmarks/device_epoch.py`: MNIST 1568-100-20 (`mnist` preset), one epoch of "
        f"`limit_train = {a.limit_train}` samples, best of {a.repeats}; "
        f"{platform.processor() or platform.machine()}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Target (issue 17): device / ideal ≤ 3×.",
        "",
        "| configuration | epoch (s) | / ideal | write energy (J) |",
        "|---|---:|---:|---:|",
    ]
    for name, sec, e in rows:
        lines.append(f"| {name} | {sec:.3f} | {sec / ideal:.2f}× | {e:.3g} |")
    with open(a.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
