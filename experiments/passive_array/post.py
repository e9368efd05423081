"""Table and figure of experiments/passive_array from its sweep directory.

Usage (from the repository root, after ``ebana sweep experiments/passive_array/passive_array.toml``)::

    python experiments/passive_array/post.py [--sweep DIR] [--out DIR] [--dataset NAME]

DIR: the sweep directory (default experiments/passive_array/passive_array, the sweep's default
``--out``); ``--out``: where table.csv, table.md and passive_array.png go (default
experiments/passive_array); ``--dataset``: the name in the figure's title (default IRIS; ``mnist.toml``:
``--dataset mnist``). The figure shows the schemes the sweep ran.

Per run, from curves.csv (the runs' metrics.csv): final test accuracy and loss; over all epochs
(every epoch has the same number of updates): the mean per-update write time ``t_update`` (s),
the mean per-device disturb per update ``disturb`` (|Δx| while not selected, –) and the mean
cosine ``dg_cos`` of requested and achieved ΔG; from results.csv the write energy over the run
``e_write_total`` (J); over all epochs the mean chip energy per epoch ``e_energy`` (J) and chip
time per sample ``t_sample`` (s; :mod:`ebana.energy`). Seeds are pooled (mean, std, min, max).
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
SCHEMES = ["selector", "row_v2", "row_v3", "column_v2", "column_v3", "outer_product"]


def device_label(row: dict) -> str:
    """Table name of a run's device case."""
    if row["device.model"] == "vteam":
        return f"vteam (v_reset {float(row['device.v_reset']):g} V)"
    return row["device.model"]


def _f(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def load(sweep: Path) -> dict[tuple[str, str], dict[str, list[float]]]:
    """(device case, scheme) -> metric -> per-seed values."""
    with open(sweep / "results.csv", newline="") as fh:
        results = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    with open(sweep / "curves.csv", newline="") as fh:
        curves = list(csv.DictReader(fh))
    by_run: dict[str, list[dict]] = {}
    for c in curves:
        by_run.setdefault(c["run"], []).append(c)
    out: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in results:
        hist = by_run.get(r["run"], [])
        rec = out.setdefault((device_label(r), r["device.array_scheme"]), {})
        vals = {m: _f(r.get(m)) for m in ("test_acc", "test_loss", "e_write_total")}
        for m in ("t_update", "disturb", "dg_cos", "e_energy", "t_sample"):
            vals[m] = float(np.nanmean([_f(h[m]) for h in hist])) if hist else math.nan
        for k, v in vals.items():
            rec.setdefault(k, []).append(v)
    return out


def table(data: dict, reference: dict | None = None) -> list[dict]:
    """One row per (device, scheme); ``× selector`` against the same device's selector runs, taken
    from ``reference`` (another sweep's :func:`load`) when this sweep has none (else NaN)."""
    rows = []
    devs = sorted({d for d, _ in data}, key=lambda d: (not d.startswith("vteam (v_reset -0.035"), d))
    for d in devs:
        sel = data.get((d, "selector"), {}).get("t_update") or (reference or {}).get((d, "selector"), {}).get("t_update")
        t_sel = float(np.mean(sel)) if sel else math.nan
        for s in SCHEMES:
            rec = data.get((d, s))
            if rec is None:
                continue
            row = {"device": d, "array_scheme": s, "n": len(rec["test_acc"])}
            for m, v in rec.items():
                a = np.array(v, dtype=float)
                row[f"{m}_mean"], row[f"{m}_std"] = float(np.mean(a)), float(np.std(a))
                row[f"{m}_min"], row[f"{m}_max"] = float(np.min(a)), float(np.max(a))
            row["t_update_vs_selector"] = row["t_update_mean"] / t_sel
            row["test_acc_seeds"] = " ".join(f"{a * 100:.1f}" for a in rec["test_acc"])
            rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    head = ["device", "array_scheme", "n", "test acc % (mean ± std)", "per seed", "test loss",
            "disturb: mean \\|Δx\\| per device and update", "write time per update (s)", "× selector", "cos(ΔG req, ach)",
            "write energy, run (J)", "chip energy / epoch (J)", "chip time / sample (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            r["device"], r["array_scheme"], str(r["n"]),
            f"{100 * r['test_acc_mean']:.1f} ± {100 * r['test_acc_std']:.1f}", r["test_acc_seeds"],
            f"{r['test_loss_mean']:.3f} ± {r['test_loss_std']:.3f}",
            f"{r['disturb_mean']:.3g}", f"{r['t_update_mean']:.3g}", f"{r['t_update_vs_selector']:.3g}",
            f"{r['dg_cos_mean']:.3f}", f"{r['e_write_total_mean']:.3g}", f"{r['e_energy_mean']:.3g}",
            f"{r['t_sample_mean']:.3g}"]) + " |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], title: str = "IRIS through a passive array: 3 seeds") -> Figure:
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    devs = list(dict.fromkeys(r["device"] for r in rows))
    schemes = [s for s in SCHEMES if any(r["array_scheme"] == s for r in rows)]
    width = 0.8 / max(len(devs), 1)
    x = np.arange(len(schemes))
    for k, d in enumerate(devs):
        rs = {r["array_scheme"]: r for r in rows if r["device"] == d}
        for ax, m, scale in ((axes[0], "test_acc", 100.0), (axes[1], "disturb", 1.0), (axes[2], "t_update", 1.0)):
            mean = np.array([rs[s][f"{m}_mean"] * scale if s in rs else np.nan for s in schemes])
            lo = np.array([rs[s][f"{m}_min"] * scale if s in rs else np.nan for s in schemes])
            hi = np.array([rs[s][f"{m}_max"] * scale if s in rs else np.nan for s in schemes])
            if m == "disturb":   # zero disturb drawn at the floor of the log axis
                mean, lo, hi = (np.maximum(a, 1e-9) for a in (mean, lo, hi))
            ax.bar(x + (k - (len(devs) - 1) / 2) * width, mean, width, yerr=[mean - lo, hi - mean],
                   label=d, capsize=2)
    axes[0].set_ylabel("final test accuracy (%)")
    axes[1].set_ylabel("disturb: mean |Δx| per device and update")
    axes[1].set_yscale("log")
    axes[1].set_ylim(bottom=1e-9)
    axes[2].set_ylabel("write time per update (s)")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xticks(x, schemes, rotation=30, ha="right")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(devs), fontsize=9)
    fig.suptitle(f"{title}, bars = mean, whiskers = min-max (disturb 0 drawn at 1e-9)")
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=HERE / "passive_array")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--dataset", default="iris", help="dataset name for the figure's title")
    ap.add_argument("--reference", type=Path, help="a sweep with the selector runs (for '× selector' when --sweep has none)")
    args = ap.parse_args()
    data = load(args.sweep)
    rows = table(data, load(args.reference) if args.reference else None)
    n = max((len(v["test_acc"]) for v in data.values()), default=0)
    title = f"{args.dataset.upper()} through a passive array: {n} seed{'s' if n != 1 else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "table.csv", rows)
    (args.out / "table.md").write_text(markdown(rows))
    figure(rows, title).savefig(args.out / "passive_array.png", dpi=120)
    print(markdown(rows))


if __name__ == "__main__":
    main()
