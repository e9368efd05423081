"""Table and figure of experiments/nonideal from its sweep directory.

Usage (from the repository root, after ``ebana sweep experiments/nonideal/nonideal.toml``)::

    python experiments/nonideal/post.py [--sweep DIR] [--out DIR]
    python experiments/nonideal/post.py --algorithms     # after ebana sweep experiments/nonideal/algorithms.toml

DIR: the sweep directory (default experiments/nonideal/nonideal, the sweep's default ``--out``);
``--out``: where table.csv, table.md and nonideal.png go (default experiments/nonideal).

Per (device, effect, strength): the final test accuracy and test loss over the seeds (mean, std,
min, max). The effect of a run is the one ``nonideal.*`` key it sets (none: the baseline).
``--algorithms``: per (algorithm, d2d, drift ν) of experiments/nonideal/algorithms, the same
statistics, to algorithms.csv and algorithms.md.
``--chip``: per (device, algorithm, preset on/off) of experiments/nonideal/realistic_chip, the same
statistics, to realistic_chip.csv and realistic_chip.md (the algorithms' all-off rows come from
algorithms.csv: the same configs and seeds).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana.sweep import write_csv
HERE = Path(__file__).resolve().parent
EFFECTS = ["stuck_on", "stuck_off", "d2d", "c2c", "read_noise", "adc_bits", "dac_bits", "retention_tau",
           "drift_nu", "t_read", "t_read_eval", "preset"]
UNITS = {"stuck_on": "fraction", "stuck_off": "fraction", "d2d": "lognormal σ", "c2c": "relative σ",
         "read_noise": "V", "adc_bits": "bits", "dac_bits": "bits", "retention_tau": "s (t_batch = 1 s)",
         "drift_nu": "ν", "t_read": "s per phase", "t_read_eval": "s per evaluation read", "preset": "realistic_chip (1 = on)"}
LOG_X = {"read_noise", "retention_tau", "t_read", "t_read_eval"}


def load(sweep: Path) -> dict[tuple[str, str, float], dict[str, list[float]]]:
    """(device, effect, strength) -> metric -> per-seed values; the baseline is effect 'none', strength 0."""
    with open(sweep / "results.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    out: dict[tuple[str, str, float], dict[str, list[float]]] = {}
    for r in rows:
        set_keys = [k for k in r if k.startswith("nonideal.") and r[k] not in ("", None)]
        if not set_keys:
            effect, strength = "none", 0.0
        elif set_keys[0] == "nonideal.preset":      # a named preset: every key it sets at once
            effect, strength = "preset", 1.0
        else:
            effect, strength = set_keys[0][9:], float(r[set_keys[0]])
        notes = [f"preset {r['device.preset']}" if r.get("device.preset") else "",
                 f"{r['limit_train']} train images" if r.get("limit_train") else ""]
        dev = r["device.model"] + "".join(f" ({n})" for n in notes if n)
        rec = out.setdefault((dev, effect, strength), {})
        for m in ("test_acc", "test_loss"):
            rec.setdefault(m, []).append(float(r[m]))
    return out


def table(data: dict) -> list[dict]:
    rows = []
    for dev in sorted({d for d, _, _ in data}, key=lambda d: d != "vteam"):
        for eff in ["none", *EFFECTS]:
            for (d, e, s), rec in sorted(data.items(), key=lambda kv: kv[0][2]):
                if d != dev or e != eff:
                    continue
                rows.append({"device": dev, "effect": eff, "strength": s, **_stats(rec)})
    return rows


def write_tables(rows: list[dict], out: Path) -> None:
    write_csv(out / "table.csv", rows)
    lines = ["| device | effect | strength | unit | test accuracy (mean ± std, min–max) | test loss (mean ± std) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['effect']} | {r['strength']:g} | {UNITS.get(r['effect'], '')} | "
                     f"{100 * r['test_acc_mean']:.1f} ± {100 * r['test_acc_std']:.1f} % "
                     f"({100 * r['test_acc_min']:.1f}–{100 * r['test_acc_max']:.1f}) | "
                     f"{r['test_loss_mean']:.3f} ± {r['test_loss_std']:.3f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")


def figure(rows: list[dict], title: str = "IRIS, 20 epochs, 3 seeds") -> Figure:
    """Accuracy (top half) and loss (bottom half, log) vs each effect's strength (effects that were run)."""
    effects = [e for e in EFFECTS if any(r["effect"] == e for r in rows)]
    ncol = min(5, max(1, len(effects)))
    nrow = math.ceil(len(effects) / ncol)
    fig = Figure(figsize=(max(3 * ncol, 9), 6 * nrow))
    grid = np.atleast_2d(fig.subplots(2 * nrow, ncol, squeeze=False))
    devs = sorted({r["device"] for r in rows}, key=lambda d: d != "vteam")
    for part, (metric, scale, label) in enumerate((("test_acc", 100, "test accuracy (%)"), ("test_loss", 1, "test loss"))):
        axes = grid[part * nrow:(part + 1) * nrow].ravel()
        for ax in axes[len(effects):]:
            ax.set_visible(False)
        for ax, eff in zip(axes, effects):
            for k, dev in enumerate(devs):
                base = [r for r in rows if r["device"] == dev and r["effect"] == "none"]
                pts = [r for r in rows if r["device"] == dev and r["effect"] == eff]
                if not pts:
                    continue
                x = [r["strength"] for r in pts]
                y = [scale * r[f"{metric}_mean"] for r in pts]
                e = [scale * r[f"{metric}_std"] for r in pts]
                ax.errorbar(x, y, yerr=e, marker="o", capsize=3, color=f"C{k}", label=dev)
                if base:
                    ax.axhline(scale * base[0][f"{metric}_mean"], color=f"C{k}", ls="--", lw=0.8)
            if eff in LOG_X:
                ax.set_xscale("log")
            if metric == "test_acc":
                ax.set_ylim(0, 102)
            else:
                ax.set_yscale("log")
            ax.set_title(eff, fontsize=10)
            ax.set_xlabel(UNITS[eff], fontsize=8)
            ax.grid(alpha=0.3)
        for row in range(nrow):
            axes[row * ncol].set_ylabel(label)
    grid[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{title} (mean ± std): each non-ideality alone; dashed: every effect off")
    fig.tight_layout()
    return fig


def algorithms(sweep: Path, out: Path) -> None:
    """algorithms.csv / algorithms.md from the algorithms sweep."""
    with open(sweep / "results.csv", newline="") as fh:
        runs = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    groups: dict[tuple[str, float, float], dict[str, list[float]]] = {}
    for r in runs:
        key = (r["algorithm.name"], float(r["nonideal.d2d"]), float(r["nonideal.drift_nu"]))
        for m in ("test_acc", "test_loss"):
            groups.setdefault(key, {}).setdefault(m, []).append(float(r[m]))
    order = {"analog_sgd": 0, "mixed_precision": 1, "residual": 2}
    rows = []
    for (alg, d2d, nu), rec in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1:])):
        rows.append({"algorithm": alg, "d2d": d2d, "drift_nu": nu, **_stats(rec)})
    write_csv(out / "algorithms.csv", rows)
    lines = ["| algorithm | d2d (σ) | drift ν | test accuracy (mean ± std, min–max) | test loss (mean ± std) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['algorithm']} | {r['d2d']:g} | {r['drift_nu']:g} | {100 * r['test_acc_mean']:.1f} ± "
                     f"{100 * r['test_acc_std']:.1f} % ({100 * r['test_acc_min']:.1f}–{100 * r['test_acc_max']:.1f}) | "
                     f"{r['test_loss_mean']:.3f} ± {r['test_loss_std']:.3f} |")
    (out / "algorithms.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'algorithms.md'} ({len(rows)} rows)")


