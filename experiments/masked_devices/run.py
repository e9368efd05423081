"""Device models on masked crossbars: a masked IRIS graph and a digits local layer, ideal updates
against VTEAM and linear ion drift devices; table and figure.

Usage (from the repository root)::

    python experiments/masked_devices/run.py [--seeds 3] [--out experiments/masked_devices]

* ``iris_graph``: IRIS as a ``[graph]`` (sepal and petal input groups, each with its own hidden
  block of 5, petal also straight to the head; two masked crossbars), 10 epochs;
* ``digits_local``: ``--conv local4k3s1 --hidden none`` on the 8x8 digits (64x2-144-10x2, the
  input crossbar masked to the 3x3 receptive fields), 3 epochs, the ``digits`` preset.

Every run has seed ``s`` (0..N-1), the fast path and PWM programming. Writes ``results.csv``
(per case, model and seed: final test accuracy and loss, write energy of the last epoch, pulses,
devices, cells, the largest |G| of any cell without a device) and ``masked_devices.png`` (test
accuracy per epoch, mean over seeds).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana import datasets
from ebana.config import apply_overrides, from_dict, preset
from ebana.training import Trainer

HERE = Path(__file__).resolve().parent
MODELS = ("ideal_update", "vteam", "linear_ion_drift")


def config(case: str, model: str, seed: int, tmp: Path):
    if case == "iris_graph":
        cols = datasets.write_csv("iris", tmp / "iris.csv")
        d = {"dataset": str(tmp / "iris.csv"), "epochs": 10, "seed": seed,
             "graph": {"inputs": {"sepal": cols[:2], "petal": cols[2:]}, "hidden": {"hs": 5, "hp": 5},
                       "heads": {"label": {"column": "label"}},
                       "edges": ["sepal -> hs", "petal -> hp", "hs -> label", "hp -> label", "petal -> label"]}}
    else:
        cfg = preset("digits")   # as ``ebana train digits`` uses it
        changes = {"conv": "local4k3s1", "hidden": (), "epochs": 3, "seed": seed}
        if model != "ideal_update":
            changes["device.model"] = model
        return apply_overrides(cfg, changes)
    if model != "ideal_update":
        d["device"] = {"model": model}
    return from_dict(d)


def run(case: str, model: str, seed: int, tmp: Path) -> tuple[dict, list[float]]:
    cfg = config(case, model, seed, tmp)
    t0 = time.perf_counter()
    tr = Trainer(cfg, tmp / f"{case}-{model}-{seed}")
    hist = tr.run()
    topo = tr.circuit.topology
    gs = tr.updater.conductances()
    masks = [topo.mask(k) for k in range(len(gs))]
    off = max(float(np.abs(g[~m]).max(initial=0.0)) for g, m in zip(gs, masks) if m is not None)
    n_dev = sum(int(m.sum()) if m is not None else g.size for g, m in zip(gs, masks))
    last = hist[-1]
    row = {"case": case, "model": model, "seed": seed, "epochs": len(hist), "test_acc": last["test_acc"],
           "test_loss": round(last["test_loss"], 6), "e_write_last_epoch_J": last.get("e_write", ""),
           "pulses_last_epoch": last.get("pulses", ""), "devices": n_dev, "cells": sum(g.size for g in gs),
           "max_G_off_mask_S": off, "seconds": round(time.perf_counter() - t0, 2)}
    return row, [r["test_acc"] for r in hist]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("iris_graph", "digits_local"):
            for model in MODELS:
                for seed in range(args.seeds):
                    row, acc = run(case, model, seed, Path(tmp))
                    rows.append(row)
                    curves.setdefault((case, model), []).append(acc)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig = Figure(figsize=(9, 3.4))
    for k, case in enumerate(("iris_graph", "digits_local")):
        ax = fig.add_subplot(1, 2, k + 1)
        for model in MODELS:
            acc = 100 * np.array(curves[(case, model)])
            ax.plot(np.arange(1, acc.shape[1] + 1), acc.mean(axis=0), marker="o", label=model)
        ax.set(title=f"{case} ({args.seeds} seeds)", xlabel="epoch", ylabel="test accuracy (%), mean")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out / "masked_devices.png", dpi=110)


if __name__ == "__main__":
    main()
