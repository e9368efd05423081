"""Training through memristors: the :class:`DeviceUpdate` updater and its parts.

Public API: :class:`DeviceUpdate`, :class:`DeviceArray`, :class:`Request`, :class:`Programmer`,
:func:`device_update`, :func:`device_index`, :class:`UpdateReport`, :class:`DeviceTally`, :func:`pair_index`,
:func:`check_device_config`.

**Composition.** Every device algorithm is one :class:`DeviceUpdate` made of four parts, each
a small object with its own checkpoint state:

    gradients --Request--> requested ΔG (S) --policy--> what to write --writer--> new device states
                                                                        (DeviceArray)

* :class:`Request`: the optimiser's ideal step (below), optionally split over pairs;
* a *pulse policy*: the request itself for PWM/PAM (:class:`Direct`), or whole standard pulses
  (stochastic rounding, threshold accumulators: :mod:`ebana.updates.algorithms`);
* a *writer*: PWM/PAM programming (:class:`Programmer`) or n standard pulses;
* :class:`DeviceArray`: the device model and the states x of every conductance.
Residual learning adds a second device per conductance (``residual`` part).

**Masked crossbars** (``[graph]`` connectivity, ``local`` layers): a cell outside its crossbar's
mask holds no device. :class:`DeviceArray` keeps states only for the mask cells (``index``, their
flat positions among all cells), so an absent cell is never programmed, disturbed or charged
energy, and the circuit sees exactly 0 S there; requests are gathered onto the devices.

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
from typing import Any, Protocol, Sequence

import numpy as np

from ebana import devices
from ebana.config import DeviceConfig
from ebana.errors import ConfigError, DeviceError
from ebana.topology import Topology
from ebana.updates.array_schemes import HALF_SELECT, PassiveArray, WriteStats, check_voltage_dependence, protected
from ebana.updates.ideal import OPTIMIZERS
from ebana.updates.pulses import calibrate, pam_width, program, state_for_conductance

__all__ = ["DeviceTally", "DeviceUpdate", "DeviceArray", "Request", "StatelessPolicy", "Direct", "Programmer",
           "Setup", "device_update", "device_index", "UpdateReport", "pair_index", "check_device_config", "split_pairs",
           "cosine"]

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
    t_write: float = 0.0  # s, write time of the update (device.array_scheme; crossbars in parallel)
    disturb: float = 0.0  # –, sum over devices of |Δx| while not selected (0 with selectors)
    dg_cos: float = float("nan")  # –, cosine of requested and achieved ΔG (NaN if either is 0)

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
    updates: int = 0         # updates in the epoch
    t_write: float = 0.0     # s, sum of the updates' write times
    disturb: float = 0.0     # –, sum over updates of the mean |Δx| per device while not selected
    cos_sum: float = 0.0     # –, sum of the finite per-update cosines
    cos_n: int = 0           # updates with a finite cosine

    def add(self, rep: UpdateReport) -> None:
        self.e_write += rep.e_write
        self.pulses += rep.n_pulses
        self.requested += rep.dg_requested
        self.achieved += rep.dg_achieved
        self.error += rep.dg_error
        self.saturated = rep.n_saturated / max(rep.n_devices, 1)
        self.updates += 1
        self.t_write += rep.t_write
        self.disturb += rep.disturb / max(rep.n_devices, 1)
        if np.isfinite(rep.dg_cos):
            self.cos_sum += rep.dg_cos
            self.cos_n += 1

    def metrics(self) -> dict:
        """``e_write``, ``pulses``, ``saturated``, ``dg_ratio`` = achieved/requested, ``dg_error`` =
        error/requested (NaN when nothing was requested); ``t_write`` (s, the epoch's write time),
        ``t_update`` (s, per update), ``disturb`` (–, mean |Δx| per device and update while not
        selected), ``dg_cos`` (–, mean cosine of requested and achieved ΔG per update)."""
        req = self.requested if self.requested > 0 else float("nan")
        n = self.updates if self.updates else float("nan")
        return {"e_write": self.e_write, "pulses": self.pulses, "saturated": self.saturated,
                "dg_ratio": self.achieved / req, "dg_error": self.error / req,
                "t_write": self.t_write, "t_update": self.t_write / n, "disturb": self.disturb / n,
                "dg_cos": self.cos_sum / self.cos_n if self.cos_n else float("nan")}


def check_device_config(cfg: DeviceConfig) -> None:
    """Raise a one-line error when the model (or preset) does not exist; no-op without a model.

    A half-select ``array_scheme`` also needs a model whose drift depends on the voltage
    (:func:`~ebana.updates.array_schemes.check_voltage_dependence` at the programming amplitudes)."""
    if cfg.model is None:
        return
    try:
        cls = devices.get(cfg.model)
    except DeviceError as err:
        raise ConfigError(f"device.model: {err}") from None
    if cfg.preset is not None and cfg.preset not in cls.presets:
        known = ", ".join(sorted(cls.presets)) or "none"
        raise ConfigError(f"device.preset {cfg.preset!r} is not a preset of {cfg.model}; known: {known}")
    if cfg.array_scheme in HALF_SELECT:
        model = devices.create(cfg.model, **({"preset": cfg.preset} if cfg.preset else {}))
        v_set = cfg.v_set if cfg.v_set is not None else model.demo.v_set
        v_reset = cfg.v_reset if cfg.v_reset is not None else model.demo.v_reset
        check_voltage_dependence(model, cfg.array_scheme, v_set, v_reset, cfg.model)


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


def split_pairs(dg: np.ndarray, spec: tuple[int, np.ndarray, np.ndarray]) -> np.ndarray:
    """``pairs = "split"``: the pair (+, -) gets (+ΔW/2, -ΔW/2) of ΔW = dg⁺ - dg⁻ (G⁺ + G⁻ kept)."""
    axis, ia, ib = spec
    out = dg.copy()
    a, b = np.take(dg, ia, axis=axis), np.take(dg, ib, axis=axis)
    half = 0.5 * (a - b)
    if axis == 0:
        out[ia, :], out[ib, :] = half, -half
    else:
        out[:, ia], out[:, ib] = half, -half
    return out


class DeviceArray:
    """The network's devices: one state x (–) per crossbar conductance, in one flat vector.

    The nominal model (``device`` section, with cycle-to-cycle noise) is read-mapped to the
    circuit's [g_min, g_max] (S); with ``d2d`` every device draws its own parameters (fixed for
    the run). The states start at the given conductances.

    ``masks``: per crossbar, where it has devices (bool, its shape; None: every cell). Only mask
    cells hold a device: ``x`` has one state per device, ``index`` their flat cell positions
    (None: every cell is a device), and :meth:`split` gives 0 S at every other cell.
    """

    def __init__(self, cfg: DeviceConfig, conductances: Sequence[np.ndarray], g_min: float, g_max: float,
                 rng: np.random.Generator, masks: Sequence[np.ndarray | None] | None = None) -> None:
        check_device_config(cfg)
        self.cfg, self.rng = cfg, rng
        self.g_min, self.g_max = g_min, g_max
        self.shapes = [np.shape(g) for g in conductances]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n_cells = sum(self.sizes)
        self.index = device_index(self.shapes, masks)
        kw = {"preset": cfg.preset} if cfg.preset else {}
        nominal = devices.create(cfg.model, **kw)
        if cfg.c2c:
            nominal = nominal.replace(c2c=cfg.c2c)
        nominal = nominal.with_range(1.0 / g_max, 1.0 / g_min)
        v_set = cfg.v_set if cfg.v_set is not None else nominal.demo.v_set
        v_reset = cfg.v_reset if cfg.v_reset is not None else nominal.demo.v_reset
        self.cal = calibrate(nominal, v_set, v_reset)
        g0 = self.gather(np.concatenate([np.ravel(g) for g in conductances]))
        self.model = nominal.with_variability(g0.size, rng, cfg.d2d) if cfg.d2d else nominal
        self.x = state_for_conductance(self.model, g0)
        self.passive: PassiveArray | None = None
        self.protected: bool | None = None
        if cfg.array_scheme in HALF_SELECT:
            self.protected = protected(nominal, cfg.array_scheme, v_set, v_reset)
            self.passive = PassiveArray(cfg.array_scheme, self.shapes, self.model, v_set=self.cal.v_set,
                                        v_reset=self.cal.v_reset, rng=rng, energy=cfg.energy, bl=cfg.array_bl,
                                        rank=cfg.array_rank, index=self.index)
        self._t_write = 0.0

    def add_write_time(self, t: float) -> None:
        """Count a write of ``t`` seconds made with selectors (every device at once)."""
        self._t_write += t

    def take_stats(self) -> WriteStats:
        """Write time (s) and disturb (–) of the writes since the last call."""
        out = WriteStats(t_write=self._t_write)
        self._t_write = 0.0
        if self.passive is not None:
            p = self.passive.take_stats()
            out.t_write += p.t_write
            out.disturb += p.disturb
        return out

    def gather(self, cells: np.ndarray) -> np.ndarray:
        """The devices' entries of a flat vector over every cell."""
        return cells if self.index is None else cells[self.index]

    def scatter(self, flat: np.ndarray) -> np.ndarray:
        """A flat vector over every cell from one over the devices: 0 at cells without a device."""
        if self.index is None:
            return flat
        out = np.zeros(self.n_cells, dtype=np.result_type(flat))
        out[self.index] = flat
        return out

    def positions(self, cells: np.ndarray) -> np.ndarray:
        """Device positions (in ``x``) of flat cell indices; -1 where a cell has no device."""
        if self.index is None:
            return np.asarray(cells, dtype=np.int64)
        pos = np.full(self.n_cells, -1, dtype=np.int64)
        pos[self.index] = np.arange(self.index.size)
        return pos[cells]

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """One array per crossbar (rows x cols) from a flat vector over the devices (0 elsewhere)."""
        cells = self.scatter(flat)
        return [a.reshape(s) for a, s in zip(np.split(cells, np.cumsum(self.sizes)[:-1]), self.shapes)]

    def n_saturated(self) -> int:
        """Devices within SATURATION_TOL of a state bound."""
        lo, hi = self.model.bounds
        return int(np.count_nonzero((self.x <= lo + SATURATION_TOL) | (self.x >= hi - SATURATION_TOL)))

    def describe(self) -> dict:
        c = self.cal
        d = {"model": self.cfg.model, "scheme": self.cfg.scheme, "v_set": c.v_set, "v_reset": c.v_reset,
             "rate_set_S_per_s": c.rate_set, "rate_reset_S_per_s": c.rate_reset,
             "t_per_siemens_set": c.t_per_siemens[0], "t_per_siemens_reset": c.t_per_siemens[1],
             "r_on": float(np.mean(self.model.r_on)), "r_off": float(np.mean(self.model.r_off)),
             "kind": self.model.kind}
        if self.passive is not None:   # selector runs keep their run.json entries as before
            d.update(array_scheme=self.cfg.array_scheme, half_select_protected=self.protected)
            if self.cfg.array_scheme == "outer_product":
                d.update(array_bl=self.cfg.array_bl, array_rank=self.cfg.array_rank)
        return d

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"dev_x": self.x.copy(), "dev_rng": np.array(json.dumps(self.rng.bit_generator.state))}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        x = np.asarray(state["dev_x"], dtype=float)
        if x.shape != self.x.shape:
            raise ConfigError(f"device states in the checkpoint have shape {x.shape}, expected {self.x.shape}")
        self.x = x
        self.rng.bit_generator.state = json.loads(str(state["dev_rng"]))


