"""Figures from result data (never from backends). Functions return a Figure; no plt.show().

Figures are built with :class:`matplotlib.figure.Figure`, not pyplot: no backend is chosen and
no global figure registry is touched, so a user's Jupyter session keeps its backend;
``fig.savefig`` renders with Agg.
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

__all__ = ["training_curves"]


def training_curves(history: Sequence[dict], title: str = "") -> Figure:
    """Loss and accuracy per epoch (train and test)."""
    ep = [r["epoch"] for r in history]
    fig = Figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    a1.plot(ep, [r["train_loss"] for r in history], "o-", label="train")
    a1.plot(ep, [r["test_loss"] for r in history], "s-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss (free phase)")
    a1.legend()
    a2.plot(ep, [100 * r["train_acc"] for r in history], "o-", label="train")
    a2.plot(ep, [100 * r["test_acc"] for r in history], "s-", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
