"""Analog training algorithms on EqProp gradients: analog SGD, mixed precision, residual learning.

Public API: :data:`ALGORITHMS`, :func:`create_algorithm`, :class:`AnalogSGD`,
:class:`MixedPrecision`, :class:`Residual`, :class:`ResidualV2`, :func:`write_pulses`.

All are :class:`~ebana.updates.device_update.DeviceUpdate` subclasses (so the training loop
treats them as device runs: states in checkpoints, write energy and pulse counts per epoch),
configured by the ``[algorithm]`` section (:class:`~ebana.config.AlgorithmConfig`) next to
``[device]``. Seeds 001 (Wu et al. 2025) and 004; devices.md §8.

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
from ebana.updates.device_update import SATURATION_TOL, DeviceUpdate, UpdateReport
from ebana.updates.pulses import state_for_conductance

__all__ = ["ALGORITHMS", "create_algorithm", "AnalogSGD", "MixedPrecision", "Residual", "ResidualV2",
           "write_pulses", "stochastic_round", "threshold_pulses"]

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
    if not _uniform(model):  # per-device parameter arrays (shaped like x): pulse all, zero width where n == 0
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


def _uniform(model) -> bool:
    """True when every device shares the model's parameters (no device-to-device arrays)."""
    return all(np.ndim(getattr(model.params, f)) == 0 for f in (*model.d2d_fields, "range_r_on", "range_r_off"))


ALGORITHMS: Registry = Registry("update algorithm (algorithm.name)", ConfigError)
"""Registered update algorithms (``algorithm.name``); ``device`` is :class:`DeviceUpdate` (PWM/PAM
of the optimiser's request)."""

