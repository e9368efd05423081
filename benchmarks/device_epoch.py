"""MNIST 1568-100-20 epoch slice: ideal updates vs device updates with write energy on (issue 17).

One run, side by side: the ``mnist`` preset with ``limit_train`` samples (default 2048) and one
epoch, for ideal updates and every device model with a fast (closed-form or quadrature) pulse
and write energy, PWM and PAM (``device.energy`` true, the default; :data:`CONFIGS`). Each
configuration is timed ``--repeats`` times (the epoch seconds that metrics.csv records; the best
is kept, the machine is noisy); the ideal epoch is timed before and after the device rows and
its best is the reference. The ratios to it are written to ``benchmarks/device_epoch.md``.

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

def _dev(model: str, scheme: str, **extra) -> tuple[str, dict]:
    label = " ".join([model, scheme.upper()] + [f"{k.split('.')[-1]}={v}" for k, v in extra.items()])
    return label, {"device.model": model, "device.scheme": scheme, **extra}


CONFIGS: list[tuple[str, dict]] = [
    ("ideal", {}),
    # issue 17's three acceptance rows
    _dev("vteam", "pwm"),
    _dev("soft_bounds_power", "pwm"),
    _dev("yakopcic", "pam"),
    # every model with a closed-form (or closed-form + quadrature) state and energy
    _dev("vteam", "pam"),
    _dev("yakopcic", "pwm"),
    _dev("soft_bounds_power", "pam"),
    _dev("soft_bounds_linear", "pwm"),
    _dev("soft_bounds_linear", "pam"),
    _dev("soft_bounds_exp", "pwm"),
    _dev("soft_bounds_exp", "pam"),
    _dev("messaris", "pwm"),
    _dev("messaris", "pam"),
    _dev("ideal", "pwm"),
    _dev("linear_ion_drift", "pwm"),
    _dev("linear_ion_drift", "pam"),
    _dev("nonlinear_ion_drift", "pwm"),
    _dev("nonlinear_ion_drift", "pam"),
]
"""Rows of the table; ``--only`` selects by label substring."""


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
    ap.add_argument("--only", nargs="*", default=None, help="label substrings to run (ideal always runs)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "device_epoch.md"))
    a = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    rows = []
    configs = [c for c in CONFIGS if c[0] == "ideal" or a.only is None or any(o in c[0] for o in a.only)]
    for name, ov in configs:
        runs = [epoch_seconds(ov, a.limit_train, data) for _ in range(a.repeats)]
        best = min(r[0] for r in runs)
        rows.append((name, best, runs[0][1]))
        print(f"{name}: {best:.3f} s", flush=True)
    again = min(epoch_seconds({}, a.limit_train, data)[0] for _ in range(a.repeats))
    print(f"ideal (again): {again:.3f} s", flush=True)
    ideal = min(rows[0][1], again)
    rows[0] = ("ideal", ideal, rows[0][2])
    lines = [
        "# Device epoch vs ideal epoch, write energy on (issue 17, item 1)",
        "",
        f"`benchmarks/device_epoch.py`: MNIST 1568-100-20 (`mnist` preset), one epoch of "
        f"`limit_train = {a.limit_train}` samples, best of {a.repeats} (ideal: best of {2 * a.repeats}, "
        f"timed before and after the device rows); "
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
