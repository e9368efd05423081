"""Table and figure of experiments/line_resistance from its sweep directory.

Usage (from the repository root, after ``ebana sweep experiments/line_resistance/line_resistance.toml``)::

    python experiments/line_resistance/post.py [--sweep DIR] [--out DIR] [--dataset iris|mnist]

DIR: the sweep directory (default experiments/line_resistance/line_resistance, the sweep's default
``--out``); ``--out``: where table.csv, table.md and line_resistance.png go (default
experiments/line_resistance); ``--dataset``: the network of the sweep (default iris; mnist: the
1568-100-20 preset, whose input crossbar is 1570 x 100, ``mnist.toml``).

Every case sets one resistance r (ohm) on every wire: r_wordline = r_bitline = r per cell segment,
r_driver = r_sense = r at the line ends. The stated ratio is the total line resistance of the
farthest device's path in the largest crossbar (the input crossbar, R x C: driver, C - 1 wordline
segments, R - 1 bitline segments, sense) over R_ON = 1/g_max: ``ratio = (2 + (C - 1) + (R - 1)) r / R_ON``,
20 r / R_ON on IRIS (10 x 10), 1670 r / R_ON on MNIST (1570 x 100). Per run: final test accuracy and loss (seeds pooled: mean, std, min, max), and the
range of the row_drive compensation factors f (:func:`ebana.circuit.row_drive_factors`) at that r.
"""

from __future__ import annotations

import argparse
import csv
import math
import tomllib
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.circuit import CircuitParams, row_drive_factors
from ebana.sweep import write_csv
from ebana.topology import Topology

HERE = Path(__file__).resolve().parent
COMPENSATION = ["none", "row_drive"]
# (features, hidden, classes, bias rows into the hidden layer, bias rows into the output layer)
NETWORKS = {"iris": (4, (10,), 3, 2, 2),        # input crossbar 10 x 10: 4 features x 2 + 2 bias rows
            "mnist": (784, (100,), 10, 2, 0)}   # input crossbar 1570 x 100: 784 pixels x 2 + 2 bias rows


def topology(dataset: str) -> Topology:
    """The network of ``dataset``'s sweep (its crossbars as ebana builds them)."""
    n_in, hidden, n_cls, b_in, b_hid = NETWORKS[dataset]
    return Topology(n_in, hidden, n_cls, n_bias_input=b_in, n_bias_hidden=b_hid)


def path_segments(dataset: str) -> int:
    """Wire segments of the farthest device's path in the input crossbar: driver + wordline + bitline + sense."""
    n_rows, n_cols = topology(dataset).crossbars[0].shape
    return 2 + (n_cols - 1) + (n_rows - 1)


