"""Tables and figures of experiments/analog_algorithms from its sweep directories.

Usage (from the repository root, after ``ebana sweep experiments/analog_algorithms/NAME.toml``)::

    python experiments/analog_algorithms/post.py NAME [--sweep DIR] [--out DIR]

NAME is one of the experiment files here: ``iris``, ``mnist`` (results_<NAME>.md/.csv, weights_,
accuracy_, curves_<NAME>.png), ``families`` (results_families.md/.csv), ``mnist_long``
(results_mnist_long.md), ``residual_sweep_iris``, ``residual_sweep_mnist`` (results_<NAME>.md/.csv,
<NAME>.png without results_), ``pulse_width`` (pulse_width.md/.csv/.png). DIR is the sweep directory
(default: experiments/analog_algorithms/NAME, ``ebana sweep``'s default ``--out``); ``--out``: where the
tables and figures go (default: experiments/analog_algorithms).

Read per run: the config (checkpoint.npz), metrics.csv (final and per-epoch metrics), run.json (write
energy, pulses), conductances.npz and the trained-device mask in checkpoint.npz (``opt_alg_trained``:
reference devices are not trained; an ideal run has none) for the device states w = 2·Gn − 1. The
symmetric point w⋄ is recomputed from the config (``ebana.devices.response.response_curve`` at the
run's pulse), as the run's updater computed it; an ideal run (no device) is compared with
REFERENCE_DEVICE's w⋄.
"""

from __future__ import annotations

import argparse
import functools
import tomllib
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana import devices
from ebana.checkpoint import read_npz
from ebana.config import TrainConfig
from ebana.devices.response import pulse_step, response_curve
from ebana.sweep import finished_runs, write_csv

HERE = Path(__file__).resolve().parent
REFERENCE_DEVICE = ("soft_bounds_linear", "asymmetric")
"""Device whose w⋄ an ideal run's weights are compared with (the algorithm tables' device)."""
GAMMA0 = 0.5
"""Mixing γ of the residual sweeps' β scan (their γ scan is at the recipe's β)."""
WIDTH_RANGE = (1e5, 1e7)
"""(R_ON, R_OFF) (Ω) of the pulse-width table's per-pulse ΔG and energy: the circuit's range."""


# ---------------------------------------------------------------------- reading the sweep
def variant(cfg: TrainConfig) -> str:
    """Table name of a run's algorithm."""
    if cfg.device.model is None:
        return "ideal"
    name, ref = cfg.algorithm.name, cfg.algorithm.reference
    if name == "analog_sgd" and ref != "none":
        return {"fixed": "analog_sgd_fixed_ref", "symmetric": "sp_shift"}[ref]
    return name


@functools.lru_cache(maxsize=None)
def _w_sym(model: str, preset: str | None, g_min: float, g_max: float, v_set: float | None,
           v_reset: float | None, t_pulse: float | None) -> float:
    m = devices.create(model, **({"preset": preset} if preset else {})).with_range(1 / g_max, 1 / g_min)
    v_set = m.demo.v_set if v_set is None else v_set
    v_reset = m.demo.v_reset if v_reset is None else v_reset
    return float(response_curve(m, v_set, v_reset, m.demo.t_pulse if t_pulse is None else t_pulse).w_sym)


def w_sym(cfg: TrainConfig) -> float:
    """Symmetric point w⋄ (w = 2Gn − 1) of the run's device at its standard pulse (REFERENCE_DEVICE at
    its demo pulse for an ideal run)."""
    p, d = cfg.circuit, cfg.device
    if d.model is None:
        return _w_sym(*REFERENCE_DEVICE, p.g_min, p.g_max, None, None, None)
    return _w_sym(d.model, d.preset, p.g_min, p.g_max, d.v_set, d.v_reset, cfg.algorithm.t_pulse)


def trained_states(run: Path, cfg: TrainConfig) -> np.ndarray:
    """w = 2Gn − 1 of the trained devices (all conductances for a run without reference devices)."""
    z = read_npz(run / "conductances.npz")
    g = np.concatenate([z[f"g{k}"].ravel() for k in range(int(z["n_crossbars"]))])
    trained = read_npz(run / "checkpoint.npz").get("opt_alg_trained", np.ones(g.shape, dtype=bool))
    p = cfg.circuit
    return (2 * (g - p.g_min) / (p.g_max - p.g_min) - 1)[trained.astype(bool)]


