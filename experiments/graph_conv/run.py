"""Convolutional graph networks on 8x8 digits (fast path, ideal updates): three graphs, three seeds.

Usage (from the repository root)::

    python experiments/graph_conv/run.py [--seeds 3] [--out experiments/graph_conv]

Writes ``digits.csv`` (scikit-learn's digits, :func:`ebana.datasets.write_csv`; not committed) when
it is missing, then trains ``dense.toml`` (one dense hidden layer of 64, the digits preset's
network as a graph), ``conv.toml`` (a shared 3x3 kernel of 8 filters, same padding, then 2x2
average pooling: layer edges ``"img -> c : conv8k3s1same"``, ``"c -> pool : avg2"``) and
``branched.toml`` (that conv path and a dense path of equal length joined in one hidden layer)
for seeds 0..N-1 in temporary run directories. Writes ``results.csv`` (per config and seed: devices,
trained parameters, final and best test accuracy, final test loss, mean epoch seconds) and
``graph_conv.png`` (test accuracy per epoch, mean over seeds).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.config import from_dict, load_toml
from ebana.datasets import write_csv as write_dataset_csv
from ebana.sweep import write_csv
from ebana.training import Trainer

HERE = Path(__file__).resolve().parent
CONFIGS = ("dense", "conv", "branched")


def parameters(t) -> tuple[int, int]:
    """(devices, trained parameters) of a topology: shared copies count once, pooling cells not at all."""
    return (sum(t.n_devices(k) for k in range(len(t.crossbars))),
            sum(t.n_parameters(k) for k in range(len(t.crossbars))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    if not (HERE / "digits.csv").exists():
        write_dataset_csv("digits", HERE / "digits.csv")
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            for seed in range(args.seeds):
                cfg = replace(from_dict(load_toml(HERE / f"{name}.toml")), seed=seed)
                tr = Trainer(cfg, Path(tmp) / f"{name}-{seed}")
                hist = tr.run()
                devices, params = parameters(tr.circuit.topology)
                rows.append({"config": name, "seed": seed, "network": tr.circuit.topology.describe(),
                             "devices": devices, "parameters": params, "epochs": len(hist),
                             "test_acc": hist[-1]["test_acc"], "best_test_acc": max(r["test_acc"] for r in hist),
                             "test_loss": round(hist[-1]["test_loss"], 6),
                             "epoch_seconds": round(float(np.mean([r["seconds"] for r in hist])), 3)})
                curves.setdefault(name, []).append([r["test_acc"] for r in hist])
                print(rows[-1])
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "results.csv", rows)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in CONFIGS:
        acc = 100 * np.array(curves[name])
        ax.plot(np.arange(1, acc.shape[1] + 1), acc.mean(axis=0), label=f"{name}.toml")
    ax.set(title=f"8x8 digits, [graph] networks ({args.seeds} seeds)", xlabel="epoch",
           ylabel="test accuracy (%), mean over seeds", ylim=(80, 100))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out / "graph_conv.png", dpi=110)


if __name__ == "__main__":
    main()