def _stats(values: dict[str, list[float]]) -> dict[str, float]:
    out: dict[str, float] = {"n": len(values["test_acc"])}
    for m, v in values.items():
        a = np.array(v)
        out[f"{m}_mean"], out[f"{m}_std"] = float(a.mean()), float(a.std())
        out[f"{m}_min"], out[f"{m}_max"] = float(a.min()), float(a.max())
    return out


def chip(sweep: Path, out: Path) -> None:
    """realistic_chip.csv / realistic_chip.md from the realistic_chip sweep (+ algorithms.csv's all-off rows)."""
    with open(sweep / "results.csv", newline="") as fh:
        runs = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    groups: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for r in runs:
        key = (r["device.model"], r.get("algorithm.name") or "device", r.get("nonideal.preset") or "off")
        for m in ("test_acc", "test_loss"):
            groups.setdefault(key, {}).setdefault(m, []).append(float(r[m]))
    rows = [{"device": d, "algorithm": a, "nonideal": p, **_stats(v)} for (d, a, p), v in groups.items()]
    with open(out / "algorithms.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if float(r["d2d"]) == 0 and float(r["drift_nu"]) == 0:
                rows.append({"device": "soft_bounds_linear", "algorithm": r["algorithm"], "nonideal": "off",
                             **{k: float(v) for k, v in r.items() if k not in ("algorithm", "d2d", "drift_nu")}})
    order = {"vteam": 0, "linear_ion_drift": 1, "soft_bounds_linear": 2}
    algs = {"device": 0, "analog_sgd": 1, "mixed_precision": 2, "residual": 3}
    rows.sort(key=lambda r: (order.get(r["device"], 9), algs.get(r["algorithm"], 9), r["nonideal"] != "off"))
    write_csv(out / "realistic_chip.csv", rows)
    lines = ["| device | update | [nonideal] | test accuracy (mean ± std, min–max) | test loss (mean ± std) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['algorithm']} | {r['nonideal']} | {100 * r['test_acc_mean']:.1f} ± "
                     f"{100 * r['test_acc_std']:.1f} % ({100 * r['test_acc_min']:.1f}–{100 * r['test_acc_max']:.1f}) | "
                     f"{r['test_loss_mean']:.3f} ± {r['test_loss_std']:.3f} |")
    (out / "realistic_chip.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'realistic_chip.md'} ({len(rows)} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--algorithms", action="store_true", help="the algorithms sweep instead")
    ap.add_argument("--chip", action="store_true", help="the realistic_chip sweep instead")
    ap.add_argument("--title", default="IRIS, 20 epochs, 3 seeds", help="the figure's data set and runs")
    args = ap.parse_args()
    if args.chip:
        chip(args.sweep or HERE / "realistic_chip", args.out)
        return
    if args.algorithms:
        algorithms(args.sweep or HERE / "algorithms", args.out)
        return
    args.sweep = args.sweep or HERE / "nonideal"
    rows = table(load(args.sweep))
    if not rows:
        raise SystemExit(f"no finished runs in {args.sweep / 'results.csv'}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_tables(rows, args.out)
    figure(rows, args.title).savefig(args.out / "nonideal.png", dpi=110)
    nan = [r for r in rows if not math.isfinite(r["test_loss_mean"])]
    print(f"wrote {args.out / 'table.md'} ({len(rows)} rows, {len(nan)} with a non-finite loss) and nonideal.png")


if __name__ == "__main__":
    main()
