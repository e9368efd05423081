"""Analog training algorithms on EqProp gradients: analog SGD, mixed precision, residual learning.

Public API: :data:`ALGORITHMS`, :func:`create_algorithm`, the pulse policies
:class:`StochasticPulses` and :class:`ThresholdPulses`, the writer :class:`StandardPulses`,
:class:`ResidualDevices`, :func:`write_pulses`.

Each algorithm is a :class:`~ebana.updates.device_update.DeviceUpdate` composed of the
optimiser's :class:`~ebana.updates.device_update.Request`, a pulse policy and a pulse writer
(so the training loop treats them all as device runs: states in checkpoints, write energy and
pulse counts per epoch), configured by the ``[algorithm]`` section
(:class:`~ebana.config.AlgorithmConfig`) next to ``[device]``. Seeds 001 (Wu et al. 2025) and
004; devices.md §8.

**Standard pulse.** Every write is a whole number n of standard pulses (``device.v_set`` or
``device.v_reset``, width ``algorithm.t_pulse``), sent as one pulse of width ``|n|·t_pulse``
(exact: every model is split-pulse invariant; with cycle-to-cycle noise this draws one noise
sample per write instead of n). The pulse step ``ε`` (S) is the model's ΔG of one standard
pulse at its symmetric point (:func:`ebana.devices.response.response_curve`), the ``Δw_min``
of the seeds. The requested change is the ideal update ``dg = -lr·direction(grad)`` of the
configured optimiser, as in :class:`DeviceUpdate`.

* ``analog_sgd``: ``n = stochastic_round(dg/ε)`` pulses straight to the weight devices
  (aihwkit's stochastic pulse trains, unbiased in expectation); the device's response
  ``q±(G)`` then makes it SGD on a penalised objective (drift to the symmetric point).
* ``mixed_precision`` (Nandakumar et al. 2020): a digital accumulator ``χ += dg``; where
  ``|χ| >= threshold`` (S, at least ε) ``n = trunc(χ/ε)`` pulses are written and
  ``χ -= n·ε``.
* ``residual`` (Tiki-Taka-style, seed 001): every circuit conductance is
  ``G = G_W + γ·(G_P - G_P⋄)`` of a main device W and a residual device P whose reference
  ``G_P⋄`` is P's symmetric point (zero-shifting: P starts there, found by alternating
  pulses). EqProp's gradient at G (= at W + γP) goes to P as analog SGD; every
  ``transfer_every`` steps ``β·(G_P - G_P⋄)`` (β = ``transfer_rate``) is written to W as
  stochastically rounded pulses (all devices read at once). G is clipped to the circuit's
  [g_min, g_max].
* ``residual_v2``: as ``residual`` but the transfer goes through a digital buffer
  ``H += β·(G_P - G_P⋄)``; where ``|H| >= threshold`` ``n = trunc(H/ε)`` pulses go to W and
  ``H -= n·ε`` (aihwkit ``BufferedTransferCompound`` with the remainder kept).

**Reference devices** (``algorithm.reference``). In ebana's circuit the two devices of a
signed weight are rows i / i + n of crossbars leaving the inputs and columns 2c / 2c + 1 of
crossbars into the outputs (:func:`pair_index`). ``none``: both are trained (EBANA rule).
``fixed``: the second device of each pair is a reference held at the middle of the range;
``symmetric``: it is programmed to the symmetric point by alternating pulses before training
(symmetry-point shifting, seed 004). With a reference, the trained device starts at
``G_ref + (G⁺ - G⁻)`` of the initial draw, so the initial weights equal the ideal run's.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ebana import devices
from ebana.config import AlgorithmConfig, DeviceConfig
from ebana.devices.response import find_symmetric_point, response_curve
from ebana.errors import ConfigError
from ebana.registry import Registry
from ebana.updates.device_update import DeviceArray, DeviceUpdate, Request, Setup, StatelessPolicy, device_update
from ebana.updates.array_schemes import uniform_params
from ebana.updates.pulses import state_for_conductance

__all__ = ["ALGORITHMS", "create_algorithm", "StochasticPulses", "ThresholdPulses", "StandardPulses",
           "ResidualDevices", "write_pulses", "stochastic_round", "threshold_pulses"]

logger = logging.getLogger(__name__)


def stochastic_round(r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer array with E[n] = r (floor(r) + Bernoulli(frac(r)))."""
    f = np.floor(r)
    return (f + (rng.random(r.shape) < (r - f))).astype(np.int64)


