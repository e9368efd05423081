"""Tables and figures of the seed study (000) on full MNIST from its three sweep directories.

Usage (from the repository root, after the three sweeps named in the TOML files)::

    python experiments/mnist_seed/post.py [--root DIR] [--out DIR]

``--root``: where the sweep directories ``mnist_ratio``, ``mnist_pwm_pam``,
``mnist_pam_frequency`` and ``mnist_nonseparable`` (TEAM and Stanford-PKU in all three) are
(default experiments/); ``--out``: where ratio.*, pwm_pam.* and
pam_frequency.* (CSV, md, PNG) go (default experiments/mnist_seed). Trains nothing.

Every row: final test error (%), test and train loss, write energy of the run (J, ∫V·I dt of every
pulse), pulses sent, chip energy of the epoch (J, :mod:`ebana.energy`), fraction of saturated
devices, ΔG applied/requested, training samples and wall seconds. A configuration with no
finished run is a row marked ``not run`` with the reason (:data:`NOT_RUN`), never left out silently.
The PWM column of pwm_pam is mnist_ratio's ratio-100 run; pam_frequency's N = 1 is mnist_pwm_pam's PAM run.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from matplotlib.figure import Figure

from ebana.sweep import write_csv

HERE = Path(__file__).resolve().parent
MODELS = ["ideal", "vteam", "soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp", "yakopcic", "messaris",
          "linear_ion_drift", "nonlinear_ion_drift", "team", "stanford_pku"]
RATIOS = [2.0, 3.0, 10.0, 100.0, 1000.0]
THRESHOLDED = ["vteam", "yakopcic", "soft_bounds_power", "team", "stanford_pku"]
"""Thresholded models of the PAM-frequency table (soft_bounds_linear/exp are thresholded too but not run there)."""
PAM_PULSES = [1, 3, 10]
KIND_THRESHOLDED = {"vteam", "yakopcic", "soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp", "team",
                    "stanford_pku"}
"""Models ``ebana devices list`` classes as thresholded (dashed in the ratio figure)."""
NOT_RUN: dict[str, str] = {}
"""Why a model has no run (the README states the same); other missing rows read 'not run (time)'.
(TEAM and Stanford-PKU were listed here until they got a fast pulse path: mnist_nonseparable.toml.)"""
NONSEPARABLE = "mnist_nonseparable"
"""Sweep of TEAM and Stanford-PKU in all three experiments; its rows join the three tables."""
METRICS = ["test_acc", "test_loss", "train_loss", "e_write_total", "pulses_total", "e_energy", "saturated",
           "dg_ratio", "seconds"]


def _f(v: str | None) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def load(sweep: Path) -> list[dict]:
    """Finished runs of a sweep directory (its results.csv; [] when absent)."""
    path = sweep / "results.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["status"] == "done"]


def _find(rows: list[dict], model: str, **match: float) -> dict | None:
    for r in rows:
        if r["device.model"] == model and all(_f(r.get(k)) == v for k, v in match.items()):
            return r
    return None


def _row(key: dict, run: dict | None) -> dict:
    """One table row: ``key`` columns, then the run's metrics (test error in %) or a 'not run' note."""
    out = dict(key)
    if run is None:
        out["status"] = "not run (" + NOT_RUN.get(key["model"], "time") + ")"
        out.update({k: None for k in ["test_err_pct", *METRICS[1:], "train_samples"]})
        return out
    out["status"] = "done"
    out["test_err_pct"] = 100 * (1 - _f(run["test_acc"]))
    out.update({k: _f(run.get(k)) for k in METRICS[1:]})
    out["train_samples"] = int(_f(run["limit_train"])) if _f(run.get("limit_train")) == _f(run.get("limit_train")) \
        else 60000
    return out


def ratio_table(ratio: list[dict]) -> list[dict]:
    return [_row({"model": m, "scheme": "pwm", "r_ratio": q}, _find(ratio, m, **{"device.r_ratio": q}))
            for m in MODELS for q in RATIOS]


def pwm_pam_table(ratio: list[dict], pam: list[dict]) -> list[dict]:
    rows = []
    for m in MODELS:
        rows.append(_row({"model": m, "scheme": "pwm", "r_ratio": 100.0}, _find(ratio, m, **{"device.r_ratio": 100.0})))
        rows.append(_row({"model": m, "scheme": "pam", "r_ratio": 100.0}, _find(pam, m)))
    return rows


def frequency_table(pam: list[dict], freq: list[dict]) -> list[dict]:
    rows = []
    for m in THRESHOLDED:
        for n in PAM_PULSES:
            run = _find(pam, m) if n == 1 else _find(freq, m, **{"device.pam_pulses": float(n)})
            rows.append(_row({"model": m, "scheme": "pam", "r_ratio": 100.0, "pam_pulses": n}, run))
    return rows


def _g(v: float | None, fmt: str) -> str:
    return "–" if v is None or not math.isfinite(v) else fmt.format(v)


