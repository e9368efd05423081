"""Figures of device behaviour (matplotlib, Agg backend); every function returns a Figure.

- :func:`iv_figure` -- I-V hysteresis loop, linear and log-|I| panels, numpy and optional SPICE;
- :func:`pulse_figure` -- conductance vs pulse number for SET/RESET trains.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ebana.devices.iv import IVTrace, PulseTrain  # noqa: E402

__all__ = ["iv_figure", "pulse_figure"]


def iv_figure(trace: IVTrace, spice: IVTrace | None = None, title: str = "") -> Figure:
    """Two panels: I (A) vs V (V), and |I| (A, log) vs V; SPICE dashed on the same axes."""
    fig, (ax_lin, ax_log) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for tr, style, label in ((trace, "-", "numpy"), (spice, "--", "ngspice")):
        if tr is None:
            continue
        ax_lin.plot(tr.v, tr.i, style, lw=1.2, label=label)
        ax_log.semilogy(tr.v, np.maximum(np.abs(tr.i), 1e-300), style, lw=1.2, label=label)
    ax_lin.set(xlabel="V (V)", ylabel="I (A)", title="I-V")
    ax_log.set(xlabel="V (V)", ylabel="|I| (A)", title="I-V, log |I|")
    top = float(np.max(np.abs(trace.i))) if trace.i.size else 1.0
    top = top if top > 0 else 1.0
    ax_log.set_ylim(top * 1e-6, top * 2)
    for ax in (ax_lin, ax_log):
        ax.grid(True, alpha=0.3)
        ax.axhline(0, color="k", lw=0.5) if ax is ax_lin else None
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def pulse_figure(train: PulseTrain, spice_g: np.ndarray | None = None, title: str = "") -> Figure:
    """Conductance (S) vs pulse number; SET pulses and RESET pulses marked by colour."""
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    ax.plot(train.n, train.g, "-", color="0.6", lw=0.8)
    set_ = train.v > 0
    reset = train.v < 0
    ax.plot(train.n[~set_ & ~reset], train.g[~set_ & ~reset], "ko", ms=4, label="initial")
    ax.plot(train.n[set_], train.g[set_], "o", ms=4, label="after SET pulse")
    ax.plot(train.n[reset], train.g[reset], "s", ms=4, label="after RESET pulse")
    if spice_g is not None:
        ax.plot(train.n, spice_g, "k+", ms=7, label="ngspice")
    ax.set(xlabel="pulse number", ylabel="G at 0.1 V (S)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig
