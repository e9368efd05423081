"""Phase controller: the free phase and the nudged phase(s) of EqProp on a backend.

Free: the inputs alone set the operating point. Nudged: currents ``-beta * dL/dpred``
are injected differentially into the output pairs (+ on V+, - on V-); with
``centered=True`` a second nudged phase at ``-beta`` gives the O(beta^2) estimator.
Nudged phases start from the free solution (warm start; the numpy backend also reuses
the Norton currents of the batch).

One-sided nudging has an O(beta) bias that centered nudging cancels: for an output device between
a row at w and an output node at o that the nudge moves by delta, the one-sided difference is
(w - o - delta)^2 - (w - o)^2 = -2 (w - o) delta + delta^2. The first term is the gradient; the
second is >= 0 for every device, so it lowers every output conductance, and a lower conductance
makes delta = beta |dL/dpred| / G larger (the output crossbar collapses to g_min and every score
to 0: loss ln K). :func:`one_sided_bias_ratio` estimates delta^2 / (2 |w - o| delta) from the
circuit; :func:`check_nudging` refuses a one-sided run above ``ONE_SIDED_MAX_BIAS_RATIO``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ebana.backends.base import Backend, Solution
from ebana.errors import ConfigError
from ebana.gradients import eqprop_gradients
from ebana.losses import Loss
from ebana.measurement import Readout

__all__ = ["PhaseResult", "PhaseController", "ONE_SIDED_MAX_BIAS_RATIO", "one_sided_bias_ratio",
           "check_nudging"]

ONE_SIDED_MAX_BIAS_RATIO = 0.1
"""Largest :func:`one_sided_bias_ratio` a one-sided run may start with. Measured (1 epoch MNIST
1568-100-20, 40 epochs IRIS, ce): ratio 0.007 and 0.066 train as well as centered (94.8 %, 95.2 %),
0.2 collapses MNIST to 9.8 % (loss ln 10); on IRIS 0.083 raises the test loss 1.5x, 0.28 ends at
66.7 %, 0.83 collapses (loss ln 3). The estimate is about half the measured relative error of the
output crossbar's gradient (MNIST: 1.47e7/A * beta measured vs 6.6e6/A * beta estimated)."""


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
    i_nudge: np.ndarray   # (B, n_out) nudge currents (A) of state a (b: -i_nudge centered, 0 one-sided)
    measured: tuple[Solution, Solution] | None = None
    """(a, b) as the periphery read them (:mod:`ebana.measurement`); None: read exactly (a, b)."""


def one_sided_bias_ratio(circuit, loss: Loss, beta: float) -> tuple[float, float, float]:
    """Estimated O(beta) bias of one-sided EqProp relative to its signal, in the output crossbar.

    Returns ``(ratio, delta, drop)``: ``delta = beta * loss.grad_scale / G`` (V) is the nudge
    response of an output node whose total conductance G (S) is the mean over the output nodes of
    the circuit's present conductances; ``drop`` (V) is the scale of the voltage across an output
    device: the amplifier's output swing ``gain * (v_clamp_high - v_clamp_low) / 2`` for rows from
    a hidden layer, ``v_scale`` for rows from the inputs (the smallest over the output crossbars);
    ``ratio = delta / (2 drop)``, the ratio of the delta^2 term to the -2 (w - o) delta term.
    """
    t, p = circuit.topology, circuit.params
    into = [s for s in t.crossbars if s.dst == t.output_layer]
    g_node = float(np.mean(sum(circuit.conductances[s.index].sum(axis=0) for s in into)))
    drop = min(p.v_scale if s.src == 0 else p.gain * (p.v_clamp_high - p.v_clamp_low) / 2 for s in into)
    delta = beta * loss.grad_scale / g_node
    return delta / (2.0 * drop), delta, drop


def check_nudging(circuit, loss: Loss, beta: float, centered: bool) -> None:
    """Refuse (ConfigError) one-sided nudging whose estimated bias ratio exceeds the limit."""
    if centered:
        return
    ratio, delta, drop = one_sided_bias_ratio(circuit, loss, beta)
    if ratio > ONE_SIDED_MAX_BIAS_RATIO:
        limit = beta * ONE_SIDED_MAX_BIAS_RATIO / ratio
        raise ConfigError(
            f"beta = {beta:g} A is too large for one-sided nudging (centered = false): the nudge moves the "
            f"outputs by ~{delta:.3g} V against ~{drop:.3g} V across the output devices, an estimated O(beta) "
            f"gradient bias of {ratio:.3g}x the signal (limit {ONE_SIDED_MAX_BIAS_RATIO:g}); use beta <= "
            f"{limit:.2g} A, leave beta unset (the one-sided default), or centered nudging")


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

    def __init__(self, backend: Backend, loss: Loss, beta: float, centered: bool = False,
                 readout: Readout | None = None) -> None:
        if not beta > 0:
            raise ConfigError(f"beta must be > 0 A, got {beta}")
        self.backend, self.loss, self.beta, self.centered = backend, loss, float(beta), centered
        self.readout = readout

    @property
    def circuit(self):
        return self.backend.circuit

    def free(self, x: np.ndarray, ids: Sequence[int] | None = None) -> Solution:
        return self.backend.solve(x, None, phase="free", sample_ids=ids)

    def run(self, x: np.ndarray, y: np.ndarray, ids: Sequence[int] | None = None,
            key: Sequence[int] = (0, 0)) -> PhaseResult:
        """Free and nudged phases of one batch. With a :class:`~ebana.measurement.Readout` the
        prediction (hence the nudge currents) comes from the measured free outputs and the
        gradient from the measured phases; ``key`` = (epoch, batch) seeds its read noise."""
        loose = self.centered and getattr(self.backend, "dtype", None) == np.float32
        free = self.backend.solve(x, None, phase="free", sample_ids=ids,
                                  tol=self.CENTERED_FREE_TOL if loose else None)
        rng = read_free = None
        if self.readout is not None:
            rng = self.readout.rng(key)
            read_free = self.readout(free, rng)
        pred = self.circuit.prediction((free if read_free is None else read_free).output)
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
        measured = None
        if self.readout is not None:   # one read per phase: one-sided b is the free phase already read
            measured = (self.readout(a, rng), read_free if b is free else self.readout(b, rng))
        return PhaseResult(free, a, b, ba, bb, pred, self.loss.value(pred, y), i_nudge, measured)

    def gradients(self, result: PhaseResult) -> list[np.ndarray]:
        """EqProp estimate of d(mean loss)/dG per crossbar (from the measured phases, if read)."""
        a, b = (result.a, result.b) if result.measured is None else result.measured
        return eqprop_gradients(self.circuit, a, b, result.beta_a, result.beta_b,
                                gemm_dtype=getattr(self.backend, "dtype", np.float64),
                                model=getattr(self.backend, "model", None))