def _epoch_mean(hist: list[dict], key: str) -> float:
    """Mean of a per-epoch metric over the run's epochs; NaN when the run lacks it (older runs)."""
    vals = [h.get(key) for h in hist]
    return float(np.mean(vals)) if vals and all(v is not None for v in vals) else float("nan")


def load(sweep: Path) -> tuple[list[dict], dict]:
    """One row per run of the sweep (results.csv order) and the experiment's [base] table.

    Row: dataset, variant, seed, final metrics, write energy (J), pulses, saturated, the chip energy
    per epoch (J) and chip time per sample (s) of :mod:`ebana.energy`, means over the epochs (NaN for
    runs made before it), per-epoch test accuracy, mean w, w⋄, mean |w − w⋄|; plus private ``_cfg``,
    ``_dir``, ``_hist``."""
    rows = []
    for fr in finished_runs(sweep):
        run, cfg, hist = fr.path, fr.config, fr.history
        dev = fr.info.get("device", {})
        last, w, ws = hist[-1], trained_states(run, cfg), w_sym(cfg)
        rows.append({"dataset": cfg.dataset, "variant": variant(cfg), "seed": cfg.seed,
                     "test_acc": last["test_acc"], "train_acc": last["train_acc"], "test_loss": last["test_loss"],
                     "train_loss": last["train_loss"], "e_write_J": dev.get("e_write_total", 0.0),
                     "pulses": dev.get("pulses_total", 0), "saturated": last.get("saturated") or 0.0,
                     "e_energy_J": _epoch_mean(hist, "e_energy"), "t_sample_s": _epoch_mean(hist, "t_sample"),
                     "test_acc_epochs": [h["test_acc"] for h in hist], "w_mean": float(np.mean(w)),
                     "w_sym": ws, "dist_sym": float(np.mean(np.abs(w - ws))),
                     "_cfg": cfg, "_dir": run, "_hist": hist})
    base = tomllib.loads((sweep / "experiment.toml").read_text())["base"]
    return rows, base


def _recipe(base: dict) -> dict:
    return {k: v for k, v in base.items() if k != "dataset"}


def _public(rows: list[dict], **extra) -> list[dict]:
    return [{**{k: v for k, v in r.items() if not k.startswith("_")}, **{k: f(r) for k, f in extra.items()}}
            for r in rows]