def markdown(rows: list[dict], title: str) -> str:
    keys = [k for k in ("model", "scheme", "r_ratio", "pam_pulses") if k in rows[0]]
    head = keys + ["test error %", "test loss", "write energy (J)", "pulses", "chip energy / epoch (J)",
                   "saturated", "ΔG applied/requested", "train samples", "wall s", "status"]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r[k]:g}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        cells += [_g(r["test_err_pct"], "{:.2f}"), _g(r["test_loss"], "{:.3f}"), _g(r["e_write_total"], "{:.3g}"),
                  _g(r["pulses_total"], "{:.3g}"), _g(r["e_energy"], "{:.3g}"), _g(r["saturated"], "{:.3f}"),
                  _g(r["dg_ratio"], "{:.3g}"), str(r["train_samples"] or "–"), _g(r["seconds"], "{:.0f}"),
                  r["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _done(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] == "done"]


def ratio_figure(rows: list[dict]) -> Figure:
    fig = Figure(figsize=(12, 4.5))
    ax_err, ax_e = fig.subplots(1, 2)
    for i, m in enumerate(MODELS):
        pts = [r for r in _done(rows) if r["model"] == m]
        if pts:
            ls = "--" if m in KIND_THRESHOLDED else "-"
            style = dict(marker="o", label=m, color=f"C{i}" if i < 10 else "black")  # 11 models, 10 cycle colours
            ax_err.plot([r["r_ratio"] for r in pts], [r["test_err_pct"] for r in pts], ls, **style)
            ax_e.plot([r["r_ratio"] for r in pts], [r["e_write_total"] for r in pts], ls, **style)
    for ax, lab in ((ax_err, "test error (%)"), (ax_e, "write energy of the epoch (J)")):
        ax.set_xscale("log")
        ax.set_xlabel("R_OFF / R_ON")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    ax_err.set_yscale("log")
    ax_e.set_yscale("log")
    if ax_err.lines:
        ax_err.legend(fontsize=7)
    fig.suptitle("Full MNIST, 1568-100-20, 1 epoch, seed 0, PWM: test error and write energy vs R_OFF/R_ON "
                 "(dashed: thresholded)", fontsize=10)
    fig.tight_layout()
    return fig


def pwm_pam_figure(rows: list[dict]) -> Figure:
    fig = Figure(figsize=(12, 4.5))
    ax_err, ax_e = fig.subplots(1, 2)
    models = [m for m in MODELS if any(r["model"] == m for r in _done(rows))]
    for j, scheme in enumerate(("pwm", "pam")):
        err = [next((r["test_err_pct"] for r in _done(rows) if r["model"] == m and r["scheme"] == scheme), math.nan)
               for m in models]
        e = [next((r["e_write_total"] for r in _done(rows) if r["model"] == m and r["scheme"] == scheme), math.nan)
             for m in models]
        xs = [i + (j - 0.5) * 0.4 for i in range(len(models))]
        ax_err.bar(xs, err, width=0.4, label=scheme.upper())
        ax_e.bar(xs, e, width=0.4, label=scheme.upper())
    for ax, lab in ((ax_err, "test error (%)"), (ax_e, "write energy of the epoch (J)")):
        ax.set_xticks(range(len(models)), models, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(lab)
        if ax.patches:
            ax.legend()
        ax.grid(alpha=0.3, axis="y")
    ax_e.set_yscale("log")
    fig.suptitle("Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100: PWM vs single-pulse PAM", fontsize=10)
    fig.tight_layout()
    return fig


def frequency_figure(rows: list[dict]) -> Figure:
    fig = Figure(figsize=(12, 4.5))
    ax_err, ax_e = fig.subplots(1, 2)
    for m in THRESHOLDED:
        pts = [r for r in _done(rows) if r["model"] == m]
        if pts:
            ax_err.plot([r["pam_pulses"] for r in pts], [r["test_err_pct"] for r in pts], marker="o", label=m)
            ax_e.plot([r["pam_pulses"] for r in pts], [r["e_write_total"] for r in pts], marker="o", label=m)
    for ax, lab in ((ax_err, "test error (%)"), (ax_e, "write energy of the epoch (J)")):
        ax.set_xscale("log")
        ax.set_xticks(PAM_PULSES, [str(n) for n in PAM_PULSES])
        ax.set_xlabel("PAM pulses per update (calibrated write-verify)")
        ax.set_ylabel(lab)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if ax_err.lines:
        ax_err.legend(fontsize=8)
    fig.suptitle("Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100, PAM: pulses per update, thresholded devices",
                 fontsize=10)
    fig.tight_layout()
    return fig


def write_all(root: Path, out: Path) -> dict[str, list[dict]]:
    """Read the three sweeps under ``root``, write the CSV, md and PNG of each table to ``out``."""
    ratio, pam, freq = (load(root / n) for n in ("mnist_ratio", "mnist_pwm_pam", "mnist_pam_frequency"))
    extra = load(root / NONSEPARABLE)
    pulses = [(r.get("device.scheme", "pwm"), _f(r.get("device.pam_pulses")) if r.get("device.pam_pulses") else 1.0)
              for r in extra]
    ratio = ratio + [r for r, (sch, _) in zip(extra, pulses) if sch == "pwm"]
    pam = pam + [r for r, (sch, n) in zip(extra, pulses) if sch == "pam" and n == 1]
    freq = freq + [r for r, (sch, n) in zip(extra, pulses) if sch == "pam" and n > 1]
    tables = {"ratio": (ratio_table(ratio), ratio_figure,
                        "Full MNIST, 1 epoch, seed 0, PWM: R_OFF/R_ON sweep per device model"),
              "pwm_pam": (pwm_pam_table(ratio, pam), pwm_pam_figure,
                          "Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100: PWM vs PAM per device model"),
              "pam_frequency": (frequency_table(pam, freq), frequency_figure,
                                "Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100: PAM pulses per update")}
    out.mkdir(parents=True, exist_ok=True)
    for name, (rows, fig, title) in tables.items():
        write_csv(out / f"{name}.csv", rows)
        (out / f"{name}.md").write_text(markdown(rows, title))
        fig(rows).savefig(out / f"{name}.png", dpi=110)
    return {name: rows for name, (rows, _, _) in tables.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=HERE.parent)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    write_all(args.root, args.out)


if __name__ == "__main__":
    main()
