"""Backend protocol and the solution of one DC solve of a batch.

A backend is bound to a :class:`~ebana.circuit.Circuit` (topology and parameters, never
written). ``load(G)`` gives it the conductances to solve with (it compiles them,
:meth:`Circuit.compile`, into ``backend.model``); the caller (the updater) owns G. ``solve``
returns the DC operating point of every sample of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from ebana.circuit import Circuit, CompiledCircuit
from ebana.errors import ConfigError
from ebana.registry import Registry

__all__ = ["Solution", "Backend", "BACKENDS", "names", "create"]


@dataclass
class Solution:
    """Node voltages (V) of a batch at a DC operating point; the same shape from every backend.

    ``layers[q]`` for q >= 1: the neuron node voltages (B, n_q) of layer q; the output layer is
    interleaved (V+, V-) per class. ``layers[0]`` is always None: the sources are not solved for,
    they follow from the features ``x`` (``wordlines``). ``x`` (B0, n_inputs): the normalised
    features; for m phases of the same inputs stacked in one solve (B = m * B0), those of one block.
    ``info``: what the backend reports (``backend``; the numpy backend's error bounds and sweeps).
    """

    layers: list[np.ndarray | None]
    x: np.ndarray
    sweeps: int = 0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layers[0] is not None:
            raise ValueError("Solution.layers[0] must be None (the sources follow from x)")
        if self.batch % max(self.x.shape[0], 1):
            raise ValueError(f"Solution of {self.batch} samples with {self.x.shape[0]} input rows")

    @property
    def output(self) -> np.ndarray:
        return self.layers[-1]

    @property
    def batch(self) -> int:
        return self.layers[-1].shape[0]

    def inputs(self) -> np.ndarray:
        """Features (B, n_inputs) of every sample (tiled over stacked phases)."""
        n = self.x.shape[0]
        return self.x if n == self.batch else np.tile(self.x, (self.batch // n, 1))

    def wordlines(self, circuit) -> np.ndarray:
        """Wordline voltages (B, 2*n_inputs) (V)."""
        return circuit.input_voltages(self.inputs())

    def take(self, idx) -> "Solution":
        """Rows ``idx`` of every layer. A slice of exactly one block of stacked phases keeps ``x``
        as it is; other selections take the matching rows of the tiled inputs."""
        n, total = self.x.shape[0], self.batch
        one_block = (isinstance(idx, slice) and idx.step in (None, 1) and n < total
                     and (idx.start or 0) % n == 0 and (idx.stop or total) - (idx.start or 0) == n)
        x = self.x if one_block else self.inputs()[idx]
        return Solution([None] + [v[idx] for v in self.layers[1:]], x, self.sweeps, dict(self.info))

    def stacked(self, m: int) -> "Solution":
        """This solution repeated for m stacked phases of the same inputs (a warm start)."""
        return Solution([None] + [np.concatenate([v] * m) for v in self.layers[1:]], self.x, self.sweeps,
                        {"v_abs_max": self.info.get("v_abs_max")})


class Backend(Protocol):
    """What the phase controller needs from a solver."""

    circuit: Circuit
    model: CompiledCircuit   # what the backend solves: the circuit with the loaded conductances

    def load(self, conductances: Sequence[np.ndarray], validate: bool = True) -> None: ...

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