class AnalogSGD(DeviceUpdate):
    """Analog SGD: stochastically rounded standard pulses to the weight devices."""

    def __init__(self, cfg: DeviceConfig, alg: AlgorithmConfig, optimizer: str,
                 conductances: Sequence[np.ndarray], g_min: float, g_max: float, *, lr_ref: float,
                 pairs: list | None = None, rng: np.random.Generator | None = None,
                 lr_scale: Sequence[float] | None = None) -> None:
        self.alg = alg
        super().__init__(cfg, optimizer, conductances, g_min, g_max, lr_ref=lr_ref, pairs=pairs, rng=rng,
                         lr_scale=lr_scale)
        self.alg = alg
        self.g_min, self.g_max = g_min, g_max
        kw = {"preset": cfg.preset} if cfg.preset else {}
        nominal = devices.create(cfg.model, **kw).with_range(1.0 / g_max, 1.0 / g_min)
        self.t_pulse = alg.t_pulse if alg.t_pulse is not None else nominal.demo.t_pulse
        self.curve = response_curve(nominal, self.cal.v_set, self.cal.v_reset, self.t_pulse)
        self.eps = self.curve.dg_min
        self.threshold = self.eps if alg.threshold is None else alg.threshold
        if self.threshold < self.eps * (1 - 1e-9):
            raise ConfigError(f"algorithm.threshold={alg.threshold:g} S is below one pulse step "
                              f"({self.eps:.4g} S of {cfg.model} at {self.cal.v_set:g} V / "
                              f"{self.cal.v_reset:g} V, {self.t_pulse:g} s)")
        self.init_energy, self.init_pulses = 0.0, 0
        self.trained = np.ones(self.x.shape, dtype=bool)
        if alg.reference != "none":
            self._set_references(conductances)
        self.t_step = 0

    # ------------------------------------------------------------------ set-up
    def _ref_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of (trained partner, reference device) of every pair."""
        if self.pairs is None:
            raise ConfigError(f"algorithm.reference = {self.alg.reference!r} needs the pair index of the topology")
        plus, minus, off = [], [], 0
        for shape, spec in zip(self.shapes, self.pairs):
            if spec is not None:
                axis, ia, ib = spec
                idx = np.arange(int(np.prod(shape))).reshape(shape)
                plus.append(off + np.take(idx, ia, axis=axis).ravel())
                minus.append(off + np.take(idx, ib, axis=axis).ravel())
            off += int(np.prod(shape))
        if not plus:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(plus), np.concatenate(minus)

    def symmetric_states(self, x0: np.ndarray) -> np.ndarray:
        """Program devices from states x0 to their symmetric point by alternating pulses."""
        if self.curve.x_sym is None:
            raise ConfigError(f"device {self.cfg.model} has no symmetric point (equal SET/RESET steps "
                              "everywhere); use algorithm.reference = 'fixed'")
        sp = find_symmetric_point(self.model, x0, v_set=self.cal.v_set, v_reset=self.cal.v_reset,
                                  t_pulse=self.t_pulse, max_cycles=self.alg.sp_max_cycles, rng=self.rng)
        self.init_energy += float(np.sum(sp.energy))
        self.init_pulses += sp.n_pulses * x0.size
        logger.info("symmetric point search: %d pulses per device, converged=%s", sp.n_pulses, sp.converged)
        return sp.x

    def _set_references(self, conductances) -> None:
        plus, minus = self._ref_index()
        g0 = self.model.conductance(self.x)
        w0 = g0[plus] - g0[minus]
        if self.alg.reference == "fixed":
            x_ref = state_for_conductance(self.model, np.full(self.x.shape, 0.5 * (self.g_min + self.g_max)))
        else:
            x_ref = self.symmetric_states(self.x.copy())
        self.x[minus] = x_ref[minus]
        g_ref = self.model.conductance(self.x)
        target = np.clip(g_ref[plus] + w0, self.g_min, self.g_max)
        self.x[plus] = self._states_at(target, plus)
        self.trained[minus] = False
        self.g_ref = g_ref[minus]

    def _states_at(self, g: np.ndarray, idx: np.ndarray) -> np.ndarray:
        full = self.model.conductance(self.x).copy()
        full[idx] = g
        return state_for_conductance(self.model, full)[idx]

    # ------------------------------------------------------------------ steps
    def requested(self, grads, lr: float) -> np.ndarray:
        """Flat ideal change dg = -lr·direction(grad) (S); zero on reference devices."""
        req = []
        for k, d in enumerate(grads):
            direction = self.opt.direction(k, d)
            factor = -lr * self.lr_scale[k] * self.opt.scale()  # as IdealUpdate.step (Adam bias correction)
            req.append(np.multiply(direction, factor, dtype=np.float64).ravel())
        self.opt.tick()
        return np.where(self.trained, np.concatenate(req), 0.0)

    def pulses_for(self, dg: np.ndarray) -> np.ndarray:
        return stochastic_round(dg / self.eps, self.rng)

    def _write(self, x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return write_pulses(self.model, x, n, self.cal.v_set, self.cal.v_reset, self.t_pulse, rng=self.rng,
                            energy=self.cfg.energy)

    def _report(self, dg: np.ndarray, g_old: np.ndarray, g_new: np.ndarray, n: np.ndarray,
                e: np.ndarray) -> None:
        achieved = g_new - g_old
        lo, hi = self.model.bounds
        e_tot = float(e.sum()) + (self.init_energy if self.t_step == 1 else 0.0)
        n_tot = int(np.abs(n).sum()) + (self.init_pulses if self.t_step == 1 else 0)
        self.report = UpdateReport(
            n_devices=int(dg.size), dg_requested=float(np.abs(dg).sum()),
            dg_achieved=float(np.abs(achieved).sum()), dg_error=float(np.abs(achieved - dg).sum()),
            n_pulses=n_tot,
            n_saturated=int(np.count_nonzero((self.x <= lo + SATURATION_TOL) | (self.x >= hi - SATURATION_TOL))),
            e_write=e_tot if self.cfg.energy else float("nan"))

    def step(self, grads, lr):
        self.t_step += 1
        dg = self.requested(grads, lr)
        g_old = np.concatenate([np.ravel(g) for g in self.conductances()])
        n = self.pulses_for(dg)
        self.x, e = self._write(self.x, n)
        out = self.conductances()
        self._report(dg, g_old, np.concatenate([g.ravel() for g in out]), n, e)
        return out

    def describe(self) -> dict:
        d = super().describe()
        d.update(algorithm=self.alg.name, reference=self.alg.reference, t_pulse=self.t_pulse,
                 pulse_step_S=self.eps, threshold_S=self.threshold,
                 g_sym_S=self.curve.g_sym, x_sym=self.curve.x_sym, init_energy_J=self.init_energy,
                 init_pulses=self.init_pulses)
        return d

    def state_dict(self):
        d = super().state_dict()
        d["alg_t"] = np.array(self.t_step)
        d["alg_trained"] = self.trained.copy()
        return d

    def load_state_dict(self, state, conductances=None):
        super().load_state_dict(state, conductances)
        self.t_step = int(state["alg_t"])
        self.trained = np.asarray(state["alg_trained"], dtype=bool)


class MixedPrecision(AnalogSGD):
    """Digital accumulator; whole pulses once past the threshold (remainder kept)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.chi = np.zeros(self.x.shape)

    def pulses_for(self, dg):
        self.chi += dg
        return threshold_pulses(self.chi, self.threshold, self.eps)

    def state_dict(self):
        return {**super().state_dict(), "alg_chi": self.chi.copy()}

    def load_state_dict(self, state, conductances=None):
        super().load_state_dict(state, conductances)
        self.chi = np.asarray(state["alg_chi"], dtype=float)


