"""Training through memristors: the :class:`DeviceUpdate` updater.

Public API: :class:`DeviceUpdate`, :class:`UpdateReport`, :func:`pair_index`,
:func:`check_device_config`.

**Devices.** Every crossbar conductance of the circuit is one physical device of the chosen
model, read-mapped (``model.with_range(1/g_max, 1/g_min)``, devices.md §7) to the circuit's
programmable range, so x = 1 is g_max and x = 0 is g_min. The updater owns the device states
x; they are frozen during the free and nudged phases (the circuit sees ``G = model.conductance(x)``
as fixed conductances), and only the programming pulses change them. Initial states are chosen
so the devices start at the circuit's initial conductances (same draw as an ideal run).

**Requested change.** Exactly the ideal update's step: ``dg = -lr * scale * direction(grad)``
with the configured optimiser (Adam by default), so the ideal linear device programmed by PWM
reproduces the ideal trajectory. The pulses then realise ``dg`` through the device physics
(:func:`ebana.updates.pulses.program`); saturation, nonlinearity, dead zones and overshoot
show up as achieved ≠ requested.

**Signed weights and pairs.** In ebana's circuit each weight's sign comes from duplication:
every input feature drives an x+ and an x- wordline (rows i and i + n_features of a crossbar
leaving the input layer) and every class has a V+ and a V- output node (columns 2c, 2c + 1 of a
crossbar into the output layer). Such a pair (G⁺, G⁻) realises W = G⁺ - G⁻.

* ``pairs = "device"`` (default, the EBANA rule of seed 000): every device receives its own
  EqProp change from its own voltage drops. The two changes of a pair are not opposite; their
  sum is a real gradient of the common-mode conductance, so nothing is discarded.
* ``pairs = "split"`` (hardware that programs weights): with ΔW = dg⁺ - dg⁻ the pair gets
  +ΔW/2 and -ΔW/2, which keeps G⁺ + G⁻ unchanged. Rows pair for crossbars leaving the input
  layer, columns for crossbars into the output layer (rows first when both hold); bias rows
  and hidden-to-hidden crossbars have no partner and keep the device rule.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from ebana import devices
from ebana.config import DeviceConfig
from ebana.errors import ConfigError, DeviceError
from ebana.topology import Topology
from ebana.updates.ideal import OPTIMIZERS
from ebana.updates.pulses import calibrate, pam_width, program, state_for_conductance

__all__ = ["DeviceTally", "DeviceUpdate", "UpdateReport", "pair_index", "check_device_config"]

logger = logging.getLogger(__name__)

SATURATION_TOL = 1e-6
"""A device within this distance (–) of a state bound counts as saturated."""


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What one update did to the whole network (sums over all devices)."""

    n_devices: int
    dg_requested: float  # S, sum |requested ΔG|
    dg_achieved: float   # S, sum |achieved ΔG|
    dg_error: float      # S, sum |achieved - requested|
    n_pulses: int        # pulses sent
    n_saturated: int     # devices at a state bound after the update
    e_write: float       # J, write energy of all pulses

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DeviceTally:
    """Sums of :class:`UpdateReport` over an epoch (what the per-epoch device metrics are made of)."""

    e_write: float = 0.0     # J
    pulses: int = 0
    requested: float = 0.0   # S, sum |requested ΔG|
    achieved: float = 0.0    # S, sum |achieved ΔG|
    error: float = 0.0       # S, sum |achieved - requested|
    saturated: float | None = None   # fraction of devices at a bound after the last update

    def add(self, rep: UpdateReport) -> None:
        self.e_write += rep.e_write
        self.pulses += rep.n_pulses
        self.requested += rep.dg_requested
        self.achieved += rep.dg_achieved
        self.error += rep.dg_error
        self.saturated = rep.n_saturated / max(rep.n_devices, 1)

    def metrics(self) -> dict:
        """``e_write``, ``pulses``, ``saturated``, ``dg_ratio`` = achieved/requested, ``dg_error`` =
        error/requested (NaN when nothing was requested)."""
        req = self.requested if self.requested > 0 else float("nan")
        return {"e_write": self.e_write, "pulses": self.pulses, "saturated": self.saturated,
                "dg_ratio": self.achieved / req, "dg_error": self.error / req}


