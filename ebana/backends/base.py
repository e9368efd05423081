"""Backend protocol and the solution of one DC solve of a batch.

A backend is bound to a :class:`~ebana.circuit.Circuit`; ``set_conductances`` updates the
crossbars after a weight update, and ``solve`` returns the DC operating point of every
sample of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from ebana.circuit import Circuit
from ebana.errors import ConfigError
from ebana.registry import Registry

__all__ = ["Solution", "Backend", "BACKENDS", "names", "create"]


@dataclass
class Solution:
    """Node voltages (V) of a batch at a DC operating point.

    ``layers[0]`` holds the wordline voltages (B, 2*n_inputs), or None when the backend did not
    form them (the numpy backend works from the features ``info["x"]``; use ``wordlines``);
    ``layers[l]`` for l >= 1 the neuron node voltages (B, n_nodes_l); the output layer is
    interleaved (V+, V-) per class.
    """

    layers: list[np.ndarray]
    sweeps: int = 0
    info: dict = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.layers[-1]

    @property
    def batch(self) -> int:
        return self.layers[-1].shape[0]

    def wordlines(self, circuit) -> np.ndarray:
        """Wordline voltages (B, 2*n_inputs) (V)."""
        if self.layers[0] is None:
            x = self.info["x"]
            self.layers[0] = circuit.input_voltages(np.tile(x, (self.batch // x.shape[0], 1)))
        return self.layers[0]

    def take(self, idx) -> "Solution":
        """Rows ``idx`` of every layer. ``info["x"]`` may hold the inputs of one block of stacked
        phases (fewer rows than the solution): a slice of exactly one block keeps it as it is."""
        info = dict(self.info)
        x = info.get("x")
        if x is not None:
            n, total = x.shape[0], self.batch
            one_block = (isinstance(idx, slice) and idx.step in (None, 1) and n < total
                         and (idx.start or 0) % n == 0 and (idx.stop or total) - (idx.start or 0) == n)
            if not one_block:
                info["x"] = (x if n == total else np.tile(x, (total // n, 1)))[idx]
        return Solution([None if v is None else v[idx] for v in self.layers], self.sweeps, info)


class Backend(Protocol):
    """What the phase controller needs from a solver."""

    circuit: Circuit

    def set_conductances(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None: ...

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None,
              tol: float | None = None, rel_tol: float | None = None) -> Solution: ...

    def close(self) -> None: ...


BACKENDS: Registry = Registry("backend", ConfigError)
"""Solvers by name (registered in :mod:`ebana.backends`); ``auto`` means ``numpy``."""


def names() -> list[str]:
    return BACKENDS.names()


def create(name: str, circuit: Circuit, **options) -> Backend:
    """Instantiate a backend by name ("auto" = numpy)."""
    return BACKENDS.get("numpy" if name == "auto" else name)(circuit, **options)
