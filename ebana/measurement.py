"""What the periphery measures: read noise and ADC quantisation of node voltages (one place).

In training the chip reads, per sample and phase, the voltage of every neuron node (hidden and
output layers; the wordline voltages are the DACs' own outputs and are known). The free-phase
outputs give the prediction, hence the nudge currents; every phase's node voltages give the
squared drops of the EqProp estimate (:mod:`ebana.gradients`). :class:`Readout` turns a
backend's exact :class:`~ebana.backends.base.Solution` into the measured one:

    v_meas = ADC(v + n),  n ~ N(0, read_noise^2) per node, sample and phase (V),
    ADC(v) = nearest of 2^bits levels over [v_min, v_max] (V) of the node's layer, saturating outside.

The full scale is ``[adc_v_min, adc_v_max]`` for every layer when given; by default each layer's
own free-phase span: a clamped layer (hidden; the output with ``output_diodes``) the clamp window
[v_clamp_low, v_clamp_high], the unclamped output layer the span of the voltages that drive it
(amplifier outputs of the clamped layers before it, bias rows, wordlines for skips from the
inputs), which a node of a resistive network cannot leave without a nudge
(:func:`layer_spans`). Measured on IRIS after 20 epochs (VTEAM): 50 % of the output-node
readings lie outside the clamp window, in [0.15, 1.09] V, inside their span [0, 1.2] V.

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
from ebana.errors import ConfigError
from ebana.nonideal import STREAMS, NonIdealConfig, lsb, quantize

__all__ = ["Readout", "make_readout", "layer_spans"]


class Readout:
    """Measured node voltages: Gaussian read noise ``sigma`` (V), then an ADC of ``bits`` over
    ``spans[q-1]`` = (v_min, v_max) (V) for layer q (one pair: every layer; ``bits`` None: no
    quantisation)."""

    def __init__(self, sigma: float, bits: int | None, spans: Sequence[tuple[float, float]], seed: int) -> None:
        self.sigma, self.bits, self.seed = float(sigma), bits, seed
        self.spans = [(float(lo), float(hi)) for lo, hi in spans]

    def span(self, q: int) -> tuple[float, float]:
        """ADC full scale (V) of layer q >= 1."""
        return self.spans[min(q, len(self.spans)) - 1]

    def lsb(self, q: int = 1) -> float | None:
        """ADC step (V) of layer q; None without an ADC."""
        return None if self.bits is None else lsb(self.bits, *self.span(q))

    def rng(self, key: Sequence[int]) -> np.random.Generator:
        """The read-noise generator of one batch, ``key`` = (epoch, batch)."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(STREAMS["read"], *key)))

    def voltages(self, v: np.ndarray, rng: np.random.Generator | None, q: int = 1) -> np.ndarray:
        """Measured values of node voltages ``v`` (V) of layer q, a new array."""
        out = np.array(v, dtype=np.float64)
        if self.sigma > 0:
            out += self.sigma * rng.standard_normal(out.shape)
        if self.bits is not None:
            out = quantize(out, self.bits, *self.span(q))
        return out

    def __call__(self, sol: Solution, rng: np.random.Generator | None) -> Solution:
        """The measured copy of ``sol`` (every neuron layer; ``x`` and ``info`` kept)."""
        layers = [None] + [self.voltages(v, rng, q) for q, v in enumerate(sol.layers[1:], 1)]
        return Solution(layers, sol.x, sol.sweeps, dict(sol.info, measured=True))


def layer_spans(circuit) -> list[tuple[float, float]]:
    """Free-phase voltage span (V) of every neuron layer q >= 1 (module docstring)."""
    t, p = circuit.topology, circuit.params
    window = (p.v_clamp_low, p.v_clamp_high)
    spans: list[tuple[float, float]] = []
    for q in range(1, t.n_layers):
        if q != t.output_layer or p.output_diodes:
            spans.append(window)
            continue
        drive: list[float] = []
        for spec in t.incoming(q):
            if spec.src == 0:
                drive += [p.v_shift - p.v_scale, p.v_shift + p.v_scale]
            else:
                drive += list(circuit.amplifier_out(np.array(window)))
            drive += list(circuit.bias_voltages(spec))
        spans.append((float(min(drive)), float(max(drive))))
    return spans


def make_readout(cfg: NonIdealConfig, circuit, seed: int) -> Readout | None:
    """The run's :class:`Readout`, or None when nothing measurement-side is on (the exact path).

    ADC full scale: ``[adc_v_min, adc_v_max]`` for every layer, or per layer :func:`layer_spans`
    (an end given alone replaces that end of every layer's span)."""
    if not cfg.measured:
        return None
    spans = [(lo if cfg.adc_v_min is None else cfg.adc_v_min, hi if cfg.adc_v_max is None else cfg.adc_v_max)
             for lo, hi in layer_spans(circuit)]
    for lo, hi in spans:
        if not lo < hi:
            shown = ", ".join(f"[{a:g}, {b:g}]" for a, b in layer_spans(circuit))
            raise ConfigError(f"nonideal.adc_v_min/adc_v_max give an empty ADC range [{lo:g}, {hi:g}] V for a "
                              f"layer; the layers' spans are {shown} V")
    return Readout(cfg.read_noise, cfg.adc_bits, spans, seed)
