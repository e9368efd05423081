"""Figures from result data (never from backends). Functions return a Figure; no plt.show()."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["training_curves"]


def training_curves(history: Sequence[dict], title: str = "") -> plt.Figure:
    """Loss and accuracy per epoch (train and test)."""
    ep = [r["epoch"] for r in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
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