class Request:
    """The optimiser's requested change, flat (S): ``dg = -lr·lr_scale_k·scale·direction_k(grad)``.

    Exactly :class:`~ebana.updates.ideal.IdealUpdate`'s step (Adam with its bias correction).
    ``split``: :func:`pair_index` entries whose pairs get ±ΔW/2 (``pairs = "split"``);
    ``trained``: mask of the devices that are programmed (reference devices get 0);
    ``index``: flat cell positions of the devices (:attr:`DeviceArray.index`; None: every cell),
    the entries of the request.
    """

    def __init__(self, optimizer: str, shapes: Sequence[tuple[int, ...]], lr_scale: Sequence[float] | None = None,
                 split: list | None = None, trained: np.ndarray | None = None,
                 index: np.ndarray | None = None) -> None:
        self.opt = OPTIMIZERS.get(optimizer)(shapes)
        self.lr_scale = [1.0] * len(shapes) if lr_scale is None else list(lr_scale)
        self.split = split
        self.index = index
        n = sum(int(np.prod(s)) for s in shapes) if index is None else index.size
        self.trained = np.ones(n, dtype=bool) if trained is None else trained

    def __call__(self, grads: Sequence[np.ndarray], lr: float) -> np.ndarray:
        req = []
        for k, d in enumerate(grads):
            factor = -lr * self.lr_scale[k] * self.opt.scale()
            dg = np.multiply(self.opt.direction(k, d), factor, dtype=np.float64)
            if self.split is not None and self.split[k] is not None:
                dg = split_pairs(dg, self.split[k])
            req.append(dg.ravel())
        self.opt.tick()
        dg = np.concatenate(req)
        if self.index is not None:
            dg = dg[self.index]
        return dg if self.trained.all() else np.where(self.trained, dg, 0.0)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.opt.state_dict(), "alg_trained": self.trained.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.opt.load_state_dict(state)
        if "alg_trained" in state:  # absent in checkpoints of plain PWM/PAM runs before 0.2
            self.trained = np.asarray(state["alg_trained"], dtype=bool)


