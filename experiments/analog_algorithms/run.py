"""Analog training algorithms on an asymmetric device (seeds 001, 004): IRIS and reduced MNIST.

Usage (from the repository root; each command writes its table and figure here):

    python experiments/analog_algorithms/run.py iris      # results_iris.md/.csv, weights_iris.png
    python experiments/analog_algorithms/run.py mnist 2   # results_mnist.md/.csv (full 60k/10k, 2 workers)
    python experiments/analog_algorithms/run.py width     # pulse_width.md/.csv/.png (energy trade-off)
    python experiments/analog_algorithms/run.py families 2  # results_families.md/.csv (power/exp devices, IRIS)
    python experiments/analog_algorithms/run.py sweep iris 2   # results_residual_sweep_iris.* (β, γ; also mnist)
    python experiments/analog_algorithms/run.py long 2         # results_mnist_long.md (8 epochs, seed 0)

Runs go to runs/analog_algorithms/ (not committed); a finished run is not redone. Algorithm tables: ``soft_bounds_linear``
with the ``asymmetric`` preset (up_down = 0.18: symmetric point w⋄ = +0.18, the device of the
quadratic drift test), plain-SGD requests with small batches (noise-dominated gradients, the
regime of seed 001). Pulse-width table: ``soft_bounds_power`` ``asymmetric`` (w⋄ = +0.34), Adam.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ebana.config import apply_overrides, preset  # noqa: E402
from ebana.sweep import write_csv  # noqa: E402
from ebana.training import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = Path("runs/analog_algorithms")
DEVICE = {"device.model": "soft_bounds_linear", "device.preset": "asymmetric"}
VARIANTS = {
    "ideal": {},
    "analog_sgd": {**DEVICE, "algorithm.name": "analog_sgd"},
    "analog_sgd_fixed_ref": {**DEVICE, "algorithm.name": "analog_sgd", "algorithm.reference": "fixed"},
    "sp_shift": {**DEVICE, "algorithm.name": "analog_sgd", "algorithm.reference": "symmetric"},
    "mixed_precision": {**DEVICE, "algorithm.name": "mixed_precision", "algorithm.reference": "fixed"},
    "residual": {**DEVICE, "algorithm.name": "residual"},
    "residual_v2": {**DEVICE, "algorithm.name": "residual_v2"},
}
# Noise-dominated pulse SGD (the regime of seed 001): plain SGD requests (step ∝ gradient, no Adam
# normalisation), small batches, many sub-pulse requests realised by stochastic rounding.
SGD = {"optimizer": "sgd"}
DATA = {
    "iris": ({**SGD, "lr": 1e-10, "batch_size": 2, "epochs": 30}, [0, 1, 2, 3, 4]),
    "mnist": ({**SGD, "lr": 1e-9, "batch_size": 16, "epochs": 3, "data_dir": "../shared/data"}, [0, 1, 2]),
}
# Transfer rate β of residual learning per recipe (results_residual_sweep_*.md): the W + γP loop needs
# β ≪ γ²·α·h/4 to be damped (ebana.config.AlgorithmConfig.transfer_rate) and γ/β ≪ the run's steps
# for W to take over from P: IRIS has ≈ 1600 steps, MNIST ≈ 11000.
RESIDUAL_BETA = {"iris": 0.01, "mnist": 0.001}
# Residual-learning sweeps: β at γ = 0.5, then γ at the recipe's β; seeds.
SWEEP = {"iris": ([0.1, 0.03, 0.01, 0.003, 0.001], [0.1, 0.25, 1.0, 2.0], [0, 1, 2, 3, 4]),
         "mnist": ([0.1, 0.01, 0.003, 0.001], [0.25, 1.0], [0])}
# Pulse-width trade-off (seed 004): the Adam recipe on the power-response device.
WIDTH_DEVICE = {"device.model": "soft_bounds_power", "device.preset": "asymmetric"}
WIDTH_DATA = {"epochs": 40}


# The other soft-bounds families (seed 001's power and exponential responses) in the IRIS recipe.
FAMILIES = ["soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp"]
FAMILY_VARIANTS = ["analog_sgd", "mixed_precision", "residual", "residual_v2"]


def families(jobs: int = 1) -> None:
    """IRIS table of the algorithms on each asymmetric soft-bounds family (results_families.md/.csv)."""
    from concurrent.futures import ProcessPoolExecutor

    seeds = DATA["iris"][1]
    work = [("iris", "ideal", s, None) for s in seeds]
    work += [("iris", v, s, m) for m in FAMILIES for v in FAMILY_VARIANTS for s in seeds]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_family_job, work))
    ideal = np.array([r["test_acc"] for r in rows if r["variant"] == "ideal"]) * 100
    ideal_tr = np.array([r["train_acc"] for r in rows if r["variant"] == "ideal"]) * 100
    write_csv(HERE / "results_families.csv", rows)
    lines = [f"# IRIS: algorithms on the asymmetric soft-bounds families (preset asymmetric); recipe {DATA['iris'][0]}",
             "", f"Ideal update (no device): test {ideal.mean():.1f} ± {ideal.std():.1f} %, train "
             f"{ideal_tr.mean():.1f} %, seeds {','.join(map(str, seeds))}. Mean ± population sd over seeds; "
             "Δ = mean minus the ideal update's.", "",
             "| device | w⋄ | variant | test acc | per-seed test acc | Δ test | train acc | Δ train | test loss "
             "| mean abs(w − w⋄) | write energy (J) | pulses |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in FAMILIES:
        for v in FAMILY_VARIANTS:
            rs = [r for r in rows if r["variant"] == v and r["model"] == m]
            t = np.array([r["test_acc"] for r in rs]) * 100
            tr = np.array([r["train_acc"] for r in rs]) * 100
            lines.append(f"| {m} | {rs[0]['w_sym']:+.2f} | {v} | {t.mean():.1f} ± {t.std():.1f} | "
                         f"{' '.join(f'{x:.1f}' for x in t)} | {t.mean() - ideal.mean():+.1f} | {tr.mean():.1f} | "
                         f"{tr.mean() - ideal_tr.mean():+.1f} | {np.mean([r['test_loss'] for r in rs]):.3g} | "
                         f"{np.mean([r['dist_sym'] for r in rs]):.3f} | {np.mean([r['e_write_J'] for r in rs]):.3g} | "
                         f"{np.mean([r['pulses'] for r in rs]):.3g} |")
    (HERE / "results_families.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _family_job(args: tuple[str, str, int, str | None]) -> dict:
    dataset, v, s, model = args
    if model is None:
        row, _ = run_one(dataset, v, s)
        return {**row, "model": "none"}
    dev = {"device.model": model, "device.preset": "asymmetric"}
    same = model == DEVICE["device.model"]  # the main table's runs: reuse them
    row, _ = run_one(dataset, v, s, {**dev, "algorithm.name": v}, tag="" if same else model)
    return {**row, "model": model}


LONG_EPOCHS, LONG_VARIANTS = 8, ["ideal", "analog_sgd", "mixed_precision", "residual", "residual_v2"]


def long_mnist(jobs: int = 1) -> None:
    """The MNIST recipe for LONG_EPOCHS epochs, seed 0 (results_mnist_long.md): is the gap asymptotic?"""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_long_job, LONG_VARIANTS))
    lines = [f"# mnist: the algorithm recipe for {LONG_EPOCHS} epochs (cosine lr over the run), seed 0",
             "", f"Recipe {DATA['mnist'][0]} with epochs = {LONG_EPOCHS}; residual β = {RESIDUAL_BETA['mnist']:g}. "
             "Test accuracy (%) after each epoch.", "",
             "| variant | " + " | ".join(f"ep {i + 1}" for i in range(LONG_EPOCHS)) + " | train acc | pulses |",
             "|---|" + "---|" * (LONG_EPOCHS + 2)]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(f"{100 * a:.2f}" for a in r["test_acc_epochs"])
                     + f" | {100 * r['train_acc']:.2f} | {r['pulses']:.3g} |")
    (HERE / "results_mnist_long.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _long_job(variant: str) -> dict:
    row, _ = run_one("mnist", variant, 0, {"epochs": LONG_EPOCHS}, tag="long")
    return row


def residual_sweep(dataset: str, jobs: int = 1) -> None:
    """β and γ of residual learning (results_residual_sweep_<dataset>.md/.csv/.png)."""
    from concurrent.futures import ProcessPoolExecutor

    betas, gammas, seeds = SWEEP[dataset]
    beta0 = RESIDUAL_BETA[dataset]
    grid = [(b, 0.5) for b in betas] + [(beta0, g) for g in gammas]
    work = [(dataset, b, g, s, (b, g) == (beta0, 0.5)) for b, g in grid for s in seeds]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_sweep_job, work))
    write_csv(HERE / f"results_residual_sweep_{dataset}.csv", rows)
    refs = {v: [run_one(dataset, v, s)[0] for s in seeds] for v in ("ideal", "analog_sgd")}
    ref_txt = "; ".join(f"{v} {100 * np.mean([r['test_acc'] for r in rs]):.1f} %" for v, rs in refs.items())
    lines = [f"# {dataset}: residual learning on soft_bounds_linear (asymmetric), transfer rate β and mixing γ",
             "", f"Recipe {DATA[dataset][0]}; seeds {','.join(map(str, seeds))}. Same seeds, final test "
             f"accuracy: {ref_txt}. Mean ± population sd over seeds; test accuracy per epoch is the seed mean; "
             "saturated = fraction of the W devices within 1e-6 of a state bound at the end.", "",
             "| β | γ | ζ / sqrt(α·h) = (γ/2)/sqrt(β) | test acc | test acc per epoch | train acc | test loss "
             "| saturated | pulses |", "|---|---|---|---|---|---|---|---|---|"]
    for b, g in grid:
        rs = [r for r in rows if r["beta"] == b and r["gamma"] == g]
        t = np.array([r["test_acc"] for r in rs]) * 100
        ep = np.mean([r["test_acc_epochs"] for r in rs], axis=0) * 100
        curve = " ".join(f"{a:.1f}" for a in ep) if len(ep) <= 5 else \
            " ".join(f"{ep[i]:.1f}" for i in np.linspace(0, len(ep) - 1, 5).astype(int)) + " (5 of the epochs)"
        lines.append(f"| {b:g} | {g:g} | {0.5 * g / np.sqrt(b):.2f} | {t.mean():.1f} ± {t.std():.1f} | {curve} | "
                     f"{100 * np.mean([r['train_acc'] for r in rs]):.1f} | "
                     f"{np.mean([r['test_loss'] for r in rs]):.3g} | {np.mean([r['saturated'] for r in rs]):.3f} | "
                     f"{np.mean([r['pulses'] for r in rs]):.3g} |")
    (HERE / f"results_residual_sweep_{dataset}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for k, (xs, key, fixed) in enumerate(((betas, "beta", 0.5), (gammas + [0.5], "gamma", beta0))):
        other = "gamma" if key == "beta" else "beta"
        xs = sorted(xs)
        acc = [100 * np.mean([r["test_acc"] for r in rows if r[key] == x and r[other] == fixed]) for x in xs]
        ax[k].semilogx(xs, acc, "o-", label="residual")
        for v, rs in refs.items():
            ax[k].axhline(100 * np.mean([r["test_acc"] for r in rs]), ls="--", color="C2" if v == "ideal" else "C3",
                          label=v)
        ax[k].set(xlabel="transfer rate β" if key == "beta" else "mixing γ", ylabel="final test accuracy (%)",
                  title=f"{dataset}: {'γ' if other == 'gamma' else 'β'} = {fixed:g}")
        ax[k].grid(True, alpha=0.3)
        ax[k].legend(fontsize=8)
    fig.savefig(HERE / f"residual_sweep_{dataset}.png", dpi=120)


def _sweep_job(args: tuple[str, float, float, int, bool]) -> dict:
    dataset, b, g, s, recipe = args
    row, _ = run_one(dataset, "residual", s, {"algorithm.transfer_rate": b, "algorithm.gamma": g},
                     tag="" if recipe else f"beta{b:g}_gamma{g:g}")
    return {**row, "beta": b, "gamma": g}


def device_w_sym(g_min: float, g_max: float) -> float:
    """Symmetric point w⋄ (w = 2Gn - 1) of DEVICE read-mapped to [g_min, g_max] at its standard pulse."""
    from ebana import devices
    from ebana.devices.response import response_curve

    m = devices.create(DEVICE["device.model"], preset=DEVICE["device.preset"]).with_range(1 / g_max, 1 / g_min)
    return float(response_curve(m, m.demo.v_set, m.demo.v_reset, m.demo.t_pulse).w_sym)


def trained_states(tr: Trainer) -> np.ndarray:
    """w = 2Gn - 1 of the trained devices (all conductances for the ideal run, which has no device)."""
    p = tr.cfg.circuit
    g = np.concatenate([c.ravel() for c in tr.circuit.conductances])
    trained = getattr(tr.updater, "trained", np.ones(g.shape, dtype=bool))
    return (2 * (g - p.g_min) / (p.g_max - p.g_min) - 1)[trained]


def weight_stats(tr: Trainer) -> dict:
    """Mean w = 2Gn - 1 of the trained devices and their mean distance to DEVICE's w⋄.

    For the ideal run (no device) all conductances count and w⋄ is DEVICE's, as a baseline:
    how far from w⋄ the weights sit when nothing pulls them there.
    """
    p = tr.cfg.circuit
    w = trained_states(tr)
    curve = getattr(tr.updater, "curve", None)
    w_sym = curve.w_sym if curve is not None else device_w_sym(p.g_min, p.g_max)
    return {"w_mean": float(np.mean(w)), "w_sym": w_sym, "dist_sym": float(np.mean(np.abs(w - w_sym)))}


def run_one(dataset: str, variant: str, seed: int, extra: dict | None = None,
            base: dict | None = None, tag: str = "") -> tuple[dict, Trainer]:
    over = DATA[dataset][0] if base is None else base
    if base is None and variant.startswith("residual"):
        over = {**over, "algorithm.transfer_rate": RESIDUAL_BETA[dataset]}
    cfg = apply_overrides(preset(dataset), {**over, **VARIANTS.get(variant, {}), **(extra or {}), "seed": seed})
    out = RUNS / (f"{dataset}_{tag}" if tag else dataset) / f"{variant}-seed{seed}"
    tr = Trainer(cfg, out, resume=True) if (out / "checkpoint.npz").exists() else None
    if tr is None or tr.cfg != cfg:  # resume (or reuse) only a run of the same config
        tr = Trainer(cfg, out)
    hist = tr.run()
    last = hist[-1]
    row = {"dataset": dataset, "variant": variant, "seed": seed, "test_acc": last["test_acc"],
           "train_acc": last["train_acc"], "test_loss": last["test_loss"], "train_loss": last["train_loss"], "e_write_J": tr.e_write_total, "pulses": tr.pulses_total,
           "saturated": last.get("saturated", 0.0) or 0.0, "test_acc_epochs": [h["test_acc"] for h in hist],
           **weight_stats(tr)}
    print(row, flush=True)
    return row, tr


def _write(rows: list[dict], stem: str, title: str) -> None:
    write_csv(HERE / f"{stem}.csv", rows)
    variants = list(dict.fromkeys(r["variant"] for r in rows))

    def col(v: str, key: str, k: float = 1.0) -> np.ndarray:
        return np.array([r[key] for r in rows if r["variant"] == v], dtype=float) * k

    lines = [f"# {title}", "", "Accuracies in %, mean ± sd over seeds (population sd); Δ = mean minus the ideal "
             "update's mean; per-seed test accuracies in seed order.", "",
             "| variant | seeds | test acc | per-seed test acc | Δ test | train acc | Δ train | test loss "
             "| mean abs(w − w⋄) | mean w | write energy (J) | pulses |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ref_t, ref_tr = col("ideal", "test_acc", 100).mean(), col("ideal", "train_acc", 100).mean()
    for v in variants:
        seeds = ",".join(str(r["seed"]) for r in rows if r["variant"] == v)
        t, tr = col(v, "test_acc", 100), col(v, "train_acc", 100)
        lines.append(f"| {v} | {seeds} | {t.mean():.1f} ± {t.std():.1f} | {' '.join(f'{x:.1f}' for x in t)} | "
                     f"{t.mean() - ref_t:+.1f} | {tr.mean():.1f} ± {tr.std():.1f} | {tr.mean() - ref_tr:+.1f} | "
                     f"{col(v, 'test_loss').mean():.3g} | {col(v, 'dist_sym').mean():.3f} | "
                     f"{col(v, 'w_mean').mean():+.3f} | {col(v, 'e_write_J').mean():.3g} | "
                     f"{col(v, 'pulses').mean():.3g} |")
    (HERE / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _job(args: tuple[str, str, int, bool]) -> tuple[dict, np.ndarray | None]:
    """One (dataset, variant, seed) run in a worker; the trained devices' states when asked."""
    dataset, v, s, want_hist = args
    row, tr = run_one(dataset, v, s)
    return row, (trained_states(tr) if want_hist else None)