def threshold_pulses(acc: np.ndarray, threshold: float, eps: float) -> np.ndarray:
    """Whole pulses of step ``eps`` where ``|acc| >= threshold``; their sum is taken out of the
    digital accumulator ``acc`` in place (the remainder is kept)."""
    n = np.where(np.abs(acc) >= threshold, np.trunc(acc / eps), 0.0).astype(np.int64)
    acc -= n * eps
    return n


def write_pulses(model, x: np.ndarray, n: np.ndarray, v_set: float, v_reset: float, t_pulse: float, *,
                 rng: np.random.Generator | None = None, energy: bool = True):
    """Apply ``n`` (signed int per device) standard pulses; returns (new x, energy J per device).

    Only devices with ``n != 0`` are pulsed (most requests round to zero pulses), unless the model
    carries per-device parameter arrays.
    """
    x, n = np.asarray(x, dtype=float), np.asarray(n)
    x_new, e = x.copy(), np.zeros(x.shape)
    sent = n != 0
    if not sent.any():
        return x_new, e
    if not uniform_params(model):  # per-device parameter arrays (shaped like x): pulse all, zero width where n == 0
        v = np.where(n > 0, v_set, np.where(n < 0, v_reset, 0.0))
        r = model.apply_pulse(x, v, np.abs(n) * t_pulse, rng=rng, energy=energy)
        return r.x, (np.where(sent, r.energy, 0.0) if energy else e)
    idx = np.flatnonzero(sent)  # flat indices; x_new and e are fresh C-contiguous arrays
    ns = n.reshape(-1)[idx]
    v = np.where(ns > 0, v_set, v_reset)
    r = model.apply_pulse(x.reshape(-1)[idx], v, np.abs(ns) * t_pulse, rng=rng, energy=energy)
    x_new.reshape(-1)[idx] = r.x
    if energy:
        e.reshape(-1)[idx] = r.energy
    return x_new, e


class StochasticPulses(StatelessPolicy):
    """Policy: ``n = stochastic_round(dg/ε)`` standard pulses (unbiased in expectation; the rng
    state is the device array's, checkpointed there)."""

    def __init__(self, eps: float, rng: np.random.Generator) -> None:
        self.eps, self.rng = eps, rng

    def __call__(self, dg: np.ndarray) -> np.ndarray:
        return stochastic_round(dg / self.eps, self.rng)