class Residual(AnalogSGD):
    """Residual learning: W and zero-shifted P devices, gradient at W + γP, transfer β·P."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.x_p = self.symmetric_states(np.full(self.x.shape, 0.5))
        self.g_p_ref = self.model.conductance(self.x_p)

    def residual(self) -> np.ndarray:
        """P = G_P - G_P⋄ (S), zero on reference devices."""
        return np.where(self.trained, self.model.conductance(self.x_p) - self.g_p_ref, 0.0)

    def conductances(self) -> list[np.ndarray]:
        g = np.clip(self.model.conductance(self.x) + self.alg.gamma * self.residual(), self.g_min, self.g_max)
        return [a.reshape(s) for a, s in zip(np.split(g, np.cumsum(self.sizes)[:-1]), self.shapes)]

    def transfer_pulses(self, p: np.ndarray) -> np.ndarray:
        return stochastic_round(self.alg.transfer_rate * p / self.eps, self.rng)

    def step(self, grads, lr):
        self.t_step += 1
        dg = self.requested(grads, lr)
        g_old = np.concatenate([np.ravel(g) for g in self.conductances()])
        n_p = self.pulses_for(dg)  # analog SGD on P
        self.x_p, e = self._write(self.x_p, n_p)
        n_w = np.zeros_like(n_p)
        if self.t_step % self.alg.transfer_every == 0:
            n_w = np.where(self.trained, self.transfer_pulses(self.residual()), 0)
            self.x, e_w = self._write(self.x, n_w)
            e = e + e_w
        out = self.conductances()
        self._report(dg, g_old, np.concatenate([g.ravel() for g in out]), np.abs(n_p) + np.abs(n_w), e)
        return out

    def describe(self) -> dict:
        return {**super().describe(), "gamma": self.alg.gamma, "transfer_rate": self.alg.transfer_rate,
                "transfer_every": self.alg.transfer_every}

    def state_dict(self):
        return {**super().state_dict(), "alg_xp": self.x_p.copy(), "alg_gpref": self.g_p_ref.copy()}

    def load_state_dict(self, state, conductances=None):
        super().load_state_dict(state, conductances)
        self.x_p = np.asarray(state["alg_xp"], dtype=float)
        self.g_p_ref = np.asarray(state["alg_gpref"], dtype=float)


class ResidualV2(Residual):
    """Residual learning v2: digital buffer H += β·P, threshold transfer of whole pulses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h = np.zeros(self.x.shape)

    def transfer_pulses(self, p):
        self.h += self.alg.transfer_rate * p
        return threshold_pulses(self.h, self.threshold, self.eps)

    def state_dict(self):
        return {**super().state_dict(), "alg_h": self.h.copy()}

    def load_state_dict(self, state, conductances=None):
        super().load_state_dict(state, conductances)
        self.h = np.asarray(state["alg_h"], dtype=float)


for _name, _cls in (("device", DeviceUpdate), ("analog_sgd", AnalogSGD), ("mixed_precision", MixedPrecision),
                    ("residual", Residual), ("residual_v2", ResidualV2)):
    ALGORITHMS.register(_name)(_cls)


def create_algorithm(cfg: DeviceConfig, alg: AlgorithmConfig, optimizer: str,
                     conductances: Sequence[np.ndarray], g_min: float, g_max: float, **kw) -> DeviceUpdate:
    """The updater of ``alg.name`` (``device``: :class:`DeviceUpdate`, PWM/PAM of the request)."""
    if cfg.model is None:
        raise ConfigError(f"algorithm.name = {alg.name!r} needs a device model (device.model / --device)")
    cls = ALGORITHMS.get(alg.name)
    if cls is DeviceUpdate:
        up = DeviceUpdate(cfg, optimizer, conductances, g_min, g_max, **kw)
    else:
        up = cls(cfg, alg, optimizer, conductances, g_min, g_max, **kw)
    logger.info("device %s (%s), algorithm %s: %s", cfg.model, cfg.scheme, alg.name, up.describe())
    return up