def _write_md(out: Path, name: str, lines: list[str]) -> None:
    (out / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# ---------------------------------------------------------------------- tables
def algorithms(rows: list[dict], base: dict, out: Path) -> None:
    """results_<dataset>.md/.csv and the weights_, accuracy_, curves_<dataset>.png figures."""
    ds = rows[0]["dataset"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    seeds = list(dict.fromkeys(r["seed"] for r in rows))
    dev = next(r["_cfg"].device for r in rows if r["variant"] != "ideal")
    alg = next(r["_cfg"].algorithm for r in rows if r["variant"] == "residual")
    w_sym0 = rows[0]["w_sym"]
    write_csv(out / f"results_{ds}.csv", _public(rows))

    def col(v: str, key: str, k: float = 1.0) -> np.ndarray:
        return np.array([r[key] for r in rows if r["variant"] == v], dtype=float) * k

    lines = [f"# {ds}: analog training algorithms on {dev.model} ({dev.preset}, w⋄ = {w_sym0:+.2f}); final epoch; "
             f"recipe {_recipe(base)}; residual learning: γ = {alg.gamma:g}, β = {alg.transfer_rate:g}", "",
             "Accuracies in %, mean ± sd over seeds (population sd); Δ = mean minus the ideal update's mean; "
             "per-seed test accuracies in seed order.", "",
             "| variant | seeds | test acc | per-seed test acc | Δ test | train acc | Δ train | test loss "
             "| mean abs(w − w⋄) | mean w | write energy (J) | pulses | chip energy / epoch (J) "
             "| chip time / sample (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ref_t, ref_tr = col("ideal", "test_acc", 100).mean(), col("ideal", "train_acc", 100).mean()
    for v in variants:
        t, tr = col(v, "test_acc", 100), col(v, "train_acc", 100)
        lines.append(f"| {v} | {','.join(str(r['seed']) for r in rows if r['variant'] == v)} | "
                     f"{t.mean():.1f} ± {t.std():.1f} | {' '.join(f'{x:.1f}' for x in t)} | "
                     f"{t.mean() - ref_t:+.1f} | {tr.mean():.1f} ± {tr.std():.1f} | {tr.mean() - ref_tr:+.1f} | "
                     f"{col(v, 'test_loss').mean():.3g} | {col(v, 'dist_sym').mean():.3f} | "
                     f"{col(v, 'w_mean').mean():+.3f} | {col(v, 'e_write_J').mean():.3g} | "
                     f"{col(v, 'pulses').mean():.3g} | {col(v, 'e_energy_J').mean():.3g} | "
                     f"{col(v, 't_sample_s').mean():.3g} |")
    _write_md(out, f"results_{ds}.md", lines)

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for v in variants:
        r = next(r for r in rows if r["variant"] == v and r["seed"] == seeds[0])
        ax.hist(trained_states(r["_dir"], r["_cfg"]), bins=np.linspace(-1, 1, 61), histtype="step", lw=1.3,
                density=True, label=v)
    ax.axvline(w_sym0, color="r", ls=":", label="symmetric point w⋄")
    ax.set(xlabel="device state w = 2·Gn − 1 (trained devices)", ylabel="density",
           title=f"{ds}: final device states (seed {seeds[0]})")
    ax.legend(fontsize=8)
    fig.savefig(out / f"weights_{ds}.png", dpi=120)

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for i, v in enumerate(variants):
        acc = col(v, "test_acc", 100)
        ax.bar(i, np.mean(acc), color="C0" if v == "ideal" else "C1", alpha=0.5)
        ax.plot([i] * len(acc), acc, "k.", ms=6)
    ax.axhline(ref_t, color="C0", ls="--", lw=1, label="ideal update (mean)")
    ax.set(xticks=range(len(variants)), ylim=(max(0, min(100 * r["test_acc"] for r in rows) - 5), 100),
           ylabel="test accuracy (%)",
           title=f"{ds}: final test accuracy per variant (dots: seeds {','.join(map(str, seeds))})")
    ax.set_xticklabels(variants, rotation=20, fontsize=8)
    ax.legend(fontsize=8)
    fig.savefig(out / f"accuracy_{ds}.png", dpi=120)

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, v in enumerate(variants):
        curves = np.array([r["test_acc_epochs"] for r in rows if r["variant"] == v]) * 100
        ep = np.arange(1, curves.shape[1] + 1)
        ax.plot(ep, curves.mean(0), "o-", color=f"C{i}", label=v, lw=2 if v == "ideal" else 1.3)
        ax.fill_between(ep, curves.min(0), curves.max(0), color=f"C{i}", alpha=0.15)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", xticks=ep,
           title=f"{ds}: test accuracy per epoch (mean; band: min–max over seeds {','.join(map(str, seeds))})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(out / f"curves_{ds}.png", dpi=120)


def families(rows: list[dict], base: dict, out: Path) -> None:
    """results_families.md/.csv: the algorithms on each asymmetric soft-bounds family (IRIS)."""
    rows = [{**r, "model": r["_cfg"].device.model or "none"} for r in rows]
    ideal = [r for r in rows if r["variant"] == "ideal"]
    t0 = np.array([r["test_acc"] for r in ideal]) * 100
    tr0 = np.array([r["train_acc"] for r in ideal]) * 100
    write_csv(out / "results_families.csv", _public(rows))
    preset = next(r["_cfg"].device.preset for r in rows if r["model"] != "none")
    lines = [f"# IRIS: algorithms on the asymmetric soft-bounds families (preset {preset}); recipe {_recipe(base)}",
             "", f"Ideal update (no device): test {t0.mean():.1f} ± {t0.std():.1f} %, train {tr0.mean():.1f} %, "
             f"seeds {','.join(str(r['seed']) for r in ideal)}. Mean ± population sd over seeds; "
             "Δ = mean minus the ideal update's.", "",
             "| device | w⋄ | variant | test acc | per-seed test acc | Δ test | train acc | Δ train | test loss "
             "| mean abs(w − w⋄) | write energy (J) | pulses | chip energy / epoch (J) | chip time / sample (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in dict.fromkeys(r["model"] for r in rows if r["model"] != "none"):
        for v in dict.fromkeys(r["variant"] for r in rows if r["model"] == m):
            rs = [r for r in rows if r["variant"] == v and r["model"] == m]
            t = np.array([r["test_acc"] for r in rs]) * 100
            tr = np.array([r["train_acc"] for r in rs]) * 100
            lines.append(f"| {m} | {rs[0]['w_sym']:+.2f} | {v} | {t.mean():.1f} ± {t.std():.1f} | "
                         f"{' '.join(f'{x:.1f}' for x in t)} | {t.mean() - t0.mean():+.1f} | {tr.mean():.1f} | "
                         f"{tr.mean() - tr0.mean():+.1f} | {np.mean([r['test_loss'] for r in rs]):.3g} | "
                         f"{np.mean([r['dist_sym'] for r in rs]):.3f} | {np.mean([r['e_write_J'] for r in rs]):.3g} | "
                         f"{np.mean([r['pulses'] for r in rs]):.3g} | "
                         f"{np.mean([r['e_energy_J'] for r in rs]):.3g} | {np.mean([r['t_sample_s'] for r in rs]):.3g} |")
    _write_md(out, "results_families.md", lines)


def mnist_long(rows: list[dict], base: dict, out: Path) -> None:
    """results_mnist_long.md: test accuracy after each epoch of the long run."""
    n = rows[0]["_cfg"].epochs
    beta = next(r["_cfg"].algorithm.transfer_rate for r in rows if r["variant"] == "residual")
    lines = [f"# {rows[0]['dataset']}: the algorithm recipe for {n} epochs (cosine lr over the run), "
             f"seed {','.join(str(s) for s in dict.fromkeys(r['seed'] for r in rows))}",
             "", f"Recipe {_recipe(base)} with epochs = {n}; residual β = {beta:g}. Test accuracy (%) after each epoch.",
             "", "| variant | " + " | ".join(f"ep {i + 1}" for i in range(n)) + " | train acc | pulses |",
             "|---|" + "---|" * (n + 2)]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(f"{100 * a:.2f}" for a in r["test_acc_epochs"])
                     + f" | {100 * r['train_acc']:.2f} | {r['pulses']:.3g} |")
    _write_md(out, "results_mnist_long.md", lines)


def residual_sweep(rows: list[dict], base: dict, out: Path) -> None:
    """results_residual_sweep_<dataset>.md/.csv and residual_sweep_<dataset>.png: β and γ of residual learning."""
    ds = rows[0]["dataset"]
    refs = {v: [r for r in rows if r["variant"] == v] for v in ("ideal", "analog_sgd")}
    rows = [{**r, "beta": r["_cfg"].algorithm.transfer_rate, "gamma": r["_cfg"].algorithm.gamma}
            for r in rows if r["variant"] == "residual"]
    write_csv(out / f"results_residual_sweep_{ds}.csv", _public(rows))
    grid = list(dict.fromkeys((r["beta"], r["gamma"]) for r in rows))
    betas = [b for b, g in grid if g == GAMMA0]
    gammas = [g for b, g in grid if g != GAMMA0]
    beta0 = next(b for b, g in grid if g != GAMMA0)
    seeds = list(dict.fromkeys(r["seed"] for r in rows))
    ref_txt = "; ".join(f"{v} {100 * np.mean([r['test_acc'] for r in rs]):.1f} %" for v, rs in refs.items())
    lines = [f"# {ds}: residual learning on {rows[0]['_cfg'].device.model} ({rows[0]['_cfg'].device.preset}), "
             "transfer rate β and mixing γ",
             "", f"Recipe {_recipe(base)}; seeds {','.join(map(str, seeds))}. Same seeds, final test "
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
    _write_md(out, f"results_residual_sweep_{ds}.md", lines)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots(1, 2)
    for k, (xs, key, fixed) in enumerate(((betas, "beta", GAMMA0), (gammas + [GAMMA0], "gamma", beta0))):
        other = "gamma" if key == "beta" else "beta"
        xs = sorted(xs)
        acc = [100 * np.mean([r["test_acc"] for r in rows if r[key] == x and r[other] == fixed]) for x in xs]
        ax[k].semilogx(xs, acc, "o-", label="residual")
        for v, rs in refs.items():
            ax[k].axhline(100 * np.mean([r["test_acc"] for r in rs]), ls="--", color="C2" if v == "ideal" else "C3",
                          label=v)
        ax[k].set(xlabel="transfer rate β" if key == "beta" else "mixing γ", ylabel="final test accuracy (%)",
                  title=f"{ds}: {'γ' if other == 'gamma' else 'β'} = {fixed:g}")
        ax[k].grid(True, alpha=0.3)
        ax[k].legend(fontsize=8)
    fig.savefig(out / f"residual_sweep_{ds}.png", dpi=120)


def pulse_width(rows: list[dict], base: dict, out: Path) -> None:
    """pulse_width.md/.csv/.png: write energy and accuracy vs the standard pulse's width."""
    table = []
    for r in rows:
        cfg = r["_cfg"]
        t, v = cfg.algorithm.t_pulse, cfg.device.v_set
        m = devices.create(cfg.device.model, preset=cfg.device.preset).with_range(*WIDTH_RANGE)
        dg, e = pulse_step(m, np.array([0.5]), v, t)
        reach = next((i + 1 for i, h in enumerate(r["_hist"]) if h["train_acc"] >= 0.9), None)
        table.append({"t_pulse_s": t, "v_pulse_V": v, "dg_step_S": float(dg[0]), "e_pulse_J": float(e[0]),
                      "seed": r["seed"], "test_acc": r["test_acc"], "epochs_to_90_train": reach,
                      "e_write_J": r["e_write_J"], "pulses": r["pulses"]})
    write_csv(out / "pulse_width.csv", table)
    seeds = sorted({r["seed"] for r in table})
    lines = [f"# Pulse width vs write energy (IRIS, mixed precision + symmetric reference, seeds {seeds[0]}-{seeds[-1]})",
             "", "| t_pulse (s) | V (V) | ΔG per pulse at x=0.5 (S) | E per pulse (J) | test acc | epochs to 90% train "
             "| pulses | write energy (J) |", "|---|---|---|---|---|---|---|---|"]
    ts = list(dict.fromkeys(r["t_pulse_s"] for r in table))
    for t in ts:
        rs = [r for r in table if r["t_pulse_s"] == t]
        reach = [r["epochs_to_90_train"] for r in rs if r["epochs_to_90_train"] is not None]
        lines.append(f"| {t:g} | {rs[0]['v_pulse_V']:g} | {rs[0]['dg_step_S']:.3g} | {rs[0]['e_pulse_J']:.3g} | "
                     f"{100 * np.mean([r['test_acc'] for r in rs]):.1f} | "
                     f"{np.mean(reach) if reach else float('nan'):.1f} | {np.mean([r['pulses'] for r in rs]):.3g} | "
                     f"{np.mean([r['e_write_J'] for r in rs]):.3g} |")
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots(1, 2)
    ax[0].loglog(ts, [np.mean([r["e_write_J"] for r in table if r["t_pulse_s"] == t]) for t in ts], "o-")
    ax[0].set(xlabel="pulse width (s)", ylabel="total write energy (J)",
              title=f"energy to train ({rows[0]['_cfg'].epochs} epochs)")
    ax[1].semilogx(ts, [100 * np.mean([r["test_acc"] for r in table if r["t_pulse_s"] == t]) for t in ts], "o-")
    ax[1].set(xlabel="pulse width (s)", ylabel="test accuracy (%)", title="accuracy")
    for a in ax:
        a.grid(True, alpha=0.3)
    fig.savefig(out / "pulse_width.png", dpi=120)
    _write_md(out, "pulse_width.md", lines)


TABLES = {"iris": algorithms, "mnist": algorithms, "families": families, "mnist_long": mnist_long,
          "residual_sweep_iris": residual_sweep, "residual_sweep_mnist": residual_sweep, "pulse_width": pulse_width}


def main() -> None:
    ap = argparse.ArgumentParser(description="Tables and figures of an analog_algorithms sweep.")
    ap.add_argument("name", choices=list(TABLES), help="experiment (NAME.toml here)")
    ap.add_argument("--sweep", type=Path, help="sweep directory (default: experiments/analog_algorithms/NAME)")
    ap.add_argument("--out", type=Path, default=HERE, help="directory of the tables and figures (default: here)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    TABLES[args.name](*load(args.sweep or HERE / args.name), args.out)


if __name__ == "__main__":
    main()