class Policy(Protocol):
    """Turns the requested change (S, flat) into what the writer sends."""

    def __call__(self, dg: np.ndarray) -> np.ndarray: ...
    def describe(self) -> dict: ...
    def state_dict(self) -> dict[str, np.ndarray]: ...
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


class Writer(Protocol):
    """Sends pulses to devices in states x: returns (new x, energy J per device, pulses per device)."""

    def __call__(self, x: np.ndarray, cmd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def describe(self) -> dict: ...


class StatelessPolicy:
    """Base of policies without parameters to report or state to checkpoint."""

    def describe(self) -> dict:
        return {}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        pass


class Direct(StatelessPolicy):
    """PWM/PAM policy: the request itself (S) is what the programmer realises."""

    def __call__(self, dg: np.ndarray) -> np.ndarray:
        return dg


class Programmer:
    """Writer of requested changes (S) by PWM or PAM pulses (:func:`ebana.updates.pulses.program`)."""

    def __init__(self, array: DeviceArray, dg_ref: float) -> None:
        self.array, self.dg_ref = array, dg_ref

    def __call__(self, x, dg):
        c = self.array.cfg
        passive = self.array.passive
        res = program(self.array.model, x, dg, self.array.cal, scheme=c.scheme, t_clock=c.t_clock, t_min=c.t_min,
                      t_max=c.t_max, pam_pulses=c.pam_pulses, dg_ref=self.dg_ref, v_max=c.v_max,
                      pam_levels=c.pam_levels, energy=c.energy, pam_frequency=c.pam_frequency, rng=self.array.rng,
                      apply=None if passive is None else passive.write)
        self.array.add_write_time(res.t_write)
        return res.x, res.energy, res.n_pulses

    def describe(self) -> dict:
        if self.array.cfg.scheme != "pam":
            return {}
        w = pam_width(self.array.cal, self.dg_ref)
        return {"pam_dg_ref": self.dg_ref, "t_pam_set": w[0], "t_pam_reset": w[1],
                "pam_pulses": self.array.cfg.pam_pulses, "pam_frequency": self.array.cfg.pam_frequency}


@dataclass
class Setup:
    """Pulses (and their energy, J) spent before training, e.g. on symmetric-point searches;
    counted in the first update's report."""

    energy: float = 0.0
    pulses: int = 0


class DeviceUpdate:
    """Updater that programs device states with pulses (implements ``Updater``).

    ``step``: ``request`` → ``policy`` → ``writer`` on ``array`` (module docstring). With a
    ``residual`` part (:class:`ebana.updates.algorithms.ResidualDevices`) the writes go to its
    P devices, it transfers to the array's W devices, and the circuit sees its mix of both.
    ``info`` is added to :meth:`describe` (run.json).
    """

    def __init__(self, array: DeviceArray, request: Request, policy: Policy, writer: Writer, *,
                 residual: Any = None, setup: Setup | None = None, info: dict | None = None) -> None:
        self.array, self.request, self.policy, self.writer = array, request, policy, writer
        self.residual = residual
        self.setup = Setup() if setup is None else setup
        self.info = {} if info is None else info
        self.t_step = 0
        self.report: UpdateReport | None = None

    # ------------------------------------------------------------------ views
    @property
    def x(self) -> np.ndarray:
        """States (–) of the weight devices, flat."""
        return self.array.x

    @property
    def model(self):
        return self.array.model

    def _device_g(self) -> np.ndarray:
        """Conductances the circuit sees (S), flat over the devices."""
        g = self.array.model.conductance(self.array.x)
        if self.residual is not None:
            g = self.residual.mix(g, self.array, self.request.trained)
        return g

    def conductances(self) -> list[np.ndarray]:
        """Conductances the circuit sees (S), one array per crossbar (0 S where no device)."""
        return self.array.split(self._device_g())

    def describe(self) -> dict:
        """Calibration in pulse terms and the algorithm's parameters (for run.json)."""
        d = {**self.array.describe(), **self.writer.describe(), **self.info, **self.policy.describe()}
        if self.residual is not None:
            d.update(self.residual.describe())
        return d

    # ------------------------------------------------------------------ Updater
    def step(self, grads, lr):
        """Request the ideal step, write it to the devices, return the conductances (S)."""
        self.t_step += 1
        dg = self.request(grads, lr)
        g_old = self.array.model.conductance(self.array.x)
        if self.residual is not None:
            g_old = self.residual.mix(g_old, self.array, self.request.trained)
            e, n = self.residual.step(self.t_step, self.policy(dg), self.writer, self.array, self.request.trained)
        else:
            self.array.x, e, n = self.writer(self.array.x, self.policy(dg))
        g_new = self._device_g()
        out = self.array.split(g_new)
        first = self.t_step == 1
        achieved = g_new - g_old
        e_tot = float(e.sum()) + (self.setup.energy if first else 0.0)
        stats = self.array.take_stats()
        self.report = UpdateReport(
            n_devices=int(dg.size), dg_requested=float(np.abs(dg).sum()),
            dg_achieved=float(np.abs(achieved).sum()), dg_error=float(np.abs(achieved - dg).sum()),
            n_pulses=int(np.abs(n).sum()) + (self.setup.pulses if first else 0),
            n_saturated=self.array.n_saturated(),
            e_write=e_tot if self.array.cfg.energy else float("nan"),
            t_write=stats.t_write, disturb=stats.disturb, dg_cos=cosine(dg, achieved))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        d = {**self.request.state_dict(), **self.array.state_dict(), **self.policy.state_dict(),
             "alg_t": np.array(self.t_step)}
        if self.residual is not None:
            d.update(self.residual.state_dict())
        return d

    def load_state_dict(self, state: dict[str, np.ndarray], conductances=None) -> None:
        """Restore every part (``conductances`` is not needed: they follow from the device states)."""
        self.request.load_state_dict(state)
        self.array.load_state_dict(state)
        self.policy.load_state_dict(state)
        if self.residual is not None:
            self.residual.load_state_dict(state)
        self.t_step = int(state["alg_t"]) if "alg_t" in state else 0


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two flat vectors (–); NaN when either is zero."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if not (na > 0 and nb > 0):
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


def device_index(shapes: Sequence[tuple[int, ...]], masks: Sequence[np.ndarray | None] | None) -> np.ndarray | None:
    """Flat positions (int64, among all crossbars' cells in order) of the cells that hold a device;
    None when every cell does (no masks, or none given)."""
    if masks is None or all(m is None for m in masks):
        return None
    if len(masks) != len(shapes):
        raise ConfigError(f"device masks: {len(masks)} given for {len(shapes)} crossbars")
    out, off = [], 0
    for k, (shape, m) in enumerate(zip(shapes, masks)):
        n = int(np.prod(shape))
        if m is None:
            out.append(off + np.arange(n))
        else:
            if np.shape(m) != tuple(shape):
                raise ConfigError(f"device mask of crossbar{k} has shape {np.shape(m)}, the crossbar {tuple(shape)}")
            out.append(off + np.flatnonzero(np.ravel(m)))
        off += n
    return np.concatenate(out).astype(np.int64)


def device_update(cfg: DeviceConfig, optimizer: str, conductances: Sequence[np.ndarray], g_min: float,
                  g_max: float, *, lr_ref: float, pairs: list | None = None, rng: np.random.Generator | None = None,
                  lr_scale: Sequence[float] | None = None,
                  masks: Sequence[np.ndarray | None] | None = None) -> DeviceUpdate:
    """The ``device`` algorithm: the optimiser's request realised by PWM or PAM pulses.

    ``conductances``: initial G (S) per crossbar; ``g_min, g_max``: programmable range (S) = the
    device's [1/R_OFF, 1/R_ON]; ``lr_ref``: PAM's reference request (S) when ``cfg.pam_dg_ref``
    is None (the run's lr); ``pairs``: :func:`pair_index` (needed for ``pairs = "split"``);
    ``rng``: device variability and cycle-to-cycle noise; ``masks``: per crossbar, where it has
    devices (:class:`DeviceArray`).
    """
    if cfg.pairs == "split" and pairs is None:
        raise ConfigError("device.pairs = 'split' needs the pair index of the topology")
    array = DeviceArray(cfg, conductances, g_min, g_max, np.random.default_rng(0) if rng is None else rng, masks)
    request = Request(optimizer, array.shapes, lr_scale, split=pairs if cfg.pairs == "split" else None,
                      index=array.index)
    dg_ref = cfg.pam_dg_ref if cfg.pam_dg_ref is not None else lr_ref
    return DeviceUpdate(array, request, Direct(), Programmer(array, dg_ref))
