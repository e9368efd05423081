"""Weights trained on ideal wires, read out on a resistive array, without and with row_drive compensation.

Usage (from the repository root)::

    python experiments/line_resistance/deploy.py (--sweep DIR | --runs RUN [RUN ...]) --out DIR

``--sweep``: the ideal-wire runs (every r = 0, compensation none) of a line-resistance sweep directory
(e.g. experiments/line_resistance/mnist); ``--runs``: run directories trained on ideal wires. Each run's
conductances (S) are evaluated (free phase, :func:`ebana.deploy.evaluate_checkpoint`, no retraining)
with the same resistance r (ohm) on every wordline and bitline segment, driver and sense, at the
ratios ``--ratios`` of total line resistance over R_ON: ratio = (2 + (C - 1) + (R - 1)) r / R_ON, R x C
the input crossbar, R_ON = 1/g_max (20 r / R_ON on IRIS, 1670 r / R_ON on MNIST), with
``circuit.line_compensation`` none and row_drive, and with ``--max-factor F ...`` also row_drive with its
factors bounded by each F (``circuit.line_compensation_max``; labelled ``row_drive<=F``). Writes
deploy.csv, deploy.md and deploy.png in ``--out``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.checkpoint import load_checkpoint_circuit
from ebana.deploy import evaluate_checkpoint
from ebana.sweep import write_csv

COMPENSATION = ["none", "row_drive"]
RATIOS = [0.01, 0.1, 0.3, 1.0, 3.0]
WIRES = ("circuit.r_wordline", "circuit.r_bitline", "circuit.r_driver", "circuit.r_sense")


def ideal_runs(sweep: Path) -> list[Path]:
    """The runs of a line-resistance sweep with ideal wires and no compensation (results.csv, status done)."""
    with open(sweep / "results.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    return [sweep / "runs" / r["run"] for r in rows
            if all(float(r[k]) == 0.0 for k in WIRES) and r["circuit.line_compensation"] == "none"]


def geometry(run: Path) -> tuple[str, int, float, int]:
    """(dataset, wire segments of the farthest device's path in the input crossbar, R_ON (ohm), seed)."""
    cfg, circuit = load_checkpoint_circuit(run)
    n_rows, n_cols = circuit.topology.crossbars[0].shape
    return cfg.dataset, 2 + (n_cols - 1) + (n_rows - 1), 1.0 / cfg.circuit.g_max, cfg.seed


def compensations(max_factors: list[float]) -> dict[str, dict]:
    """Label -> overrides of every compensation evaluated: none, row_drive, row_drive<=F per bound F."""
    out = {c: {"circuit.line_compensation": c} for c in COMPENSATION}
    for f in max_factors:
        out[f"row_drive<={f:g}"] = {"circuit.line_compensation": "row_drive", "circuit.line_compensation_max": f}
    return out


def evaluate(runs: list[Path], ratios: list[float], comps: dict[str, dict]) -> list[dict]:
    """One row per (run, ratio, compensation): r (ohm), the run's seed, test accuracy and loss."""
    rows = []
    for run in runs:
        dataset, n_seg, ron, seed = geometry(run)
        base = evaluate_checkpoint(run, {})
        rows.append({"dataset": dataset, "seed": seed, "ratio": 0.0, "r_ohm": 0.0, "compensation": "none", **base})
        for ratio in ratios:
            r = ratio * ron / n_seg
            for comp, over in comps.items():
                m = evaluate_checkpoint(run, {**{k: r for k in WIRES}, **over})
                rows.append({"dataset": dataset, "seed": seed, "ratio": ratio, "r_ohm": r, "compensation": comp, **m})
                print(f"{run.name} seed {seed} ratio {ratio:g} (r = {r:.4g} ohm) {comp}: "
                      f"test acc {100 * m['test_acc']:.2f}%, loss {m['test_loss']:.4f}", flush=True)
    return rows


def pooled(rows: list[dict]) -> list[dict]:
    """Seeds pooled per (ratio, compensation): mean, std, min, max of test accuracy and loss."""
    out = []
    order = list(dict.fromkeys(r["compensation"] for r in rows))   # first seen first: none, row_drive, bounds
    keys = sorted({(r["ratio"], r["compensation"]) for r in rows}, key=lambda k: (k[0], order.index(k[1])))
    for ratio, comp in keys:
        rs = [r for r in rows if r["ratio"] == ratio and r["compensation"] == comp]
        row = {"dataset": rs[0]["dataset"], "ratio": ratio, "r_ohm": rs[0]["r_ohm"], "compensation": comp, "n": len(rs)}
        for m in ("test_acc", "test_loss"):
            a = np.array([r[m] for r in rs])
            row.update({f"{m}_mean": float(a.mean()), f"{m}_std": float(a.std()),
                        f"{m}_min": float(a.min()), f"{m}_max": float(a.max())})
        row["test_acc_seeds"] = " ".join(f"{100 * r['test_acc']:.1f}" for r in sorted(rs, key=lambda r: r["seed"]))
        out.append(row)
    return out


def markdown(rows: list[dict]) -> str:
    head = ["total line resistance / R_ON", "r (ohm)", "compensation", "n", "test acc % (mean ± std)", "per seed",
            "test loss (mean ± std)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            f"{r['ratio']:g}", f"{r['r_ohm']:.4g}", r["compensation"], str(r["n"]),
            f"{100 * r['test_acc_mean']:.2f} ± {100 * r['test_acc_std']:.2f}", r["test_acc_seeds"],
            f"{r['test_loss_mean']:.4f} ± {r['test_loss_std']:.4f}"]) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict]) -> Figure:
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    ideal = [r for r in rows if r["ratio"] == 0]
    for ax, m, scale, label in ((axes[0], "test_acc", 100.0, "test accuracy (%)"),
                                (axes[1], "test_loss", 1.0, "test loss")):
        comps = list(dict.fromkeys(r["compensation"] for r in rows))
        for comp, style in zip(comps, ("o-", "s--", "^-.", "v:", "d-", "x--")):
            rs = [r for r in rows if r["compensation"] == comp and r["ratio"] > 0]
            x = np.array([r["ratio"] for r in rs])
            ax.plot(x, [r[f"{m}_mean"] * scale for r in rs], style, label=f"compensation {comp}")
            ax.fill_between(x, [r[f"{m}_min"] * scale for r in rs], [r[f"{m}_max"] * scale for r in rs], alpha=0.15)
        if ideal:
            ax.axhline(ideal[0][f"{m}_mean"] * scale, color="k", lw=0.8, ls=":", label="ideal wires (as trained)")
        ax.set_xscale("log")
        ax.set_xlabel("total line resistance / R_ON")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=9)
    n = max((r["n"] for r in rows), default=0)
    fig.suptitle(f"{rows[0]['dataset'].upper()}: weights trained on ideal wires, read out with line resistance "
                 f"({n} seed{'s' if n != 1 else ''}; line = mean, band = min-max)", fontsize=10)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--sweep", type=Path, help="line-resistance sweep directory: its ideal-wire runs")
    src.add_argument("--runs", type=Path, nargs="+", help="run directories trained on ideal wires")
    ap.add_argument("--ratios", type=float, nargs="+", default=RATIOS, help="total line resistance / R_ON")
    ap.add_argument("--max-factor", type=float, nargs="*", default=[],
                    help="also row_drive with its factors bounded by each value (circuit.line_compensation_max)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    runs = ideal_runs(args.sweep) if args.sweep else args.runs
    if not runs:
        ap.error(f"no ideal-wire run in {args.sweep}")
    per_run = evaluate(runs, args.ratios, compensations(args.max_factor))
    rows = pooled(per_run)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "deploy_runs.csv", per_run)
    write_csv(args.out / "deploy.csv", rows)
    (args.out / "deploy.md").write_text(markdown(rows))
    figure(rows).savefig(args.out / "deploy.png", dpi=120)
    print(markdown(rows))


if __name__ == "__main__":
    main()
