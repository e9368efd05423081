"""Table and figure of the pulse-width trade-off sweep (seed 004) through the fitted example device.

Usage (from the repository root, after ``ebana sweep experiments/pulse_width_tradeoff/sweep.toml``)::

    python experiments/pulse_width_tradeoff/post.py [--sweep DIR] [--out DIR]

Writes tradeoff.csv (one row per run), tradeoff.md (means over seeds per width and algorithm) and
tradeoff.png. Read per run: its config (checkpoint.npz) and metrics.csv (per-epoch test accuracy,
write energy ``e_write`` J and ``pulses``). "Epochs to target" is the first epoch whose test accuracy
reaches TARGET; the energy and pulses to target are summed over the epochs up to it (runs that never
reach it are left out of those means and counted in the "reached" column). The pulses and energy of
epoch 1 include the setup writes (run.json ``init_pulses``/``init_energy_J``: SP shifting programs the
reference devices to the symmetric point by alternating pulses), also listed on their own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ebana import devices
from ebana.devices.response import pulse_step
from ebana.sweep import finished_runs, write_csv

HERE = Path(__file__).resolve().parent
TARGET = 0.9
"""Test accuracy (–) whose first epoch counts as converged."""
NAMES = {("analog_sgd", "none"): "plain SGD", ("analog_sgd", "symmetric"): "SP shifting",
         ("mixed_precision", "none"): "mixed precision"}


def load(sweep: Path, target: float = TARGET) -> list[dict]:
    """One row per run (results.csv order)."""
    rows = []
    for fr in finished_runs(sweep):
        cfg, hist = fr.config, fr.history
        m = devices.create(cfg.device.model, preset=cfg.device.preset)
        m = m.with_range(1 / cfg.circuit.g_max, 1 / cfg.circuit.g_min)
        d = m.demo
        dg, e = pulse_step(m, np.array([0.5]), d.v_set, d.t_pulse)
        reach = next((i for i, h in enumerate(hist) if h["test_acc"] >= target), None)
        e_cum = np.cumsum([h["e_write"] for h in hist])
        p_cum = np.cumsum([h["pulses"] for h in hist])
        dev = fr.info.get("device", {})
        rows.append({"dataset": cfg.dataset.upper(), "t_pulse_s": d.t_pulse, "v_pulse_V": d.v_set,
                     "algorithm": NAMES[(cfg.algorithm.name, cfg.algorithm.reference)], "seed": cfg.seed,
                     "dg_step_S": float(dg[0]), "e_pulse_J": float(e[0]),
                     "test_acc": hist[-1]["test_acc"], "best_test_acc": max(h["test_acc"] for h in hist),
                     "epochs": len(hist), "epochs_to_target": None if reach is None else reach + 1,
                     "pulses": int(p_cum[-1]), "e_write_J": float(e_cum[-1]),
                     "pulses_to_target": None if reach is None else int(p_cum[reach]),
                     "e_to_target_J": None if reach is None else float(e_cum[reach]),
                     "setup_pulses": int(dev.get("init_pulses", 0)), "setup_e_J": float(dev.get("init_energy_J", 0.0))})
    return rows


def _mean(rs: list[dict], key: str) -> float:
    vals = [r[key] for r in rs if r[key] is not None]
    return float(np.mean(vals)) if vals else float("nan")


def table(rows: list[dict], out: Path, target: float = TARGET) -> None:
    dataset = rows[0]["dataset"]
    write_csv(out / "tradeoff.csv", [{k: v for k, v in r.items() if k != "dataset"} for r in rows])
    seeds = sorted({r["seed"] for r in rows})
    widths = sorted({r["t_pulse_s"] for r in rows})
    algs = list(dict.fromkeys(r["algorithm"] for r in rows))
    lines = [f"# Pulse width trade-off through the fitted example FeFET ({dataset}, {rows[0]['epochs']} epochs, "
             f"seeds {seeds[0]}-{seeds[-1]}, target test accuracy {target:.0%})", "",
             "| width (s) | V (V) | ΔG/pulse at x=0.5 (S) | E/pulse (J) | algorithm | final test acc (%) | "
             "best (%) | reached | epochs to target | pulses to target | energy to target (J) | pulses | "
             "write energy (J) | of which setup: pulses | setup energy (J) |", "|" + "---|" * 15]
    for w in widths:
        for a in algs:
            rs = [r for r in rows if r["t_pulse_s"] == w and r["algorithm"] == a]
            if not rs:
                continue
            n_reach = sum(r["epochs_to_target"] is not None for r in rs)
            lines.append(f"| {w:g} | {rs[0]['v_pulse_V']:g} | {rs[0]['dg_step_S']:.3g} | {rs[0]['e_pulse_J']:.3g} | "
                         f"{a} | {100 * _mean(rs, 'test_acc'):.1f} | {100 * _mean(rs, 'best_test_acc'):.1f} | "
                         f"{n_reach}/{len(rs)} | {_mean(rs, 'epochs_to_target'):.1f} | "
                         f"{_mean(rs, 'pulses_to_target'):.3g} | {_mean(rs, 'e_to_target_J'):.3g} | "
                         f"{_mean(rs, 'pulses'):.3g} | {_mean(rs, 'e_write_J'):.3g} | {_mean(rs, 'setup_pulses'):.3g} | "
                         f"{_mean(rs, 'setup_e_J'):.3g} |")
    (out / "tradeoff.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax = fig.subplots(2, 2).ravel()
    panels = (("e_write_J", "total write energy (J)", True), ("e_to_target_J", f"write energy to {target:.0%} (J)", True),
              ("test_acc", "final test accuracy", False), ("epochs_to_target", f"epochs to {target:.0%} test acc", False))
    for k, (key, label, log) in enumerate(panels):
        for a in algs:
            ys = [_mean([r for r in rows if r["t_pulse_s"] == w and r["algorithm"] == a], key) for w in widths]
            ax[k].plot(widths, ys, "o-", label=a)
        ax[k].set_xscale("log")
        if log:
            ax[k].set_yscale("log")
        ax[k].set(xlabel="pulse width (s)", ylabel=label)
        ax[k].grid(True, alpha=0.3)
        ax[k].legend(fontsize=8)
    fig.suptitle(f"{dataset} through the fitted example FeFET (synthetic data): pulse width trade-off, mean of "
                 f"{len(seeds)} seeds", fontsize=10)
    fig.savefig(out / "tradeoff.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description="Table and figure of the pulse-width trade-off sweep.")
    ap.add_argument("--sweep", type=Path, default=HERE / "sweep", help="sweep directory")
    ap.add_argument("--out", type=Path, default=HERE, help="where tradeoff.md/.csv/.png go")
    ap.add_argument("--target", type=float, default=TARGET, help="test accuracy counted as reached (default 0.9)")
    args = ap.parse_args()
    table(load(args.sweep, args.target), args.out, args.target)


if __name__ == "__main__":
    main()
