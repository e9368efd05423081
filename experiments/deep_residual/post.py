"""Table and figure of the deep-residual ablation (seed 003) from its sweep directory.

Usage (from the repository root, after ``ebana sweep experiments/deep_residual/NAME.toml``)::

    python experiments/deep_residual/post.py NAME [--sweep DIR] [--out DIR]

Reads ``DIR/curves.csv`` (one row per run and epoch, written by the sweep; DIR defaults to
experiments/deep_residual/NAME, ``ebana sweep``'s default ``--out``) and writes to ``--out``
(default experiments/deep_residual):

* ``results_NAME.csv``: one row per variant (``not_done``: its runs that failed or did not finish,
  e.g. a ConvergenceError): final test accuracy mean/std/min/max over seeds,
  the per-seed values, best test accuracy, train accuracy, epoch time (s) and mean free-phase
  sweeps (solver iterations per batch, a measure of how hard the deep circuit is to settle);
* ``results_NAME.md``: the same as a markdown table;
* ``accuracy_NAME.png``: test accuracy per epoch, mean over seeds with a min-max band.

Variants are named from the run overrides: ``shallow`` (one hidden layer), ``deep_plain``,
``deep_plain_ebana_amp`` (a plain deep run with a ``circuit.cccs_gain`` override), ``deep_residual``.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.config import parse_hidden
from ebana.sweep import write_csv

HERE = Path(__file__).resolve().parent
ORDER = ["shallow", "deep_plain", "deep_plain_ebana_amp", "deep_residual"]


def variant(row: dict) -> str:
    """shallow | deep_plain | deep_residual (| hidden text when the grid has other sizes)."""
    n = len(parse_hidden(str(row["hidden"]).strip("[]")))
    if row.get("residual") in ("True", "true", True):
        return "deep_residual" if n > 1 else f"residual_{row['hidden']}"
    if n > 1 and row.get("circuit.cccs_gain") not in (None, ""):
        return "deep_plain_ebana_amp"
    return "shallow" if n == 1 else "deep_plain"


def _f(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def load_curves(sweep: Path) -> dict[str, dict[str, list[dict]]]:
    """variant -> run -> its epoch rows (sorted by epoch)."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    with open(sweep / "curves.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out[variant(r)][r["run"]].append(r)
    for runs in out.values():
        for rows in runs.values():
            rows.sort(key=lambda r: _f(r["epoch"]))
    return out


def load_status(sweep: Path) -> dict[str, list[str]]:
    """variant -> the status of each of its runs (results.csv: done, failed, interrupted)."""
    out: dict[str, list[str]] = defaultdict(list)
    with open(sweep / "results.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            out[variant(r)].append(r["status"])
    return out


def table(curves, status: dict[str, list[str]]) -> list[dict]:
    rows = []
    for name in sorted(set(curves) | set(status), key=lambda v: (ORDER.index(v) if v in ORDER else 99, v)):
        runs = curves.get(name)
        bad = sum(s != "done" for s in status.get(name, []))
        if not runs:
            rows.append(dict(variant=name, runs=0, not_done=bad))
            continue
        final = [_f(r[-1]["test_acc"]) for r in runs.values()]
        seeds = [r[-1]["seed"] for r in runs.values()]
        per_epoch = [_f(e["seconds"]) for r in runs.values() for e in r]
        sweeps = [_f(e.get("mean_sweeps")) for r in runs.values() for e in r]
        rows.append(dict(variant=name, hidden=next(iter(runs.values()))[0]["hidden"],
                         runs=len(runs), not_done=bad, epochs=int(max(_f(r[-1]["epoch"]) for r in runs.values())),
                         test_acc_mean=float(np.mean(final)), test_acc_std=float(np.std(final)),
                         test_acc_min=float(np.min(final)), test_acc_max=float(np.max(final)),
                         test_acc_per_seed=" ".join(f"{s}:{100 * a:.2f}" for s, a in zip(seeds, final)),
                         best_test_acc=float(np.mean([max(_f(e["test_acc"]) for e in r) for r in runs.values()])),
                         train_acc=float(np.mean([_f(r[-1]["train_acc"]) for r in runs.values()])),
                         epoch_seconds=float(np.nanmean(per_epoch)), mean_sweeps=float(np.nanmean(sweeps))))
    return rows


def markdown(rows: list[dict], title: str) -> str:
    head = ("| variant | hidden | runs | not done | epochs | test acc (mean ± std, %) | min–max | per seed | best | "
            "train acc | s / epoch | free-phase sweeps |")
    lines = [f"# {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if not r["runs"]:
            lines.append(f"| {r['variant']} | | 0 | {r['not_done']} |" + " |" * 8)
            continue
        lines.append(f"| {r['variant']} | {r['hidden']} | {r['runs']} | {r['not_done']} | {r['epochs']} | "
                     f"{100 * r['test_acc_mean']:.2f} ± {100 * r['test_acc_std']:.2f} | "
                     f"{100 * r['test_acc_min']:.2f}–{100 * r['test_acc_max']:.2f} | {r['test_acc_per_seed']} | "
                     f"{100 * r['best_test_acc']:.2f} | {100 * r['train_acc']:.2f} | {r['epoch_seconds']:.3g} | "
                     f"{r['mean_sweeps']:.1f} |")
    return "\n".join(lines) + "\n"


def accuracy_figure(curves, title: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for name in sorted(curves, key=lambda v: (ORDER.index(v) if v in ORDER else 99, v)):
        runs = list(curves[name].values())
        n = min(len(r) for r in runs)
        acc = np.array([[100 * _f(e["test_acc"]) for e in r[:n]] for r in runs])
        ep = np.arange(1, n + 1)
        ax.plot(ep, acc.mean(axis=0), marker="o", label=f"{name} ({len(runs)} seeds)")
        ax.fill_between(ep, acc.min(axis=0), acc.max(axis=0), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="experiment file stem (mnist)")
    ap.add_argument("--sweep", type=Path, help="sweep directory (default experiments/deep_residual/NAME)")
    ap.add_argument("--out", type=Path, default=HERE, help="where the table and figure go")
    args = ap.parse_args(argv)
    sweep = args.sweep or HERE / args.name
    curves = load_curves(sweep)
    rows = table(curves, load_status(sweep))
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"results_{args.name}.csv", rows)
    title = f"deep_residual {args.name}: final-epoch test accuracy"
    (args.out / f"results_{args.name}.md").write_text(markdown(rows, title))
    accuracy_figure(curves, f"{args.name}: test accuracy per epoch (mean, min-max band)").savefig(
        args.out / f"accuracy_{args.name}.png", dpi=120)
    print(markdown(rows, title))


if __name__ == "__main__":
    main()
