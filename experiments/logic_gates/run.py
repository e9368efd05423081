"""Logic gates (OR, AND, XOR heads) on the fast path: three graphs, five seeds; table and figure.

Usage (from the repository root)::

    python experiments/logic_gates/run.py [--seeds 5] [--out experiments/logic_gates]

Trains ``gates.toml`` (one hidden layer feeding three heads, the EBANA digital-gates example) and
``gates_split.toml`` (a branched graph with connectivity masks) and ``gates_single.toml`` (the
gates.toml graph with one-output heads, ``outputs = 1``) for seeds 0..N-1 in temporary run
directories and writes ``results.csv`` (per config and seed: the first epoch with every head at
100 % on train and test, final per-head test accuracy and loss, seconds) and ``logic_gates.png``
(per-head training accuracy per epoch, mean over seeds).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.config import from_dict, load_toml
from ebana.training import Trainer

HERE = Path(__file__).resolve().parent
CONFIGS = ("gates", "gates_split", "gates_single")
HEADS = ("or", "and", "xor")


def run(name: str, seed: int, tmp: Path) -> tuple[list[dict], float]:
    cfg = replace(from_dict(load_toml(HERE / f"{name}.toml")), seed=seed)
    t0 = time.perf_counter()
    hist = Trainer(cfg, tmp / f"{name}-{seed}").run()
    return hist, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            for seed in range(args.seeds):
                hist, secs = run(name, seed, Path(tmp))
                first = next((r["epoch"] for r in hist if r["train_acc"] == 1 and r["test_acc"] == 1), "")
                last = hist[-1]
                rows.append({"config": name, "seed": seed, "epochs": len(hist), "first_epoch_all_100": first,
                             **{f"{h}_test_acc": last[f"{h}_test_acc"] for h in HEADS},
                             **{f"{h}_test_loss": round(last[f"{h}_test_loss"], 6) for h in HEADS},
                             "test_acc": last["test_acc"], "seconds": round(secs, 2)})
                curves.setdefault(name, []).append([[r[f"{h}_train_acc"] for r in hist] for h in HEADS])
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig = Figure(figsize=(4.5 * len(CONFIGS), 3.4))
    for k, name in enumerate(CONFIGS):
        ax = fig.add_subplot(1, len(CONFIGS), k + 1)
        acc = np.array(curves[name])          # (seeds, heads, epochs)
        for j, h in enumerate(HEADS):
            ax.plot(np.arange(1, acc.shape[2] + 1), 100 * acc[:, j].mean(axis=0), label=h.upper(),
                    linestyle=("--", "-", "-")[j], linewidth=(2.5, 1.2, 1.5)[j])
        ax.set(title=f"{name}.toml ({acc.shape[0]} seeds)", xlabel="epoch", ylabel="train accuracy (%), mean",
               ylim=(0, 105))
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out / "logic_gates.png", dpi=110)


if __name__ == "__main__":
    main()