def _f(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def r_on(sweep: Path) -> float:
    """R_ON = 1/g_max (ohm) of the sweep's runs (from the first run's resolved config.toml)."""
    cfg = next((sweep / "runs").glob("*/config.toml"))
    return 1.0 / float(tomllib.loads(cfg.read_text())["circuit"]["g_max"])


def load(sweep: Path) -> dict[tuple[float, str], dict[str, list[float]]]:
    """(r (ohm), compensation) -> metric -> per-seed values."""
    with open(sweep / "results.csv", newline="") as fh:
        results = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    out: dict[tuple[float, str], dict[str, list[float]]] = {}
    for r in results:
        keys = ("circuit.r_wordline", "circuit.r_bitline", "circuit.r_driver", "circuit.r_sense")
        rs = {float(r[k]) for k in keys}
        assert len(rs) == 1, r["run"]
        rec = out.setdefault((rs.pop(), r["circuit.line_compensation"]), {})
        for m in ("test_acc", "test_loss", "train_acc", "train_loss"):
            rec.setdefault(m, []).append(_f(r[m]))
        rec.setdefault("seed", []).append(int(r["seed"]))
    return out


def factors(r: float, dataset: str = "iris") -> np.ndarray:
    """row_drive factors of the network's input wordlines at resistance r (ohm) on every wire."""
    return row_drive_factors(topology(dataset), CircuitParams(r_wordline=r, r_bitline=r, r_driver=r, r_sense=r,
                                                              line_compensation="row_drive"))


def table(data: dict, ron: float, dataset: str = "iris") -> list[dict]:
    rows = []
    n_seg = path_segments(dataset)
    for r in sorted({r for r, _ in data}):
        f = factors(r, dataset)
        for comp in COMPENSATION:
            rec = data.get((r, comp))
            if rec is None:
                continue
            row = {"r_ohm": r, "ratio_total_over_r_on": n_seg * r / ron, "compensation": comp,
                   "n": len(rec["test_acc"]), "f_min": float(f.min()) if comp != "none" else 1.0,
                   "f_max": float(f.max()) if comp != "none" else 1.0}
            for m in ("test_acc", "test_loss", "train_acc", "train_loss"):
                a = np.array(rec[m], dtype=float)
                row[f"{m}_mean"], row[f"{m}_std"] = float(np.mean(a)), float(np.std(a))
                row[f"{m}_min"], row[f"{m}_max"] = float(np.min(a)), float(np.max(a))
            order = np.argsort(rec["seed"])
            row["test_acc_seeds"] = " ".join(f"{rec['test_acc'][k] * 100:.1f}" for k in order)
            rows.append(row)
    return rows


def markdown(rows: list[dict], dataset: str = "iris") -> str:
    head = ["r (ohm)", f"{path_segments(dataset)} r / R_ON", "compensation", "f (min-max)", "n", "test acc % (mean ± std)", "per seed",
            "test loss (mean ± std)", "train acc %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            f"{r['r_ohm']:g}", f"{r['ratio_total_over_r_on']:g}", r["compensation"],
            f"{r['f_min']:.3f}-{r['f_max']:.3f}", str(r["n"]),
            f"{100 * r['test_acc_mean']:.1f} ± {100 * r['test_acc_std']:.1f}", r["test_acc_seeds"],
            f"{r['test_loss_mean']:.4f} ± {r['test_loss_std']:.4f}", f"{100 * r['train_acc_mean']:.1f}"]) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], dataset: str = "iris", title: str = "") -> Figure:
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    ideal = [r for r in rows if r["r_ohm"] == 0 and r["compensation"] == "none"]
    for ax, m, scale, label in ((axes[0], "test_acc", 100.0, "final test accuracy (%)"),
                                (axes[1], "test_loss", 1.0, "final test loss")):
        for comp, style in zip(COMPENSATION, ("o-", "s--")):
            rs = [r for r in rows if r["compensation"] == comp and r["r_ohm"] > 0]
            x = np.array([r["ratio_total_over_r_on"] for r in rs])
            mean = np.array([r[f"{m}_mean"] for r in rs]) * scale
            lo = np.array([r[f"{m}_min"] for r in rs]) * scale
            hi = np.array([r[f"{m}_max"] for r in rs]) * scale
            ax.plot(x, mean, style, label=f"compensation {comp}")
            ax.fill_between(x, lo, hi, alpha=0.15)
        if ideal:
            ax.axhline(ideal[0][f"{m}_mean"] * scale, color="k", lw=0.8, ls=":", label="ideal wires (mean)")
        if any(r["r_ohm"] > 0 for r in rows):
            ax.set_xscale("log")
        ax.set_xlabel(f"total line resistance / R_ON = {path_segments(dataset)} r / R_ON")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle(f"{dataset.upper()} with line resistance r on every wire segment, driver and sense: {title} "
                 "(line = mean, band = min-max)", fontsize=10)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=HERE / "line_resistance")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--dataset", choices=sorted(NETWORKS), default="iris")
    args = ap.parse_args()
    data = load(args.sweep)
    rows = table(data, r_on(args.sweep), args.dataset)
    n_seeds = len({s for rec in data.values() for s in rec["seed"]})
    epochs = tomllib.loads(next((args.sweep / "runs").glob("*/config.toml")).read_text())["epochs"]
    title = f"{n_seeds} seed{'s' if n_seeds > 1 else ''}, {epochs} epoch{'s' if epochs > 1 else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "table.csv", rows)
    (args.out / "table.md").write_text(markdown(rows, args.dataset))
    figure(rows, args.dataset, title).savefig(args.out / "line_resistance.png", dpi=120)
    print(markdown(rows, args.dataset))


if __name__ == "__main__":
    main()
