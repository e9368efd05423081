"""What the periphery measures: read noise and ADC quantisation of node voltages (one place).

In training the chip reads, per sample and phase, the voltage of every neuron node (hidden and
output layers; the wordline voltages are the DACs' own outputs and are known). The free-phase
outputs give the prediction, hence the nudge currents; every phase's node voltages give the
squared drops of the EqProp estimate (:mod:`ebana.gradients`). :class:`Readout` turns a
backend's exact :class:`~ebana.backends.base.Solution` into the measured one:

    v_meas = ADC(v + n),  n ~ N(0, read_noise^2) per node, sample and phase (V),
    ADC(v) = nearest of 2^bits levels over [adc_v_min, adc_v_max] (V), saturating outside.

The solver is unaffected: the nudged phases still start from the exact free state, and the
energy and ngspice-verification records keep the exact operating points. Evaluation (test and
train accuracy after each epoch) reads exactly: it measures the trained conductances.

Read noise is drawn from a generator seeded by (seed, epoch, batch) (:meth:`Readout.rng`), so a
resumed run draws the same noise as an uninterrupted one without checkpointing a stream.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ebana.backends.base import Solution
from ebana.nonideal import STREAMS, NonIdealConfig, lsb, quantize

__all__ = ["Readout", "make_readout"]


class Readout:
    """Measured node voltages: Gaussian read noise ``sigma`` (V), then an ADC of ``bits`` over
    [v_min, v_max] (V; ``bits`` None: no quantisation)."""

    def __init__(self, sigma: float, bits: int | None, v_min: float, v_max: float, seed: int) -> None:
        self.sigma, self.bits, self.v_min, self.v_max, self.seed = float(sigma), bits, float(v_min), float(v_max), seed

    @property
    def lsb(self) -> float | None:
        """ADC step (V); None without an ADC."""
        return None if self.bits is None else lsb(self.bits, self.v_min, self.v_max)

    def rng(self, key: Sequence[int]) -> np.random.Generator:
        """The read-noise generator of one batch, ``key`` = (epoch, batch)."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(STREAMS["read"], *key)))

    def voltages(self, v: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Measured values of node voltages ``v`` (V), a new array."""
        out = np.array(v, dtype=np.float64)
        if self.sigma > 0:
            out += self.sigma * rng.standard_normal(out.shape)
        if self.bits is not None:
            out = quantize(out, self.bits, self.v_min, self.v_max)
        return out

    def __call__(self, sol: Solution, rng: np.random.Generator | None) -> Solution:
        """The measured copy of ``sol`` (every neuron layer; ``x`` and ``info`` kept)."""
        layers = [None] + [self.voltages(v, rng) for v in sol.layers[1:]]
        return Solution(layers, sol.x, sol.sweeps, dict(sol.info, measured=True))

    def describe(self) -> dict:
        return {"read_noise_V": self.sigma, "adc_bits": self.bits, "adc_v_min": self.v_min, "adc_v_max": self.v_max,
                "adc_lsb_V": self.lsb}


def make_readout(cfg: NonIdealConfig, v_clamp_low: float, v_clamp_high: float, seed: int) -> Readout | None:
    """The run's :class:`Readout`, or None when nothing measurement-side is on (the exact path).

    The ADC's full scale defaults to the neuron clamp window [v_clamp_low, v_clamp_high] (V)."""
    if not cfg.measured:
        return None
    lo = v_clamp_low if cfg.adc_v_min is None else cfg.adc_v_min
    hi = v_clamp_high if cfg.adc_v_max is None else cfg.adc_v_max
    return Readout(cfg.read_noise, cfg.adc_bits, lo, hi, seed)
