"""MNIST 1568-100-20 epoch slice: ideal updates vs device updates with write energy on (issue 17).

One run, side by side: the ``mnist`` preset with ``limit_train`` samples (default 2048) and one
epoch, for ideal updates and every device model with a fast (closed-form, quadrature or per-device
adaptive) pulse and write energy, PWM and PAM (``device.energy`` true, the default; :data:`CONFIGS`). Each
row alternates ``--repeats`` ideal and device epochs (the epoch seconds that metrics.csv
records) and divides the best device epoch by the best ideal epoch beside it, so both see the
same machine load (shared, noisy VM). The table is written to ``benchmarks/device_epoch.md``.

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

from ebana import training  # noqa: E402
from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

def _dev(model: str, scheme: str, **extra) -> tuple[str, dict]:
    label = " ".join([model, scheme.upper()] + [f"{k.split('.')[-1]}={v}" for k, v in extra.items()])
    return label, {"device.model": model, "device.scheme": scheme, **extra}


CONFIGS: list[tuple[str, dict]] = [
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
    # issue 20: a device fitted to measured pulse data (the shipped example FeFET)
    _dev("fitted:device_models/measured/example_fefet.toml", "pwm"),
    _dev("fitted:device_models/measured/example_fefet.toml", "pam"),
    # not separable: per-device adaptive Dormand-Prince (ebana.devices.batch_integrate)
    _dev("team", "pwm"),
    _dev("team", "pam"),
    _dev("stanford_pku", "pwm"),
    _dev("stanford_pku", "pam"),
]
"""Rows of the table; ``--only`` selects by label prefix."""


class _CPUClock:
    """Stand-in for the ``time`` module inside :mod:`ebana.training` whose ``perf_counter`` is
    this process's CPU time, so metrics.csv's epoch seconds count only our own work (the VM is
    shared: under a load of 5 on 2 cores wall times vary 2x between identical epochs)."""

    perf_counter = staticmethod(time.process_time)

    def __getattr__(self, name: str):
        return getattr(time, name)


def epoch_seconds(overrides: dict, limit: int, data: str, clock: str = "wall") -> tuple[float, float]:
    """(epoch seconds as metrics.csv records it, write energy J of the epoch or nan); ``clock``
    ``cpu`` makes those seconds CPU seconds (:class:`_CPUClock`)."""
    cfg = apply_overrides(preset("mnist"), {"epochs": 1, "data_dir": data, "limit_train": limit,
                                            **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, os.path.join(tmp, "run"))
        saved = training.time
        training.time = _CPUClock() if clock == "cpu" else time
        try:
            tr.run()
        finally:
            training.time = saved
        row = tr.history[-1]
        e = float(row.get("e_write", float("nan")))
        return float(row["seconds"]), e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-train", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="epoch seconds as wall time (metrics.csv) or this process's CPU time")
    ap.add_argument("--only", nargs="*", default=None, help="label prefixes of the rows to run ('team PWM' is not 'vteam PWM')")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "device_epoch.md"))
    a = ap.parse_args()
    data = os.environ.get("EBANA_DATA_DIR", "../shared/data")
    load0 = os.getloadavg()[0]
    rows = []
    ideal_all: list[float] = []
    configs = [c for c in CONFIGS if c[0] != "ideal" and (a.only is None or any(c[0].startswith(o) for o in a.only))]
    for name, ov in configs:
        # alternate ideal and device epochs so both see the same machine load
        ideal_t, dev_t, e = [], [], float("nan")
        for _ in range(a.repeats):
            ideal_t.append(epoch_seconds({}, a.limit_train, data, a.clock)[0])
            sec, e = epoch_seconds(ov, a.limit_train, data, a.clock)
            dev_t.append(sec)
        ideal_all += ideal_t
        rows.append((name, min(dev_t), min(ideal_t), e))
        print(f"{name}: {min(dev_t):.3f} s, ideal beside it {min(ideal_t):.3f} s, "
              f"{min(dev_t) / min(ideal_t):.2f}x", flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "# Device epoch vs ideal epoch, write energy on (issue 17, item 1)",
        "",
        f"`benchmarks/device_epoch.py`: MNIST 1568-100-20 (`mnist` preset), one epoch of "
        f"`limit_train = {a.limit_train}` samples, epoch seconds as {a.clock} time "
        f"(`--clock {a.clock}`); each row alternates {a.repeats} ideal and {a.repeats} "
        f"device epochs and divides the best device epoch by the best ideal epoch beside it (the "
        f"machine is shared and noisy: ideal epochs in this run {min(ideal_all):.3f}-{max(ideal_all):.3f} s, "
        f"load average {load0:.1f} -> {load1:.1f}); "
        f"{platform.processor() or platform.machine()}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Target (issue 17): device / ideal ≤ 3×.",
        "",
        "| configuration | device epoch (s) | ideal epoch beside it (s) | device / ideal | write energy (J) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, sec, ideal, e in rows:
        lines.append(f"| {name} | {sec:.3f} | {ideal:.3f} | {sec / ideal:.2f}× | {e:.3g} |")
    with open(a.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
