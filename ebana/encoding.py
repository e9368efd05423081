"""Feature encoding: raw features -> normalised inputs x (the circuit maps x to volts).

``minmax`` maps each feature linearly so the training set spans [-1, 1] (constant
features map to 0); ``none`` keeps the features (images already in [0, 1]). The circuit
then drives ``x+ = v_shift + v_scale*x`` and ``x- = v_shift - v_scale*x``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebana.errors import ConfigError

__all__ = ["Encoder"]


@dataclass(frozen=True)
class Encoder:
    kind: str
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def fit(cls, kind: str, x_train: np.ndarray) -> "Encoder":
        if kind not in ("minmax", "none"):
            raise ConfigError(f"unknown encoding {kind!r}; known: minmax, none")
        x = np.asarray(x_train, dtype=np.float64)
        return cls(kind, x.min(axis=0), x.max(axis=0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return np.asarray(x)  # images stay float32: the circuit converts per batch
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        mid = 0.5 * (self.hi + self.lo)
        return 2.0 * (np.asarray(x, dtype=np.float64) - mid) / span