def algorithms(dataset: str, jobs: int = 1) -> None:
    from concurrent.futures import ProcessPoolExecutor

    _, seeds = DATA[dataset]
    work = [(dataset, v, s, s == seeds[0]) for v in VARIANTS for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(_job, work))
    else:
        done = [_job(w) for w in work]
    rows = [r for r, _ in done]
    hists = {w[1]: h for w, (_, h) in zip(work, done) if h is not None}
    w_sym = rows[0]["w_sym"]
    _write(rows, f"results_{dataset}", f"{dataset}: analog training algorithms on "
           f"{DEVICE['device.model']} ({DEVICE['device.preset']}, w⋄ = {w_sym:+.2f}); final epoch; "
           f"recipe {DATA[dataset][0]}; residual learning: γ = 0.5, β = {RESIDUAL_BETA[dataset]:g}")
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    bins = np.linspace(-1, 1, 61)
    for v, w in hists.items():
        ax.hist(w, bins=bins, histtype="step", lw=1.3, density=True, label=v)
    ax.axvline(w_sym, color="r", ls=":", label="symmetric point w⋄")
    ax.set(xlabel="device state w = 2·Gn − 1 (trained devices)", ylabel="density",
           title=f"{dataset}: final device states (seed {seeds[0]})")
    ax.legend(fontsize=8)
    fig.savefig(HERE / f"weights_{dataset}.png", dpi=120)
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    for i, v in enumerate(VARIANTS):
        acc = [100 * r["test_acc"] for r in rows if r["variant"] == v]
        ax.bar(i, np.mean(acc), color="C0" if v == "ideal" else "C1", alpha=0.5)
        ax.plot([i] * len(acc), acc, "k.", ms=6)
    ideal = np.mean([100 * r["test_acc"] for r in rows if r["variant"] == "ideal"])
    ax.axhline(ideal, color="C0", ls="--", lw=1, label="ideal update (mean)")
    lo = min(100 * r["test_acc"] for r in rows)
    ax.set(xticks=range(len(VARIANTS)), ylim=(max(0, lo - 5), 100), ylabel="test accuracy (%)",
           title=f"{dataset}: final test accuracy per variant (dots: seeds {','.join(map(str, seeds))})")
    ax.set_xticklabels(list(VARIANTS), rotation=20, fontsize=8)
    ax.legend(fontsize=8)
    fig.savefig(HERE / f"accuracy_{dataset}.png", dpi=120)
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for i, v in enumerate(VARIANTS):
        curves = np.array([r["test_acc_epochs"] for r in rows if r["variant"] == v]) * 100
        ep = np.arange(1, curves.shape[1] + 1)
        ax.plot(ep, curves.mean(0), "o-", color=f"C{i}", label=v, lw=2 if v == "ideal" else 1.3)
        ax.fill_between(ep, curves.min(0), curves.max(0), color=f"C{i}", alpha=0.15)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", xticks=ep,
           title=f"{dataset}: test accuracy per epoch (mean; band: min–max over seeds {','.join(map(str, seeds))})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(HERE / f"curves_{dataset}.png", dpi=120)