class ThresholdPulses:
    """Policy with a digital accumulator ``acc += dg`` (S): whole pulses where ``|acc| >= threshold``,
    the remainder kept (:func:`threshold_pulses`). ``key``: its checkpoint entry."""

    def __init__(self, eps: float, threshold: float, size: int, key: str) -> None:
        self.eps, self.threshold, self.key = eps, threshold, key
        self.acc = np.zeros(size)

    def __call__(self, dg: np.ndarray) -> np.ndarray:
        self.acc += dg
        return threshold_pulses(self.acc, self.threshold, self.eps)

    def describe(self) -> dict:
        return {}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {self.key: self.acc.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.acc = np.asarray(state[self.key], dtype=float)


class StandardPulses:
    """Writer of ``n`` (signed int per device) standard pulses (``v_set``/``v_reset``, ``t_pulse``)."""

    def __init__(self, array: DeviceArray, t_pulse: float) -> None:
        self.array, self.t_pulse = array, t_pulse

    def __call__(self, x, n):
        a = self.array
        if a.passive is not None:   # through the passive array: every line's partial voltages too
            n = np.asarray(n)
            r = a.passive.write(x, np.where(n > 0, a.cal.v_set, np.where(n < 0, a.cal.v_reset, 0.0)),
                                np.abs(n) * self.t_pulse)
            return r.x, (r.energy if a.cfg.energy else np.zeros(np.shape(x))), n
        x_new, e = write_pulses(a.model, x, n, a.cal.v_set, a.cal.v_reset, self.t_pulse, rng=a.rng,
                                energy=a.cfg.energy)
        a.add_write_time(float(np.max(np.abs(n), initial=0)) * self.t_pulse)
        return x_new, e, n

    def describe(self) -> dict:
        return {"t_pulse": self.t_pulse}


class ResidualDevices:
    """The residual devices P of residual learning (one per conductance, zero-shifted).

    The circuit sees ``G = clip(G_W + γ·(G_P - G_P⋄), g_min, g_max)``; the policy's pulses go to
    P, and every ``transfer_every`` steps ``transfer(β·(G_P - G_P⋄))`` pulses go to W.
    """

    def __init__(self, alg: AlgorithmConfig, x_p: np.ndarray, transfer, model) -> None:
        self.gamma, self.rate, self.every = alg.gamma, alg.transfer_rate, alg.transfer_every
        self.x_p, self.g_p_ref = x_p, model.conductance(x_p)
        self.transfer = transfer

    def p(self, model, trained: np.ndarray) -> np.ndarray:
        """P = G_P - G_P⋄ (S), zero where not ``trained`` (reference devices)."""
        return np.where(trained, model.conductance(self.x_p) - self.g_p_ref, 0.0)

    def mix(self, g_w: np.ndarray, array: DeviceArray, trained: np.ndarray) -> np.ndarray:
        """The conductances the circuit sees (S): clip(G_W + γ·P)."""
        return np.clip(g_w + self.gamma * self.p(array.model, trained), array.g_min, array.g_max)

    def step(self, t: int, n_p, writer, array: DeviceArray, trained: np.ndarray):
        """Write ``n_p`` to P; transfer to W on every ``every``-th step. Returns (energy J, pulses)."""
        self.x_p, e, n = writer(self.x_p, n_p)
        n = np.abs(n)
        if t % self.every == 0:
            n_w = np.where(trained, self.transfer(self.rate * self.p(array.model, trained)), 0)
            array.x, e_w, c_w = writer(array.x, n_w)
            e, n = e + e_w, n + np.abs(c_w)
        return e, n

    def describe(self) -> dict:
        return {"gamma": self.gamma, "transfer_rate": self.rate, "transfer_every": self.every}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"alg_xp": self.x_p.copy(), "alg_gpref": self.g_p_ref.copy(), **self.transfer.state_dict()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.x_p = np.asarray(state["alg_xp"], dtype=float)
        self.g_p_ref = np.asarray(state["alg_gpref"], dtype=float)
        self.transfer.load_state_dict(state)


# ---------------------------------------------------------------------- set-up
def _ref_index(shapes, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of (trained partner, reference device) of every pair."""
    plus, minus, off = [], [], 0
    for shape, spec in zip(shapes, pairs):
        if spec is not None:
            axis, ia, ib = spec
            idx = np.arange(int(np.prod(shape))).reshape(shape)
            plus.append(off + np.take(idx, ia, axis=axis).ravel())
            minus.append(off + np.take(idx, ib, axis=axis).ravel())
        off += int(np.prod(shape))
    if not plus:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(plus), np.concatenate(minus)


class _Pulsing:
    """What every standard-pulse algorithm shares: device array, pulse step ε, threshold,
    symmetric-point searches (counted in ``setup``) and the reference devices."""

    def __init__(self, cfg: DeviceConfig, alg: AlgorithmConfig, conductances, g_min: float, g_max: float,
                 pairs, rng: np.random.Generator, masks=None) -> None:
        self.cfg, self.alg = cfg, alg
        self.array = a = DeviceArray(cfg, conductances, g_min, g_max, rng, masks)
        kw = {"preset": cfg.preset} if cfg.preset else {}
        nominal = devices.create(cfg.model, **kw).with_range(1.0 / g_max, 1.0 / g_min)
        self.t_pulse = alg.t_pulse if alg.t_pulse is not None else nominal.demo.t_pulse
        self.curve = response_curve(nominal, a.cal.v_set, a.cal.v_reset, self.t_pulse)
        self.eps = self.curve.dg_min
        self.threshold = self.eps if alg.threshold is None else alg.threshold
        if self.threshold < self.eps * (1 - 1e-9):
            raise ConfigError(f"algorithm.threshold={alg.threshold:g} S is below one pulse step "
                              f"({self.eps:.4g} S of {cfg.model} at {a.cal.v_set:g} V / "
                              f"{a.cal.v_reset:g} V, {self.t_pulse:g} s)")
        self.setup = Setup()
        self.trained = np.ones(a.x.shape, dtype=bool)
        if alg.reference != "none":
            if pairs is None:
                raise ConfigError(f"algorithm.reference = {alg.reference!r} needs the pair index of the topology")
            if cfg.pairs == "split":
                raise ConfigError(f"device.pairs = 'split' with algorithm.reference = {alg.reference!r}: the "
                                  "reference device is never programmed; use device.pairs = 'device'")
            self._set_references(pairs)

    def symmetric_states(self, x0: np.ndarray) -> np.ndarray:
        """Program devices from states x0 to their symmetric point by alternating pulses."""
        if self.curve.x_sym is None:
            raise ConfigError(f"device {self.cfg.model} has no symmetric point (equal SET/RESET steps "
                              "everywhere); use algorithm.reference = 'fixed'")
        a = self.array
        sp = find_symmetric_point(a.model, x0, v_set=a.cal.v_set, v_reset=a.cal.v_reset, t_pulse=self.t_pulse,
                                  max_cycles=self.alg.sp_max_cycles, rng=a.rng)
        self.setup.energy += float(np.sum(sp.energy))
        self.setup.pulses += sp.n_pulses * x0.size
        logger.info("symmetric point search: %d pulses per device, converged=%s", sp.n_pulses, sp.converged)
        return sp.x

    def _set_references(self, pairs) -> None:
        """Hold the second device of each pair as a reference (mid-range or symmetric point); the
        trained partner starts at G_ref + (G⁺ - G⁻) of the initial draw."""
        a = self.array
        plus, minus = (a.positions(i) for i in _ref_index(a.shapes, pairs))
        both = (plus >= 0) & (minus >= 0)   # masked crossbars: pairs of two devices (a pair's cells share the mask)
        plus, minus = plus[both], minus[both]
        g0 = a.model.conductance(a.x)
        w0 = g0[plus] - g0[minus]
        if self.alg.reference == "fixed":
            x_ref = state_for_conductance(a.model, np.full(a.x.shape, 0.5 * (a.g_min + a.g_max)))
        else:
            x_ref = self.symmetric_states(a.x.copy())
        a.x[minus] = x_ref[minus]
        g_ref = a.model.conductance(a.x)
        target = g_ref.copy()
        target[plus] = np.clip(g_ref[plus] + w0, a.g_min, a.g_max)
        a.x[plus] = state_for_conductance(a.model, target)[plus]
        self.trained[minus] = False

    def build(self, optimizer: str, lr_scale, pairs, policy, residual=None) -> DeviceUpdate:
        request = Request(optimizer, self.array.shapes, lr_scale,
                          split=pairs if self.cfg.pairs == "split" else None, trained=self.trained,
                          index=self.array.index)
        info = {"algorithm": self.alg.name, "reference": self.alg.reference, "pulse_step_S": self.eps,
                "threshold_S": self.threshold, "g_sym_S": self.curve.g_sym, "x_sym": self.curve.x_sym,
                "init_energy_J": self.setup.energy, "init_pulses": self.setup.pulses}
        up = DeviceUpdate(self.array, request, policy, StandardPulses(self.array, self.t_pulse), residual=residual,
                          setup=self.setup, info=info)
        up.eps, up.curve = self.eps, self.curve   # the pulse step (S) and response curve, for studies
        return up


ALGORITHMS: Registry = Registry("update algorithm (algorithm.name)", ConfigError)
"""Registered update algorithms (``algorithm.name``): factories of composed
:class:`~ebana.updates.device_update.DeviceUpdate` objects."""


@ALGORITHMS.register("device")
def _device(cfg, alg, optimizer, conductances, g_min, g_max, *, lr_ref, pairs=None, rng=None, lr_scale=None,
        masks=None):
    """PWM/PAM of the optimiser's request (:func:`~ebana.updates.device_update.device_update`)."""
    return device_update(cfg, optimizer, conductances, g_min, g_max, lr_ref=lr_ref, pairs=pairs, rng=rng,
                         lr_scale=lr_scale, masks=masks)


@ALGORITHMS.register("analog_sgd")
def _analog_sgd(cfg, alg, optimizer, conductances, g_min, g_max, *, lr_ref, pairs=None, rng=None, lr_scale=None,
        masks=None):
    """Stochastically rounded standard pulses to the weight devices."""
    s = _Pulsing(cfg, alg, conductances, g_min, g_max, pairs, _rng(rng), masks)
    return s.build(optimizer, lr_scale, pairs, StochasticPulses(s.eps, s.array.rng))


@ALGORITHMS.register("mixed_precision")
def _mixed_precision(cfg, alg, optimizer, conductances, g_min, g_max, *, lr_ref, pairs=None, rng=None,
                     lr_scale=None, masks=None):
    """Digital accumulator χ; whole pulses once past the threshold (remainder kept)."""
    s = _Pulsing(cfg, alg, conductances, g_min, g_max, pairs, _rng(rng), masks)
    return s.build(optimizer, lr_scale, pairs, ThresholdPulses(s.eps, s.threshold, s.array.x.size, "alg_chi"))


def _residual_update(cfg, alg, optimizer, conductances, g_min, g_max, pairs, rng, lr_scale, buffered: bool,
                     masks=None):
    s = _Pulsing(cfg, alg, conductances, g_min, g_max, pairs, _rng(rng), masks)
    x_p = s.symmetric_states(np.full(s.array.x.shape, 0.5))
    transfer = (ThresholdPulses(s.eps, s.threshold, x_p.size, "alg_h") if buffered
                else StochasticPulses(s.eps, s.array.rng))
    res = ResidualDevices(alg, x_p, transfer, s.array.model)
    return s.build(optimizer, lr_scale, pairs, StochasticPulses(s.eps, s.array.rng), residual=res)


@ALGORITHMS.register("residual")
def _residual(cfg, alg, optimizer, conductances, g_min, g_max, *, lr_ref, pairs=None, rng=None, lr_scale=None,
        masks=None):
    """Residual learning: W and zero-shifted P devices, gradient at W + γP, transfer β·P."""
    return _residual_update(cfg, alg, optimizer, conductances, g_min, g_max, pairs, rng, lr_scale, False, masks)


@ALGORITHMS.register("residual_v2")
def _residual_v2(cfg, alg, optimizer, conductances, g_min, g_max, *, lr_ref, pairs=None, rng=None, lr_scale=None,
        masks=None):
    """Residual learning v2: digital buffer H += β·P, threshold transfer of whole pulses."""
    return _residual_update(cfg, alg, optimizer, conductances, g_min, g_max, pairs, rng, lr_scale, True, masks)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(0) if rng is None else rng


def create_algorithm(cfg: DeviceConfig, alg: AlgorithmConfig, optimizer: str,
                     conductances: Sequence[np.ndarray], g_min: float, g_max: float, **kw) -> DeviceUpdate:
    """The updater of ``alg.name`` (``device``: PWM/PAM of the request), composed of its parts.

    ``kw``: ``lr_ref`` (S, PAM's reference request), ``pairs`` (:func:`pair_index`), ``rng``,
    ``lr_scale`` (per crossbar), ``masks`` (per crossbar, where it has devices; None: every cell)."""
    if cfg.model is None:
        raise ConfigError(f"algorithm.name = {alg.name!r} needs a device model (device.model / --device)")
    up = ALGORITHMS.get(alg.name)(cfg, alg, optimizer, conductances, g_min, g_max, **kw)
    logger.info("device %s (%s), algorithm %s: %s", cfg.model, cfg.scheme, alg.name, up.describe())
    return up
