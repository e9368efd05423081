"""Figures of device behaviour; every function returns a :class:`~matplotlib.figure.Figure` built
without pyplot (no backend is chosen; ``savefig`` renders with Agg).

- :func:`iv_figure` -- I-V hysteresis loop, linear and log-|I| panels, numpy and optional SPICE;
- :func:`pulse_figure` -- conductance vs pulse number for SET/RESET trains;
- :func:`response_figure` -- per-pulse response functions, F/G, penalty, energy;
- :func:`fit_figure` -- measured ΔG per pulse vs G with the fitted polynomial and table, per width.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ebana.devices.iv import IVTrace, PulseTrain

__all__ = ["iv_figure", "pulse_figure", "response_figure", "fit_figure"]


def iv_figure(trace: IVTrace, spice: IVTrace | None = None, title: str = "") -> Figure:
    """Two panels: I (A) vs V (V), and |I| (A, log) vs V; SPICE dashed on the same axes."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    (ax_lin, ax_log) = fig.subplots(1, 2)
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
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
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


def response_figure(curve, title: str = "") -> Figure:
    """Four panels of a :class:`~ebana.devices.response.ResponseCurve`.

    ΔG⁺ and |ΔG⁻| per pulse (S) vs G (S); q₊, q₋ and F, G vs w; the penalty slope G/F and
    R_c(w); the energy per pulse (J) vs G. The symmetric point is marked in every panel.
    """
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    axs = fig.subplots(2, 2)
    a, b, c, d = axs.ravel()
    a.plot(curve.g, curve.dg_up, label="ΔG⁺ (SET)")
    a.plot(curve.g, curve.dg_down, label="|ΔG⁻| (RESET)")
    a.set(xlabel="G (S)", ylabel="|ΔG| per pulse (S)", title="response per pulse")
    b.plot(curve.w, curve.q_up, label="q₊")
    b.plot(curve.w, curve.q_down, label="q₋")
    b.plot(curve.w, curve.F, "k-", lw=0.8, label="F = (q₋+q₊)/2")
    b.plot(curve.w, curve.G, "k--", lw=0.8, label="G = (q₋−q₊)/2")
    b.set(xlabel="w = 2·Gn − 1", ylabel="q (–)", title="response functions (seed 001)")
    c.plot(curve.w, curve.ratio, label="G/F (penalty slope)")
    c.plot(curve.w, curve.penalty, label="R_c(w)")
    c.set(xlabel="w", ylabel="(–)", title="implicit penalty of analog SGD")
    c.set_ylim(-3, 3)
    d.semilogy(curve.g, np.maximum(curve.e_up, 1e-300), label="SET")
    d.semilogy(curve.g, np.maximum(curve.e_down, 1e-300), label="RESET")
    d.set(xlabel="G (S)", ylabel="energy per pulse (J)", title="write energy")
    for ax in (a, b, c, d):
        if curve.g_sym is not None:
            ax.axvline(curve.g_sym if ax in (a, d) else curve.w_sym, color="r", lw=0.8, ls=":",
                       label="symmetric point")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def fit_figure(steps, model: dict, title: str = "") -> Figure:
    """ΔG per pulse (S) vs G at mid-pulse (S): measured points, polynomial (solid) and monotone table
    (dashed) of every condition of a fitted ``model`` (:func:`ebana.devices.fit.fit_measurements`),
    one panel per width; the symmetric point as a vertical line."""
    widths = sorted({c["width"] for c in model["condition"]})
    fig = Figure(figsize=(4.2 * len(widths), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths)))
    g_min, span = model["g_min"], model["g_max"] - model["g_min"]
    g_mid = 0.5 * (steps.g0 + steps.g1)
    for ax, w in zip(axes, widths):
        for k, c in enumerate(c for c in model["condition"] if c["width"] == w):
            sel = (steps.polarity == c["polarity"]) & (steps.width == w) & (steps.amplitude == c["amplitude"])
            color = f"C{k}"
            label = f"{'SET' if c['polarity'] > 0 else 'RESET'} {c['amplitude']:g} V"
            ax.plot(g_mid[sel], steps.dg[sel], ".", ms=3, color=color, alpha=0.6, label=label)
            xs = np.linspace(c["x_lo"], c["x_hi"], 200)
            ax.plot(g_min + span * xs, span * np.polyval(c["poly"], 2 * xs - 1), "-", color=color, lw=1.2)
            ax.plot(g_min + span * np.asarray(c["table_x"]), span * np.asarray(c["table_q"]), "--", color=color,
                    lw=1.0)
        for s in model.get("symmetric", []):
            if s["width"] == w and "g" in s:
                ax.axvline(s["g"], color="k", lw=0.8, ls=":", label=f"symmetric point {s['g']:.3g} S")
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set(xlabel="G at mid-pulse (S)", ylabel="ΔG per pulse (S)", title=f"width {w:g} s")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