def check_device_config(cfg: DeviceConfig) -> None:
    """Raise a one-line error when the model (or preset) does not exist; no-op without a model."""
    if cfg.model is None:
        return
    try:
        cls = devices.get(cfg.model)
    except DeviceError as err:
        raise ConfigError(f"device.model: {err}") from None
    if cfg.preset is not None and cfg.preset not in cls.presets:
        known = ", ".join(sorted(cls.presets)) or "none"
        raise ConfigError(f"device.preset {cfg.preset!r} is not a preset of {cfg.model}; known: {known}")


def pair_index(topology: Topology) -> list[tuple[int, np.ndarray, np.ndarray] | None]:
    """Per crossbar: (axis, indices of the + devices, indices of their - partners), or None."""
    out: list[tuple[int, np.ndarray, np.ndarray] | None] = []
    for c in topology.crossbars:
        if c.src == 0:
            n = topology.n_inputs
            out.append((0, np.arange(n), np.arange(n, 2 * n)))
        elif c.dst == topology.output_layer:
            k = topology.n_classes
            out.append((1, np.arange(0, 2 * k, 2), np.arange(1, 2 * k, 2)))
        else:
            out.append(None)
    return out


def _split_pairs(dg: np.ndarray, spec: tuple[int, np.ndarray, np.ndarray]) -> np.ndarray:
    axis, ia, ib = spec
    out = dg.copy()
    a, b = np.take(dg, ia, axis=axis), np.take(dg, ib, axis=axis)
    half = 0.5 * (a - b)
    if axis == 0:
        out[ia, :], out[ib, :] = half, -half
    else:
        out[:, ia], out[:, ib] = half, -half
    return out


