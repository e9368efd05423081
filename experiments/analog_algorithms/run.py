"""Analog training algorithms on an asymmetric device (seeds 001, 004): IRIS and reduced MNIST.

Usage (from the repository root; each command writes its table and figure here):

    python experiments/analog_algorithms/run.py iris      # results_iris.md/.csv, weights_iris.png
    python experiments/analog_algorithms/run.py mnist     # results_mnist.md/.csv (2000/1000 samples)
    python experiments/analog_algorithms/run.py width     # pulse_width.md/.csv/.png (energy trade-off)

Runs go to runs/analog_algorithms/ (not committed). Device: ``soft_bounds_power`` with the
``asymmetric`` preset (γ_res = 0.5, up_down = 0.18: symmetric point w⋄ = +0.34).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.training import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = Path("runs/analog_algorithms")
DEVICE = {"device.model": "soft_bounds_power", "device.preset": "asymmetric"}
VARIANTS = {
    "ideal": {},
    "analog_sgd": {**DEVICE, "algorithm.name": "analog_sgd"},
    "analog_sgd_fixed_ref": {**DEVICE, "algorithm.name": "analog_sgd", "algorithm.reference": "fixed"},
    "sp_shift": {**DEVICE, "algorithm.name": "analog_sgd", "algorithm.reference": "symmetric"},
    "mixed_precision": {**DEVICE, "algorithm.name": "mixed_precision", "algorithm.reference": "fixed"},
    "residual": {**DEVICE, "algorithm.name": "residual"},
    "residual_v2": {**DEVICE, "algorithm.name": "residual_v2"},
}
DATA = {
    "iris": ({"epochs": 40}, [0, 1, 2, 3, 4]),
    "mnist": ({"data_dir": "../shared/data", "limit_train": 2000, "limit_test": 1000, "epochs": 5}, [0, 1, 2]),
}


def weight_stats(tr: Trainer) -> dict:
    """Mean w = 2Gn - 1 of the trained devices (device runs) and of W = G⁺ - G⁻ pairs (all runs)."""
    p = tr.cfg.circuit
    g = np.concatenate([c.ravel() for c in tr.circuit.conductances])
    up = tr.updater
    trained = getattr(up, "trained", np.ones(g.shape, dtype=bool))
    w = 2 * (g - p.g_min) / (p.g_max - p.g_min) - 1
    out = {"w_mean": float(np.mean(w[trained])), "w_sym": None, "dist_sym": None}
    curve = getattr(up, "curve", None)
    if curve is not None and curve.w_sym is not None:
        out["w_sym"] = curve.w_sym
        out["dist_sym"] = float(np.mean(np.abs(w[trained] - curve.w_sym)))
    return out


def run_one(dataset: str, variant: str, seed: int, extra: dict | None = None) -> tuple[dict, Trainer]:
    over, _ = DATA[dataset]
    cfg = apply_overrides(preset(dataset), {**over, **VARIANTS.get(variant, {}), **(extra or {}), "seed": seed})
    tr = Trainer(cfg, RUNS / dataset / f"{variant}-seed{seed}")
    hist = tr.run()
    last = hist[-1]
    row = {"dataset": dataset, "variant": variant, "seed": seed, "test_acc": last["test_acc"],
           "train_acc": last["train_acc"], "e_write_J": tr.e_write_total, "pulses": tr.pulses_total,
           **weight_stats(tr)}
    print(row, flush=True)
    return row, tr


def _write(rows: list[dict], stem: str, title: str) -> None:
    with open(HERE / f"{stem}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    lines = [f"# {title}", "", "| variant | seeds | test acc (mean ± sd) | train acc | mean w (trained) | "
             "mean abs(w - w⋄) | write energy (J) | pulses |", "|---|---|---|---|---|---|---|---|"]
    for v in variants:
        rs = [r for r in rows if r["variant"] == v]
        t = np.array([r["test_acc"] for r in rs]) * 100
        tr = np.array([r["train_acc"] for r in rs]) * 100
        d = [r["dist_sym"] for r in rs if r["dist_sym"] is not None]
        lines.append(f"| {v} | {','.join(str(r['seed']) for r in rs)} | {t.mean():.1f} ± {t.std():.1f} | "
                     f"{tr.mean():.1f} | {np.mean([r['w_mean'] for r in rs]):+.3f} | "
                     f"{np.mean(d):.3f} |" if d else
                     f"| {v} | {','.join(str(r['seed']) for r in rs)} | {t.mean():.1f} ± {t.std():.1f} | "
                     f"{tr.mean():.1f} | {np.mean([r['w_mean'] for r in rs]):+.3f} | - |")
        lines[-1] += f" {np.mean([r['e_write_J'] for r in rs]):.3g} | {np.mean([r['pulses'] for r in rs]):.3g} |"
    (HERE / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def algorithms(dataset: str) -> None:
    _, seeds = DATA[dataset]
    rows, hists, w_sym = [], {}, None
    for v in VARIANTS:
        for s in seeds:
            row, tr = run_one(dataset, v, s)
            rows.append(row)
            if s == seeds[0]:
                p = tr.cfg.circuit
                g = np.concatenate([c.ravel() for c in tr.circuit.conductances])
                trained = getattr(tr.updater, "trained", np.ones(g.shape, dtype=bool))
                hists[v] = (2 * (g - p.g_min) / (p.g_max - p.g_min) - 1)[trained]
                w_sym = row["w_sym"] if row["w_sym"] is not None else w_sym
    _write(rows, f"results_{dataset}", f"{dataset}: analog training algorithms on soft_bounds_power "
           f"(asymmetric, w⋄ = {w_sym:+.2f}); final epoch")
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    bins = np.linspace(-1, 1, 61)
    for v, w in hists.items():
        ax.hist(w, bins=bins, histtype="step", lw=1.3, density=True, label=v)
    ax.axvline(w_sym, color="r", ls=":", label="symmetric point w⋄")
    ax.set(xlabel="device state w = 2·Gn − 1 (trained devices)", ylabel="density",
           title=f"{dataset}: final device states (seed {seeds[0]})")
    ax.legend(fontsize=8)
    fig.savefig(HERE / f"weights_{dataset}.png", dpi=120)


WIDTHS = [(2e-8, 2.5), (2e-7, 1.6), (2e-6, 1.0), (2e-5, 0.75)]  # (s, V): similar steps, shorter = higher V


def width() -> None:
    from ebana import devices
    from ebana.devices.response import pulse_step

    rows = []
    m = devices.create("soft_bounds_power", preset="asymmetric").with_range(1e5, 1e7)
    for t, v in WIDTHS:
        dg, e = pulse_step(m, np.array([0.5]), v, t)
        for s in DATA["iris"][1][:3]:
            extra = {"algorithm.name": "mixed_precision", "algorithm.reference": "symmetric", "algorithm.t_pulse": t,
                     "device.v_set": v, "device.v_reset": -v}
            row, tr = run_one("iris", "mixed_precision", s, {**extra})
            acc = [h["train_acc"] for h in tr.history]
            reach = next((i + 1 for i, a in enumerate(acc) if a >= 0.9), None)
            rows.append({"t_pulse_s": t, "v_pulse_V": v, "dg_step_S": float(dg[0]), "e_pulse_J": float(e[0]),
                         "seed": s, "test_acc": row["test_acc"], "epochs_to_90_train": reach,
                         "e_write_J": row["e_write_J"], "pulses": row["pulses"]})
    with open(HERE / "pulse_width.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["# Pulse width vs write energy (IRIS, mixed precision + symmetric reference, seeds 0-2)", "",
             "| t_pulse (s) | V (V) | ΔG per pulse at x=0.5 (S) | E per pulse (J) | test acc | epochs to 90% train "
             "| pulses | write energy (J) |", "|---|---|---|---|---|---|---|---|"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for t, v in WIDTHS:
        rs = [r for r in rows if r["t_pulse_s"] == t]
        reach = [r["epochs_to_90_train"] for r in rs if r["epochs_to_90_train"] is not None]
        lines.append(f"| {t:g} | {v:g} | {rs[0]['dg_step_S']:.3g} | {rs[0]['e_pulse_J']:.3g} | "
                     f"{100 * np.mean([r['test_acc'] for r in rs]):.1f} | "
                     f"{np.mean(reach) if reach else float('nan'):.1f} | {np.mean([r['pulses'] for r in rs]):.3g} | "
                     f"{np.mean([r['e_write_J'] for r in rs]):.3g} |")
    ts = [t for t, _ in WIDTHS]
    ax[0].loglog(ts, [np.mean([r["e_write_J"] for r in rows if r["t_pulse_s"] == t]) for t in ts], "o-")
    ax[0].set(xlabel="pulse width (s)", ylabel="total write energy (J)", title="energy to train (40 epochs)")
    ax[1].semilogx(ts, [100 * np.mean([r["test_acc"] for r in rows if r["t_pulse_s"] == t]) for t in ts], "o-")
    ax[1].set(xlabel="pulse width (s)", ylabel="test accuracy (%)", title="accuracy")
    for a in ax:
        a.grid(True, alpha=0.3)
    fig.savefig(HERE / "pulse_width.png", dpi=120)
    (HERE / "pulse_width.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "iris"
    if what == "width":
        width()
    else:
        algorithms(what)
