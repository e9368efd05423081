"""Backend protocol and the solution of one DC solve of a batch.

A backend is bound to a :class:`~ebana.circuit.Circuit`; ``set_conductances`` updates the
crossbars after a weight update, and ``solve`` returns the DC operating point of every
sample of a batch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from ebana.circuit import Circuit
from ebana.errors import ConfigError

__all__ = ["Solution", "Backend", "names", "create"]


@dataclass
class Solution:
    """Node voltages (V) of a batch at a DC operating point.

    ``layers[0]`` holds the wordline voltages (B, 2*n_inputs); ``layers[l]`` for l >= 1 the
    neuron node voltages (B, n_nodes_l); the output layer is interleaved (V+, V-) per class.
    """

    layers: list[np.ndarray]
    sweeps: int = 0
    info: dict = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.layers[-1]

    def take(self, idx) -> "Solution":
        return Solution([v[idx] for v in self.layers], self.sweeps, dict(self.info))


class Backend(Protocol):
    """What the phase controller needs from a solver."""

    circuit: Circuit

    def set_conductances(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None: ...

    def solve(self, x: np.ndarray, i_nudge: np.ndarray | None = None, *, phase: str = "free",
              start: Solution | None = None, sample_ids: Sequence[int] | None = None) -> Solution: ...

    def close(self) -> None: ...


_BACKENDS = {"numpy": "ebana.backends.numpy_solver:NumpyBackend",
             "ngspice": "ebana.backends.ngspice:NgspiceBackend"}


def names() -> list[str]:
    return sorted(_BACKENDS)


def create(name: str, circuit: Circuit, **options) -> Backend:
    """Instantiate a backend by name ("auto" = numpy)."""
    key = "numpy" if name == "auto" else name
    if key not in _BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; known: auto, {', '.join(names())}")
    module, cls = _BACKENDS[key].split(":")
    return getattr(importlib.import_module(module), cls)(circuit, **options)
