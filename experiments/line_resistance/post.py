"""Table and figure of experiments/line_resistance from its sweep directory.

Usage (from the repository root, after ``ebana sweep experiments/line_resistance/line_resistance.toml``)::

    python experiments/line_resistance/post.py [--sweep DIR] [--out DIR]

DIR: the sweep directory (default experiments/line_resistance/line_resistance, the sweep's default
``--out``); ``--out``: where table.csv, table.md and line_resistance.png go (default
experiments/line_resistance).

Every case sets one resistance r (ohm) on every wire: r_wordline = r_bitline = r per cell segment,
r_driver = r_sense = r at the line ends. The stated ratio is the total line resistance of the
farthest device's path in the largest crossbar (the IRIS input crossbar, 10 x 10: driver, 9 wordline
segments, 9 bitline segments, sense) over R_ON = 1/g_max: ``ratio = (2 + (C - 1) + (R - 1)) r / R_ON
= 20 r / R_ON``. Per run: final test accuracy and loss (seeds pooled: mean, std, min, max), and the
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
N_ROWS, N_COLS = 10, 10     # the IRIS input crossbar: 4 features x 2 + 2 bias rows, 10 hidden neurons
PATH_SEGMENTS = 2 + (N_COLS - 1) + (N_ROWS - 1)   # driver + wordline + bitline segments + sense


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


def factors(r: float) -> np.ndarray:
    """row_drive factors of the IRIS network's input wordlines at resistance r (ohm) on every wire."""
    t = Topology(4, (10,), 3, n_bias_input=2, n_bias_hidden=2)
    return row_drive_factors(t, CircuitParams(r_wordline=r, r_bitline=r, r_driver=r, r_sense=r,
                                              line_compensation="row_drive"))


def table(data: dict, ron: float) -> list[dict]:
    rows = []
    for r in sorted({r for r, _ in data}):
        f = factors(r)
        for comp in COMPENSATION:
            rec = data.get((r, comp))
            if rec is None:
                continue
            row = {"r_ohm": r, "ratio_total_over_r_on": PATH_SEGMENTS * r / ron, "compensation": comp,
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


def markdown(rows: list[dict]) -> str:
    head = ["r (ohm)", "20 r / R_ON", "compensation", "f (min-max)", "n", "test acc % (mean ± std)", "per seed",
            "test loss (mean ± std)", "train acc %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            f"{r['r_ohm']:g}", f"{r['ratio_total_over_r_on']:g}", r["compensation"],
            f"{r['f_min']:.3f}-{r['f_max']:.3f}", str(r["n"]),
            f"{100 * r['test_acc_mean']:.1f} ± {100 * r['test_acc_std']:.1f}", r["test_acc_seeds"],
            f"{r['test_loss_mean']:.4f} ± {r['test_loss_std']:.4f}", f"{100 * r['train_acc_mean']:.1f}"]) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict]) -> Figure:
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
        ax.set_xscale("log")
        ax.set_xlabel("total line resistance / R_ON = 20 r / R_ON")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle("IRIS with line resistance r on every wire segment, driver and sense: 3 seeds, 20 epochs "
                 "(line = mean, band = min-max)", fontsize=10)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=HERE / "line_resistance")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    rows = table(load(args.sweep), r_on(args.sweep))
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "table.csv", rows)
    (args.out / "table.md").write_text(markdown(rows))
    figure(rows).savefig(args.out / "line_resistance.png", dpi=120)
    print(markdown(rows))


if __name__ == "__main__":
    main()