WIDTHS = [(2e-8, 2.5), (2e-7, 1.6), (2e-6, 1.0), (2e-5, 0.75)]  # (s, V): similar steps, shorter = higher V


def width() -> None:
    from ebana import devices
    from ebana.devices.response import pulse_step

    rows = []
    m = devices.create(WIDTH_DEVICE["device.model"], preset=WIDTH_DEVICE["device.preset"]).with_range(1e5, 1e7)
    for t, v in WIDTHS:
        dg, e = pulse_step(m, np.array([0.5]), v, t)
        for s in DATA["iris"][1][:3]:
            extra = {"algorithm.name": "mixed_precision", "algorithm.reference": "symmetric", "algorithm.t_pulse": t,
                     "device.v_set": v, "device.v_reset": -v}
            row, tr = run_one("iris", "mixed_precision", s, {**WIDTH_DEVICE, **extra}, base=WIDTH_DATA)
            acc = [h["train_acc"] for h in tr.history]
            reach = next((i + 1 for i, a in enumerate(acc) if a >= 0.9), None)
            rows.append({"t_pulse_s": t, "v_pulse_V": v, "dg_step_S": float(dg[0]), "e_pulse_J": float(e[0]),
                         "seed": s, "test_acc": row["test_acc"], "epochs_to_90_train": reach,
                         "e_write_J": row["e_write_J"], "pulses": row["pulses"]})
    write_csv(HERE / "pulse_width.csv", rows)
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
    elif what == "long":
        long_mnist(jobs=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    elif what == "sweep":
        residual_sweep(sys.argv[2], jobs=int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif what == "families":
        families(jobs=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    else:
        algorithms(what, jobs=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
