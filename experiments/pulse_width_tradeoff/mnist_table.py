"""Table and figure of the full-MNIST pulse-width runs (1 epoch, seed 0) through the fitted example FeFET.

Reads every run directory given (metrics.csv, config.toml) and writes mnist_tradeoff.csv/.md/.png
beside this script: test accuracy, pulses and write energy per (pulse width, algorithm).

    python experiments/pulse_width_tradeoff/mnist_table.py experiments/pulse_width_tradeoff/mnist/runs/* runs/mnist_plain_*
"""

from __future__ import annotations

import csv
import sys
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ebana.sweep import write_csv  # noqa: E402

HERE = Path(__file__).resolve().parent
WIDTH = {"20ns": 2e-8, "2us": 2e-6, "200us": 2e-4}


def _row(run: Path) -> dict | None:
    if not (run / "metrics.csv").exists():
        return None
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    if not rows:
        return None
    cfg = tomllib.loads((run / "config.toml").read_text())
    alg = cfg.get("algorithm", {})
    name = alg.get("name", "analog_sgd")
    label = {"mixed_precision": "mixed precision"}.get(name, "plain SGD")
    if name == "analog_sgd" and alg.get("reference") == "symmetric":
        label = "SP shifting"
    last = rows[-1]
    preset = cfg["device"].get("preset")
    return {"width_s": WIDTH[preset], "preset": preset, "algorithm": label, "epochs": len(rows),
            "test_acc_pct": round(100 * float(last["test_acc"]), 2),
            "pulses": int(float(last["pulses"])), "write_energy_J": float(last["e_write"]),
            "epoch_seconds": float(last["seconds"])}


def main(paths: list[str]) -> None:
    rows = sorted((r for r in map(_row, map(Path, paths)) if r), key=lambda r: (r["width_s"], r["algorithm"]))
    write_csv(HERE / "mnist_tradeoff.csv", rows)
    lines = ["# Pulse width trade-off through the fitted example FeFET (full MNIST 60k/10k, 1568-100-20, "
             "1 epoch, seed 0)", "",
             "| width (s) | algorithm | test acc (%) | pulses | write energy (J) | epoch (s, wall, shared VM) |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['width_s']:g} | {r['algorithm']} | {r['test_acc_pct']:.2f} | {r['pulses']:.3g} | "
              f"{r['write_energy_J']:.3g} | {r['epoch_seconds']:.0f} |" for r in rows]
    (HERE / "mnist_tradeoff.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    for alg in sorted({r["algorithm"] for r in rows}):
        rs = [r for r in rows if r["algorithm"] == alg]
        w = [r["width_s"] for r in rs]
        for a, key in zip(ax, ("test_acc_pct", "pulses", "write_energy_J")):
            a.plot(w, [r[key] for r in rs], "o-", label=alg)
    for a, lab in zip(ax, ("test accuracy (%)", "pulses (1 epoch)", "write energy (J, 1 epoch)")):
        a.set_xscale("log")
        a.set_xlabel("pulse width (s)")
        a.set_ylabel(lab)
    for a in ax[1:]:
        a.set_yscale("log")
    ax[0].legend()
    fig.suptitle("Full MNIST through the fitted example FeFET (1 epoch, seed 0)")
    fig.tight_layout()
    fig.savefig(HERE / "mnist_tradeoff.png", dpi=120)
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
