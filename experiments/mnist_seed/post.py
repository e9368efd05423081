"""Tables and figures of the seed study (000) on full MNIST from its four sweep directories.

Usage (from the repository root, after the three sweeps named in the TOML files)::

    python experiments/mnist_seed/post.py [--root DIR] [--out DIR]

``--root``: where the sweep directories ``mnist_ratio`` (+ ``mnist_ratio_seeds``: more seeds of two
ratios), ``mnist_pwm_pam``, ``mnist_pam_frequency``, ``mnist_pam_open_loop`` and ``mnist_nonseparable``
(TEAM and Stanford-PKU in the first three tables) are (default experiments/); ``--out``: where ratio.*,
pwm_pam.*, pam_frequency.* and pam_open_loop.* (CSV, md, PNG) go (default experiments/mnist_seed).
Trains nothing.

Every row: final test error (%) averaged over the seeds that finished (its standard deviation over
seeds and the seeds beside it; the other columns are seed means too), test and train loss, write energy of the run (J, ∫V·I dt of every
pulse), pulses sent, chip energy of the epoch (J, :mod:`ebana.energy`), fraction of saturated
devices, ΔG applied/requested, training samples and wall seconds. A configuration with no
finished run is a row marked ``not run`` with the reason (:data:`NOT_RUN`), never left out silently.
The PWM column of pwm_pam is mnist_ratio's ratio-100 run; pam_frequency's N = 1 and pam_open_loop's
f = 1 are mnist_pwm_pam's PAM run (one pulse of the calibrated window).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
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
"""Write-verified PAM pulses per update (``device.pam_pulses``)."""
PAM_FREQUENCIES = [1, 3, 10]
"""Open-loop PAM frequency factors (``device.pam_frequency``: one pulse of t_pam/f, nothing read back)."""
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


def _find(rows: list[dict], model: str, **match: float) -> list[dict]:
    """Every finished run (one per seed) of ``model`` whose columns equal ``match``."""
    return [r for r in rows if r["device.model"] == model and all(_f(r.get(k)) == v for k, v in match.items())]


def _row(key: dict, runs: list[dict]) -> dict:
    """One table row: ``key`` columns, then the runs' metrics averaged over their seeds (test error in %,
    with its standard deviation over seeds and the seeds used) or a 'not run' note."""
    out = dict(key)
    if not runs:
        out["status"] = "not run (" + NOT_RUN.get(key["model"], "time") + ")"
        out.update({k: None for k in ["test_err_pct", "test_err_sd", "seeds", *METRICS[1:], "train_samples"]})
        return out
    err = [100 * (1 - _f(r["test_acc"])) for r in runs]
    out["status"] = "done"
    out["test_err_pct"] = sum(err) / len(err)
    out["test_err_sd"] = statistics.stdev(err) if len(err) > 1 else None
    out["seeds"] = " ".join(sorted((str(r.get("seed", "")) for r in runs), key=lambda v: (len(v), v)))
    out.update({k: sum(_f(r.get(k)) for r in runs) / len(runs) for k in METRICS[1:]})
    limit = _f(runs[0].get("limit_train"))
    out["train_samples"] = int(limit) if limit == limit else 60000
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


def frequency_table(pam: list[dict], freq: list[dict], key: str = "pam_pulses",
                    values: list[int] = PAM_PULSES) -> list[dict]:
    """Per thresholded model and value of ``key`` (``pam_pulses`` or ``pam_frequency``): its run in
    ``freq``, value 1 being the single-pulse PAM run in ``pam``."""
    rows = []
    for m in THRESHOLDED:
        for n in values:
            run = _find(pam, m) if n == 1 else _find(freq, m, **{f"device.{key}": float(n)})
            rows.append(_row({"model": m, "scheme": "pam", "r_ratio": 100.0, key: n}, run))
    return rows


def _g(v: float | None, fmt: str) -> str:
    return "–" if v is None or not math.isfinite(v) else fmt.format(v)


def markdown(rows: list[dict], title: str) -> str:
    keys = [k for k in ("model", "scheme", "r_ratio", "pam_pulses", "pam_frequency") if k in rows[0]]
    head = keys + ["test error %", "sd over seeds", "seeds", "test loss", "write energy (J)", "pulses", "chip energy / epoch (J)",
                   "saturated", "ΔG applied/requested", "train samples", "wall s", "status"]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r[k]:g}" if isinstance(r[k], float) else str(r[k]) for k in keys]
        cells += [_g(r["test_err_pct"], "{:.2f}"), _g(r["test_err_sd"], "{:.2f}"), r["seeds"] or "–",
                  _g(r["test_loss"], "{:.3f}"), _g(r["e_write_total"], "{:.3g}"),
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
            ax_err.errorbar([r["r_ratio"] for r in pts], [r["test_err_pct"] for r in pts], ls=ls,
                            yerr=[r["test_err_sd"] or 0.0 for r in pts], capsize=2, **style)
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
    fig.suptitle("Full MNIST, 1568-100-20, 1 epoch, PWM: test error (mean ± sd over seeds) and write energy "
                 "vs R_OFF/R_ON (dashed: thresholded)", fontsize=10)
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


def frequency_figure(rows: list[dict], key: str = "pam_pulses") -> Figure:
    fig = Figure(figsize=(12, 4.5))
    ax_err, ax_e = fig.subplots(1, 2)
    for m in THRESHOLDED:
        pts = [r for r in _done(rows) if r["model"] == m]
        if pts:
            ax_err.plot([r[key] for r in pts], [r["test_err_pct"] for r in pts], marker="o", label=m)
            ax_e.plot([r[key] for r in pts], [r["e_write_total"] for r in pts], marker="o", label=m)
    ticks = PAM_PULSES if key == "pam_pulses" else PAM_FREQUENCIES
    for ax, lab in ((ax_err, "test error (%)"), (ax_e, "write energy of the epoch (J)")):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.set_xlabel("PAM pulses per update (calibrated write-verify)" if key == "pam_pulses" else
                      "open-loop PAM frequency factor f (one pulse of t_pam / f, nothing read back)")
        ax.set_ylabel(lab)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if ax_err.lines:
        ax_err.legend(fontsize=8)
    what = "pulses per update" if key == "pam_pulses" else "open-loop frequency factor"
    fig.suptitle(f"Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100, PAM: {what}, thresholded devices", fontsize=10)
    fig.tight_layout()
    return fig


def write_all(root: Path, out: Path) -> dict[str, list[dict]]:
    """Read the sweeps under ``root``, write the CSV, md and PNG of each table to ``out``."""
    ratio, pam, freq, open_loop, seeds = (load(root / n) for n in ("mnist_ratio", "mnist_pwm_pam", "mnist_pam_frequency",
                                                                   "mnist_pam_open_loop", "mnist_ratio_seeds"))
    ratio = ratio + seeds   # seeds 1, 2 at ratios 10 and 100 (mnist_ratio_seeds.toml) join those rows
    extra = load(root / NONSEPARABLE)
    pulses = [(r.get("device.scheme", "pwm"), _f(r.get("device.pam_pulses")) if r.get("device.pam_pulses") else 1.0)
              for r in extra]
    ratio = ratio + [r for r, (sch, _) in zip(extra, pulses) if sch == "pwm"]
    pam = pam + [r for r, (sch, n) in zip(extra, pulses) if sch == "pam" and n == 1]
    freq = freq + [r for r, (sch, n) in zip(extra, pulses) if sch == "pam" and n > 1]
    tables = {"ratio": (ratio_table(ratio), ratio_figure,
                        "Full MNIST, 1 epoch, PWM: R_OFF/R_ON sweep per device model (mean over the seeds listed)"),
              "pwm_pam": (pwm_pam_table(ratio, pam), pwm_pam_figure,
                          "Full MNIST, 1 epoch, R_OFF/R_ON = 100: PWM vs PAM per device model (mean over the seeds listed)"),
              "pam_frequency": (frequency_table(pam, freq), frequency_figure,
                                "Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100: PAM pulses per update"),
              "pam_open_loop": (frequency_table(pam, open_loop, "pam_frequency", PAM_FREQUENCIES),
                                lambda rows: frequency_figure(rows, "pam_frequency"),
                                "Full MNIST, 1 epoch, seed 0, R_OFF/R_ON = 100: open-loop PAM, one pulse of "
                                "t_pam/f per update")}
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