class DeviceUpdate:
    """Updater that programs device states with pulses (implements ``Updater``).

    Parameters
    ----------
    cfg : the ``[device]`` section (model, scheme, amplitudes, widths...).
    optimizer : optimiser of the requested change (``sgd`` | ``momentum`` | ``adam``).
    conductances : initial conductances (S), one array per crossbar.
    g_min, g_max : programmable range (S) = the device's [1/R_OFF, 1/R_ON].
    lr_ref : reference request (S) of PAM when ``cfg.pam_dg_ref`` is None (the run's lr).
    pairs : :func:`pair_index` of the topology (needed for ``pairs = "split"``).
    rng : generator for device variability and cycle-to-cycle noise.
    """

    def __init__(self, cfg: DeviceConfig, optimizer: str, conductances: Sequence[np.ndarray],
                 g_min: float, g_max: float, *, lr_ref: float,
                 pairs: list | None = None, rng: np.random.Generator | None = None,
                 lr_scale: Sequence[float] | None = None) -> None:
        check_device_config(cfg)
        self.cfg = cfg
        self.shapes = [np.shape(g) for g in conductances]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.opt = OPTIMIZERS.get(optimizer)(self.shapes)
        self.lr_scale = [1.0] * len(self.shapes) if lr_scale is None else list(lr_scale)
        self.rng = np.random.default_rng(0) if rng is None else rng
        kw = {"preset": cfg.preset} if cfg.preset else {}
        nominal = devices.create(cfg.model, **kw)
        if cfg.c2c:
            nominal = nominal.replace(c2c=cfg.c2c)
        nominal = nominal.with_range(1.0 / g_max, 1.0 / g_min)
        v_set = cfg.v_set if cfg.v_set is not None else nominal.demo.v_set
        v_reset = cfg.v_reset if cfg.v_reset is not None else nominal.demo.v_reset
        self.cal = calibrate(nominal, v_set, v_reset)
        self.model = nominal.with_variability(sum(self.sizes), self.rng, cfg.d2d) if cfg.d2d else nominal
        self.dg_ref = cfg.pam_dg_ref if cfg.pam_dg_ref is not None else lr_ref
        if cfg.pairs == "split" and pairs is None:
            raise ConfigError("device.pairs = 'split' needs the pair index of the topology")
        self.pairs = pairs
        self.x = state_for_conductance(self.model, np.concatenate([np.ravel(g) for g in conductances]))
        self.report: UpdateReport | None = None

    # ------------------------------------------------------------------ views
    def conductances(self) -> list[np.ndarray]:
        """Current device conductances (S), one array per crossbar."""
        g = self.model.conductance(self.x)
        return [a.reshape(s) for a, s in zip(np.split(g, np.cumsum(self.sizes)[:-1]), self.shapes)]

    def describe(self) -> dict:
        """Calibration in pulse terms (for run.json)."""
        c = self.cal
        d = {"model": self.cfg.model, "scheme": self.cfg.scheme, "v_set": c.v_set, "v_reset": c.v_reset,
             "rate_set_S_per_s": c.rate_set, "rate_reset_S_per_s": c.rate_reset,
             "t_per_siemens_set": c.t_per_siemens[0], "t_per_siemens_reset": c.t_per_siemens[1],
             "r_on": float(np.mean(self.model.r_on)), "r_off": float(np.mean(self.model.r_off)),
             "kind": self.model.kind}
        if self.cfg.scheme == "pam":
            w = pam_width(c, self.dg_ref)
            d.update(pam_dg_ref=self.dg_ref, t_pam_set=w[0], t_pam_reset=w[1], pam_pulses=self.cfg.pam_pulses)
        return d

    # ------------------------------------------------------------------ Updater
    def step(self, grads, lr):
        """Request the ideal step, program it with pulses, return the devices' conductances (S)."""
        req = []
        for k, d in enumerate(grads):
            factor = -lr * self.lr_scale[k] * self.opt.scale()     # as IdealUpdate.step
            dg = np.multiply(self.opt.direction(k, d), factor, dtype=np.float64)
            if self.cfg.pairs == "split" and self.pairs[k] is not None:
                dg = _split_pairs(dg, self.pairs[k])
            req.append(dg.ravel())
        self.opt.tick()
        dg = np.concatenate(req)
        g_old = self.model.conductance(self.x)
        c = self.cfg
        res = program(self.model, self.x, dg, self.cal, scheme=c.scheme, t_clock=c.t_clock, t_min=c.t_min,
                      t_max=c.t_max, pam_pulses=c.pam_pulses, dg_ref=self.dg_ref, v_max=c.v_max,
                      pam_levels=c.pam_levels, energy=c.energy, rng=self.rng)
        self.x = res.x
        out = self.conductances()
        achieved = np.concatenate([g.ravel() for g in out]) - g_old
        lo, hi = self.model.bounds
        self.report = UpdateReport(
            n_devices=int(dg.size), dg_requested=float(np.abs(dg).sum()),
            dg_achieved=float(np.abs(achieved).sum()), dg_error=float(np.abs(achieved - dg).sum()),
            n_pulses=int(res.n_pulses.sum()),
            n_saturated=int(np.count_nonzero((self.x <= lo + SATURATION_TOL) | (self.x >= hi - SATURATION_TOL))),
            e_write=float(res.energy.sum()) if c.energy else float("nan"))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        d = dict(self.opt.state_dict())
        d["dev_x"] = self.x.copy()
        d["dev_rng"] = np.array(json.dumps(self.rng.bit_generator.state))
        return d

    def load_state_dict(self, state: dict[str, np.ndarray], conductances=None) -> None:
        """Restore optimiser and device states (``conductances`` is not needed: they follow
        from the device states)."""
        self.opt.load_state_dict(state)
        x = np.asarray(state["dev_x"], dtype=float)
        if x.shape != self.x.shape:
            raise ConfigError(f"device states in the checkpoint have shape {x.shape}, expected {self.x.shape}")
        self.x = x
        self.rng.bit_generator.state = json.loads(str(state["dev_rng"]))
