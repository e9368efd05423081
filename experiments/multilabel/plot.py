"""labels3.png from a run's metrics.csv: test exact-match accuracy, per-label accuracy and hamming
loss per epoch. Run from the repository root:

    python experiments/multilabel/plot.py runs/multilabel/metrics.csv
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = ("a", "b", "c")


def main(metrics: str) -> None:
    here = Path(__file__).parent
    with open(metrics, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ep = [int(r["epoch"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(ep, [float(r["test_acc"]) for r in rows], "k-o", ms=3, label="exact match")
    for k, name in enumerate(LABELS):
        ax1.plot(ep, [float(r[f"test_label_acc{k}"]) for r in rows], "--", label=f"label {name}")
    ax1.set(xlabel="epoch", ylabel="test accuracy", title="labels3.csv, test set")
    ax1.legend()
    ax2.semilogy(ep, [max(float(r["test_hamming"]), 1e-4) for r in rows], "r-o", ms=3, label="test")
    ax2.semilogy(ep, [max(float(r["train_hamming"]), 1e-4) for r in rows], "b-o", ms=3, label="train")
    ax2.set(xlabel="epoch", ylabel="hamming loss (floored at 1e-4)", title="mean hamming loss")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(here / "labels3.png", dpi=120)
    shutil.copyfile(metrics, here / "labels3_metrics.csv")
    print(here / "labels3.png")


if __name__ == "__main__":
    main(sys.argv[1])
