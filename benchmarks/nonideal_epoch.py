"""MNIST 1568-100-20 epoch slice through VTEAM (PWM): the cost of each [nonideal] effect (issue 16).

One run, side by side: the ``mnist`` preset, ``limit_train`` samples (default 2048), one epoch,
``device.model = vteam`` with write energy on, then the same with one effect at a time and with
every effect but read disturb together, and the cited ``realistic_chip`` preset. Each configuration is timed ``--repeats`` times (the epoch
seconds metrics.csv records; the best is kept, the machine is shared) and written, with the ratio
to the plain device epoch, to ``benchmarks/nonideal_epoch.md``. A second table times read disturb of a
flux-controlled device (linear ion drift, Joglekar window: one hold per batch) against the same device
read by read (``device.c2c`` > 0 draws noise per read, so it takes the read-by-read path), on
``--limit-flux`` samples (default 512: the read-by-read epoch integrates 768 reads per batch).

    OMP_NUM_THREADS=1 PYTHONPATH=. EBANA_DATA_DIR=../shared/data python benchmarks/nonideal_epoch.py

The single-effect strengths are arbitrary mid-range values; ``realistic_chip`` is the preset with
cited values (README, "A realistic chip"). Not a test; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

EFFECTS: list[tuple[str, dict]] = [
    ("stuck 1 % ON + 1 % OFF", {"nonideal.stuck_on": 0.01, "nonideal.stuck_off": 0.01}),
    ("d2d 0.1 + c2c 0.1", {"nonideal.d2d": 0.1, "nonideal.c2c": 0.1}),
    ("read noise 0.1 mV + 8-bit ADC", {"nonideal.read_noise": 1e-4, "nonideal.adc_bits": 8}),
    ("6-bit input DAC", {"nonideal.dac_bits": 6}),
    ("retention tau 1e4 s", {"nonideal.retention_tau": 1e4}),
    ("power-law drift nu 0.01", {"nonideal.drift_nu": 0.01}),
    ("read disturb 1 ns per phase", {"nonideal.t_read": 1e-9}),
]
ALL = {k: v for _, ov in EFFECTS[:-1] for k, v in ov.items()}
CONFIGS = [("vteam PWM", {}), *EFFECTS, ("all but read disturb", ALL),
           ("realistic_chip preset", {"nonideal.preset": "realistic_chip"})]


FLUX = {"device.model": "linear_ion_drift", "device.preset": "memtorch_joglekar"}
FLUX_CONFIGS = [("linear ion drift (Joglekar) PWM", {}),
                ("read disturb 1 µs per phase, one hold per batch", {"nonideal.t_read": 1e-6}),
                ("read disturb 1 µs per phase + c2c 1e-9, read by read", {"nonideal.t_read": 1e-6, "device.c2c": 1e-9})]


def epoch_seconds(overrides: dict, limit: int, data: str) -> float:
    cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "limit_train": limit,
                                            "device.model": "vteam", **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, os.path.join(tmp, "run"))
        tr.run()
        return float(tr.history[-1]["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-train", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "nonideal_epoch.md"))
    ap.add_argument("--limit-flux", type=int, default=512)
    a = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    lines = ["# MNIST device epoch with [nonideal] effects (issue 16)", "",
             f"`benchmarks/nonideal_epoch.py`: MNIST 1568-100-20 (`mnist` preset), one epoch, best of {a.repeats}; "
             f"{platform.processor() or platform.machine()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (shared 2-core VM).", ""]
    for title, configs, common, limit in (
            (f"VTEAM PWM, `limit_train = {a.limit_train}`", CONFIGS, {}, a.limit_train),
            (f"Linear ion drift (`device.preset = memtorch_joglekar`) PWM, `limit_train = {a.limit_flux}`",
             FLUX_CONFIGS, FLUX, a.limit_flux)):
        rows = []
        for name, ov in configs:
            best = min(epoch_seconds({**common, **ov}, limit, data) for _ in range(a.repeats))
            rows.append((name, best, ov))
            print(json.dumps({"config": name, "seconds": best}), flush=True)
        base = rows[0][1]
        lines += [f"## {title}", "", "| configuration | overrides | epoch (s) | / plain device epoch |",
                  "|---|---|---:|---:|"]
        for name, sec, ov in rows:
            over = ", ".join(f"`{k}={v}`" for k, v in ov.items()) or "–"
            lines.append(f"| {name} | {over} | {sec:.3f} | {sec / base:.2f}× |")
        lines.append("")
    with open(a.out, "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))

if __name__ == "__main__":
    main()
