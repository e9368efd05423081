"""Write energy per unit conductance change, per polarity, at the amplitudes of iris_energy.toml.

Explains the total-energy column of ``summary.md``: a PWM run's write energy is
``Σ E/|ΔG|(V) · |ΔG|`` over its pulses, and the trajectory (hence Σ|ΔG| per polarity) is the
same at every amplitude, so the amplitude dependence is that of ``E/|ΔG|`` of each polarity.
For a rate ``k·(V/v_th − 1)^α`` and a linear read-out, ``E/|ΔG| ∝ V²/(V/v_th − 1)^α``: it falls
near threshold, falls at every V when α ≥ 2, and for α < 2 rises above its minimum at
``V = 2·v_th/(2 − α)`` (α = 1: 2·v_th).

The fit below has one degree of freedom per model; where the two polarities' E/ΔG are
proportional (the ideal device: both ∝ V) the split into A and B is not determined and is
marked so.

Usage (from the repository root): ``python experiments/iris_energy/per_polarity.py``
→ ``experiments/iris_energy/per_polarity.md``. Devices are read-mapped to the IRIS circuit range
(R_OFF/R_ON = 100, [1e-7, 1e-5] S) as in the sweep; energies are means over the calibration
states of a pulse that changes G by 1 % of the range.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import numpy as np

from ebana import devices
from ebana.devices.response import pulse_step
from ebana.updates.pulses import CAL_STATES, calibrate

HERE = Path(__file__).resolve().parent
G_MIN, G_MAX = 1e-7, 1e-5  # S, the iris preset's range at r_ratio = 100


def energy_per_siemens(model, v: float, rate: float) -> tuple[float, float]:
    """Mean E/|ΔG| (J/S) and pulse width (s) of a PWM pulse of 1 % of the range at amplitude v."""
    t = 0.01 * (G_MAX - G_MIN) / abs(rate)
    xs = np.clip(CAL_STATES, *model.bounds)
    dg, e = pulse_step(model, xs, v, t)
    return float(np.mean(e) / np.mean(np.abs(dg))), t


def main() -> None:
    cases = tomllib.loads((HERE.parent / "iris_energy.toml").read_text())["cases"]
    lines = ["# Write energy per unit ΔG, per polarity (IRIS range, PWM pulse of 1 % of the range)", "",
             "Command: `python experiments/iris_energy/per_polarity.py`. Model parameters: "
             "the registry defaults (α = `alpha_on`/`alpha_off` for VTEAM).", "",
             "| model | v_set (V) | E/ΔG set (J/S) | width set (s) | v_reset (V) | E/ΔG reset (J/S) | width reset (s) |",
             "|---|---|---|---|---|---|---|"]
    rows_e: list[tuple[str, float, float, float]] = []
    for c in cases:
        name = c["device.model"]
        m = devices.create(name).with_range(1 / G_MAX, 1 / G_MIN)
        cal = calibrate(m, c["device.v_set"], c["device.v_reset"])
        e_up, t_up = energy_per_siemens(m, cal.v_set, cal.rate_set)
        e_dn, t_dn = energy_per_siemens(m, cal.v_reset, cal.rate_reset)
        rows_e.append((name, cal.v_set, e_up, e_dn))
        lines.append(f"| {name} | {cal.v_set:g} | {e_up:.3g} | {t_up:.3g} | {cal.v_reset:g} | {e_dn:.3g} | {t_dn:.3g} |")
    lines += ["", "## Check against the sweep's totals (`summary.csv`)", "",
              "Each model's three totals are fitted by ``E_total(V) = A·E/ΔG_set(V) + B·E/ΔG_reset(V)`` with one "
              "A, B (S: total |ΔG| per polarity, the same trajectory at every amplitude):", "",
              "| model | A = Σ abs(ΔG) set (S) | B = Σ abs(ΔG) reset (S) | measured totals (J) | fitted totals (J) | worst rel. error |",
              "|---|---|---|---|---|---|"]
    with open(HERE / "summary.csv") as fh:
        summary = list(csv.DictReader(fh))
    for name in dict.fromkeys(c["device.model"] for c in cases):
        rows = [r for r in rows_e if r[0] == name]
        meas = [float(s["e_write_total_mean"]) for r in rows for s in summary
                if s["device.model"] == name and float(s["device.v_set"]) == r[1]]
        basis = np.array([[r[2], r[3]] for r in rows])
        (a, b), *_ = np.linalg.lstsq(basis, np.array(meas), rcond=None)
        fit = basis @ np.array([a, b])
        err = float(np.max(np.abs(fit / np.array(meas) - 1)))
        cond = np.linalg.cond(basis / np.linalg.norm(basis, axis=0))
        ab = f"{a:.3g} | {b:.3g}" if cond < 1e3 else f"not determined (cond {cond:.0e}) | –"
        lines.append(f"| {name} | {ab} | {' '.join(f'{m:.3g}' for m in meas)} | "
                     f"{' '.join(f'{f:.3g}' for f in fit)} | {err:.2%} |")
    (HERE / "per_polarity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
