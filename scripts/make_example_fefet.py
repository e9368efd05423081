"""Generate the example measurement files of a ferroelectric HfO2/ZrO2 synapse (synthetic, documented).

Usage (from the repository root)::

    python scripts/make_example_fefet.py [--out device_models/measured]

writes ``example_fefet.csv`` (pulse trains, the format of :mod:`ebana.devices.measurements`) and
``example_fefet_iv.csv`` (a DC write-current sweep for the Schottky fit). Deterministic (seed
:data:`SEED`); ``tests/devices/test_fit.py`` checks the committed files equal a fresh run and that the
fit recovers the parameters below. The data are *synthetic*: a documented physical process with
noise, shaped after the qualitative description of seed 004 (arXiv 2509.18121), not its device.

**Process.** The channel conductance follows the switched ferroelectric fraction p ∈ [0, 1],
``G = G_LO + (G_HI - G_LO)·p`` (S). Domains switch independently (nucleation-limited switching):
one pulse of width w and amplitude V switches a fraction ``r(w, V) = 1 - exp(-w/τ(V))`` of the
domains still unswitched, with Merz's law ``τ(V) = τ_∞·exp(V_A/V)`` (s); RESET domains are slower
by :data:`RESET_SLOWDOWN` (``τ_∞`` larger). So a SET pulse gives ``Δp = r_s·(1 - p)`` and a RESET
pulse ``Δp = -r_r·p`` (linear soft bounds, symmetric point ``p⋄ = r_s/(r_s + r_r)`` = 0.59 for
small r, as the cluster of seed 004). Cycle-to-cycle noise: every step is multiplied by
``1 + C2C·ξ``, ξ ~ N(0, 1) (pulse-to-pulse fluctuation of the nucleation rate). Reads are
noiseless at :data:`V_READ` (``i_read = g·V_READ``).

**Write current** (Schottky emission, ``ln I ∝ √V``): ``I = G·c·(exp(β·√V) - 1)`` with β =
:data:`BETA` (V^-1/2) and c chosen so that the current is ohmic at the read voltage
(``c·(e^{β√V_READ} - 1) = V_READ``); measured with a lognormal noise of :data:`I_NOISE`.

**Trains.** From p = :data:`P0`, :data:`N_PULSES` SET then :data:`N_PULSES` RESET pulses per
condition of :data:`TRAINS` (name, width s, amplitude V): shorter pulses at higher amplitude, and a
second amplitude at 2 µs for PAM.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

SEED = 2509
G_LO, G_HI = 2e-6, 2e-5          # S, conductance at p = 0 and p = 1
TAU_INF = 1.8e-10                # s, Merz prefactor of SET switching
V_A = 24.6                       # V, Merz activation voltage
RESET_SLOWDOWN = 1.44            # RESET τ_∞ / SET τ_∞
C2C = 0.15                       # relative std of every step
BETA = 3.0                       # V^-1/2, Schottky slope
V_READ = 0.1                     # V
I_NOISE = 0.03                   # relative (lognormal sigma) noise of measured currents
P0 = 0.05
N_PULSES = 50
TRAINS = (("20ns", 2e-8, 3.0), ("2us", 2e-6, 2.0), ("2us_2.2V", 2e-6, 2.2), ("200us", 2e-4, 1.5))
IV_VOLTAGES = np.round(np.linspace(0.1, 3.5, 18), 3)  # V, DC sweep
IV_G = 1e-5                      # S, state of the DC sweep


def c_schottky() -> float:
    """c (V) of ``k = c·(e^{β√V} - 1)``, ohmic at V_READ."""
    return V_READ / np.expm1(BETA * np.sqrt(V_READ))


def rate(width: float, amplitude: float, polarity: int) -> float:
    """Fraction r (–) of the unswitched domains one pulse switches (SET: polarity +1)."""
    tau = TAU_INF * (1.0 if polarity > 0 else RESET_SLOWDOWN) * np.exp(V_A / amplitude)
    return float(-np.expm1(-width / tau))


def write_current(g: np.ndarray, v: float) -> np.ndarray:
    """Noise-free write current (A) at conductance g (S) and amplitude v (V)."""
    return g * c_schottky() * np.expm1(BETA * np.sqrt(v))


def generate(rng: np.random.Generator) -> tuple[list[list], list[list]]:
    """Rows of the measurement file and of the I-V file."""
    rows = [["train", "pulse", "g", "polarity", "width", "amplitude", "v_read", "i_read", "i_pulse"]]
    for name, width, amp in TRAINS:
        p, n = P0, 0
        g = G_LO + (G_HI - G_LO) * p
        rows.append([name, 0, f"{g:.6e}", "none", width, amp, V_READ, f"{g * V_READ:.6e}", ""])
        for pol in [1] * N_PULSES + [-1] * N_PULSES:
            r = rate(width, amp, pol)
            i = write_current(g, amp) * np.exp(I_NOISE * rng.standard_normal())
            dp = (r * (1 - p) if pol > 0 else -r * p) * (1 + C2C * rng.standard_normal())
            p = float(np.clip(p + dp, 0.0, 1.0))
            g = G_LO + (G_HI - G_LO) * p
            n += 1
            rows.append([name, n, f"{g:.6e}", "set" if pol > 0 else "reset", width, amp, V_READ,
                         f"{g * V_READ:.6e}", f"{i:.6e}"])
    iv = [["voltage", "current", "g"]]
    for v in IV_VOLTAGES:
        i = write_current(np.float64(IV_G), float(v)) * np.exp(I_NOISE * rng.standard_normal())
        iv.append([float(v), f"{i:.6e}", IV_G])
    return rows, iv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("device_models/measured"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, iv = generate(np.random.default_rng(SEED))
    for name, table in (("example_fefet.csv", rows), ("example_fefet_iv.csv", iv)):
        with (args.out / name).open("w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(table)
    print(f"wrote {args.out / 'example_fefet.csv'} ({len(rows) - 1} rows) and {args.out / 'example_fefet_iv.csv'}")


if __name__ == "__main__":
    main()
