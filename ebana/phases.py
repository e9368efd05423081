"""Phase controller: the free phase and the nudged phase(s) of EqProp on a backend.

Free: the inputs alone set the operating point. Nudged: currents ``-beta * dL/dpred``
are injected differentially into the output pairs (+ on V+, - on V-); with
``centered=True`` a second nudged phase at ``-beta`` gives the O(beta^2) estimator.
Nudged phases start from the free solution (warm start; the numpy backend also reuses
the Norton currents of the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ebana.backends.base import Backend, Solution
from ebana.errors import ConfigError
from ebana.gradients import eqprop_gradients
from ebana.losses import Loss

__all__ = ["PhaseResult", "PhaseController"]


@dataclass
class PhaseResult:
    """Solutions of one batch: free, and the two nudged states (a, b) the gradient contrasts."""

    free: Solution
    a: Solution
    b: Solution
    beta_a: float
    beta_b: float
    pred: np.ndarray      # (B, K) class scores V+ - V- in the free phase (V)
    loss: np.ndarray      # (B,) per-sample loss in the free phase


class PhaseController:
    """Runs EqProp phases on a backend for a loss and nudging strength beta (A per unit dL/dpred)."""

    #: error bound (V) of the free phase in centered float32 training: the gradient contrasts only
    #: the +-beta states, so the free state just sets the nudge currents (to ~1e-3 relative at
    #: tau = 3 mV) and the warm start (measured on MNIST: 2 sweeps instead of 4)
    CENTERED_FREE_TOL = 3e-6
    #: ... and the +-beta phases stop once every layer's error bound is below 3e-3 of that layer's
    #: response (the bound is rigorous and per layer; measured on MNIST: 2 sweeps instead of 4,
    #: gradient within 4e-4 relative of the exact one, as before this bound existed)
    CENTERED_NUDGE_REL_TOL = 3e-3
    #: ... with an absolute floor far below float32's 1e-9 V: the float32 rounding of the Norton
    #: currents is shared by both phases and cancels, while a deep layer's response behind
    #: saturated layers may be ~1e-12 V and still carry the largest gradient
    CENTERED_NUDGE_ABS_TOL = 1e-15

    def __init__(self, backend: Backend, loss: Loss, beta: float, centered: bool = False) -> None:
        if not beta > 0:
            raise ConfigError(f"beta must be > 0 A, got {beta}")
        self.backend, self.loss, self.beta, self.centered = backend, loss, float(beta), centered

    @property
    def circuit(self):
        return self.backend.circuit

    def free(self, x: np.ndarray, ids: Sequence[int] | None = None) -> Solution:
        return self.backend.solve(x, None, phase="free", sample_ids=ids)

    def run(self, x: np.ndarray, y: np.ndarray, ids: Sequence[int] | None = None) -> PhaseResult:
        loose = self.centered and getattr(self.backend, "dtype", None) == np.float32
        free = self.backend.solve(x, None, phase="free", sample_ids=ids,
                                  tol=self.CENTERED_FREE_TOL if loose else None)
        pred = self.circuit.prediction(free.output)
        i_nudge = self.circuit.nudge_currents(self.loss.grad(pred, y), self.beta)
        if self.centered:  # both nudged phases in one stacked solve, warm-started from the free state
            both = self.backend.solve(x, np.concatenate([i_nudge, -i_nudge]), phase="nudged(+-beta)",
                                      start=free.stacked(2),
                                      sample_ids=ids, tol=self.CENTERED_NUDGE_ABS_TOL if loose else None,
                                      rel_tol=self.CENTERED_NUDGE_REL_TOL if loose else None)
            n = len(x)
            a, b, ba, bb = both.take(slice(0, n)), both.take(slice(n, 2 * n)), self.beta, -self.beta
        else:
            plus = self.backend.solve(x, i_nudge, phase="nudged(+beta)", start=free, sample_ids=ids)
            a, b, ba, bb = plus, free, self.beta, 0.0
        return PhaseResult(free, a, b, ba, bb, pred, self.loss.value(pred, y))

    def gradients(self, result: PhaseResult) -> list[np.ndarray]:
        """EqProp estimate of d(mean loss)/dG per crossbar."""
        return eqprop_gradients(self.circuit, result.a, result.b, result.beta_a, result.beta_b,
                                gemm_dtype=getattr(self.backend, "dtype", np.float64))
