"""Stuck devices and retention drift around any updater (:class:`FaultyUpdate`).

Wraps an :class:`~ebana.updates.ideal.IdealUpdate` or a
:class:`~ebana.updates.device_update.DeviceUpdate` (every algorithm and array scheme):

* **Stuck devices** (``nonideal.stuck_on`` / ``stuck_off``, fractions): drawn once per run from
  the seed (:func:`ebana.nonideal.draw_stuck`). A stuck-ON device sits at its most conductive
  state (ideal: g_max; a device: its upper state bound, G = the model's R_ON⁻¹ read-mapped, its
  own with variability), stuck-OFF at the least conductive one. Device runs request nothing for
  them (the request mask, as for reference devices: no pulse is sent), and after every update and
  every drift their states are set back to the bound (a passive array's half-select disturb and
  retention cannot move them); the conductances the circuit sees are pinned as well (residual
  learning's mixed W + γP conductance included).
* **Retention** between updates, ``t_batch`` s apart (a batch's update, then ``t_batch`` of
  holding before the next batch's phases):
  exponential relaxation of the normalised state towards ``retention_x_rest`` with time
  constant ``retention_tau`` (ideal: of G towards g_min + x_rest·(g_max - g_min); devices: of x,
  residual learning's P devices too), and/or PCM power-law drift G(t) = G(t0)·(t/t0)^-ν with t
  the time since each device's last programming (a device whose G changed in an update restarts
  at t0; ideal: of G; devices: of each device's G, whose state is re-inverted, clipped at
  G(lower state bound); residual learning's P devices drift too, each with its own clock).
* **Read disturb** (``t_read``, ``t_read_eval``): :meth:`FaultyUpdate.read_disturb`, called by
  the training loop after a batch's phases and before its update, and (``t_read_eval``) after every
  evaluation chunk's free phase; residual learning's P devices are disturbed with their W devices.

On masked crossbars (``[graph]``, ``local`` layers) the effects are drawn for and applied to
the devices only (device runs: :class:`~ebana.updates.device_update.DeviceArray`; ideal runs:
the ``masks`` given): a cell without a device stays at 0 S.

Public API: :class:`FaultyUpdate`, :func:`with_faults`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ebana.nonideal import STREAMS, NonIdealConfig, draw_stuck, power_law_factor, relax
from ebana.updates.device_update import device_index
from ebana.updates.pulses import state_for_conductance

__all__ = ["FaultyUpdate", "with_faults", "device_drops"]


class FaultyUpdate:
    """An updater with stuck devices and retention drift (module docstring); delegates the rest.

    ``masks``: per crossbar, where an ideal run's crossbar has devices (None: every cell; device
    runs take them from their device array)."""

    def __init__(self, inner, cfg: NonIdealConfig, g_min: float, g_max: float, rng: np.random.Generator,
                 masks=None) -> None:
        self.inner, self.cfg, self.g_min, self.g_max = inner, cfg, g_min, g_max
        self.device = getattr(inner, "array", None) is not None
        self.shapes = [np.shape(g) for g in inner.conductances()]
        self.index = inner.array.index if self.device else device_index(self.shapes, masks)
        flat = self._flat(inner.conductances())   # one entry per device (masked crossbars: the mask cells)
        self.on, self.off = draw_stuck(flat.size, cfg.stuck_on, cfg.stuck_off, rng)
        self.stuck = self.on | self.off
        self.age = np.full(flat.size, cfg.drift_t0) if cfg.drift_nu > 0 else None
        self.age_p: np.ndarray | None = None   # residual learning's P devices (created on their first drift)
        if self.device:
            arr = inner.array
            lo, hi = arr.model.bounds
            self.x_stuck = np.where(self.on, hi, lo)
            self.g_stuck = np.where(self.on, arr.model.conductance(np.full(flat.size, hi)),
                                    arr.model.conductance(np.full(flat.size, lo)))
            if self.stuck.any():
                inner.request.trained = inner.request.trained & ~self.stuck
        else:
            self.g_stuck = np.where(self.on, g_max, g_min)
        self._pin_states()

    # ------------------------------------------------------------------ helpers
    def _flat(self, gs: Sequence[np.ndarray]) -> np.ndarray:
        """The devices' entries of per-crossbar arrays, flat."""
        flat = np.concatenate([np.ravel(g) for g in gs])
        return flat if self.index is None else flat[self.index]

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per-crossbar arrays from the devices' flat entries (0 where a cell has no device)."""
        if self.index is not None:
            cells = np.zeros(sum(int(np.prod(s)) for s in self.shapes))
            cells[self.index] = flat
            flat = cells
        return [a.reshape(s) for a, s in zip(np.split(flat, np.cumsum([int(np.prod(s)) for s in self.shapes])[:-1]),
                                             self.shapes)]

    def _pin_states(self) -> None:
        """Put the stuck devices back at their bound (new arrays; ones handed out are never changed)."""
        if not self.stuck.any():
            return
        if self.device:
            self.inner.array.x = np.where(self.stuck, self.x_stuck, self.inner.array.x)
        else:
            self.inner.g = self._split(np.where(self.stuck, self.g_stuck, self._flat(self.inner.g)))

    def __getattr__(self, name: str):
        # only reached for attributes FaultyUpdate does not have: report, describe, array, x, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ------------------------------------------------------------------ Updater
    def conductances(self) -> list[np.ndarray]:
        """Conductances the circuit sees (S): the inner updater's, stuck devices pinned."""
        gs = self.inner.conductances()
        if not self.stuck.any():
            return gs
        return self._split(np.where(self.stuck, self.g_stuck, self._flat(gs)))

    def step(self, grads, lr):
        """The inner update, then ``t_batch`` of retention drift; stuck devices stay put."""
        before = self._weights() if self.age is not None else None
        self.inner.step(grads, lr)
        self._pin_states()
        self._drift(None if before is None else [a != b for a, b in zip(self._weights(), before)])
        self._pin_states()
        return self.conductances()

    @property
    def _residual(self):
        return getattr(self.inner, "residual", None) if self.device else None

    def _weights(self) -> list[np.ndarray]:
        """What programming changes, flat copies: device states x (–) (and residual learning's P
        states), or the ideal conductances (S)."""
        if not self.device:
            return [self._flat(self.inner.g)]
        res = self._residual
        return [self.inner.array.x.copy()] + ([] if res is None else [res.x_p.copy()])

    def _drift(self, programmed: list[np.ndarray] | None) -> None:
        """``t_batch`` s of relaxation and power-law drift; ``programmed``: devices written just now
        (per :meth:`_weights` entry)."""
        c, dt = self.cfg, self.cfg.t_batch
        res = self._residual
        if c.retention_tau > 0:
            if self.device:
                arr = self.inner.array
                lo, hi = arr.model.bounds
                rest = lo + c.retention_x_rest * (hi - lo)
                arr.x = relax(arr.x, rest, dt, c.retention_tau)
                if res is not None:
                    res.x_p = relax(res.x_p, rest, dt, c.retention_tau)
            else:
                rest = self.g_min + c.retention_x_rest * (self.g_max - self.g_min)
                if self.index is None:
                    self.inner.g = [relax(g, rest, dt, c.retention_tau) for g in self.inner.g]
                else:     # masked crossbars: the devices relax, absent cells stay 0 S
                    self.inner.g = self._split(relax(self._flat(self.inner.g), rest, dt, c.retention_tau))
        if programmed is None:
            return
        self.age = np.where(programmed[0], c.drift_t0, self.age)
        factor = power_law_factor(self.age, dt, c.drift_nu)
        self.age = self.age + dt
        if not self.device:
            self.inner.g = self._split(np.maximum(self._flat(self.inner.g) * factor, self.g_min))
            return
        arr = self.inner.array
        arr.x = self._drifted(arr.model, arr.x, factor)
        if res is not None:
            if self.age_p is None:
                self.age_p = np.full(res.x_p.size, c.drift_t0)
            self.age_p = np.where(programmed[1], c.drift_t0, self.age_p)
            res.x_p = self._drifted(arr.model, res.x_p, power_law_factor(self.age_p, dt, c.drift_nu))
            self.age_p = self.age_p + dt

    @staticmethod
    def _drifted(model, x: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """States whose conductance is ``factor`` times theirs, not below the device's G(lower bound)."""
        floor = model.conductance(np.full(x.size, model.bounds[0]))
        return state_for_conductance(model, np.maximum(model.conductance(x) * factor, floor))

    def read_disturb(self, circuit, solutions: Sequence, t_read: float | None = None) -> list[np.ndarray]:
        """Move the devices through the phases they were just read in; the new conductances (S).

        ``solutions``: the batch's phases in time order per sample (free, then the nudged ones; at
        evaluation the free phase alone). Sample b's phases come one after the other, each holding
        every device at its drop V_row - V_col (V; the row is the device's + terminal) for
        ``t_read`` s (default ``nonideal.t_read``), integrated by the device model (its closed form
        or adaptive integrator; thresholded models below threshold do not move). Stuck devices stay
        put. Residual learning: the W devices and the P devices, each P read with the same row and
        column voltages as its W (the periphery weights P's column current by γ), so it sees the
        same drop.

        Without c2c noise a separable model takes the batch's reads at once
        (:meth:`~ebana.devices.base.SeparableModel.apply_holds`: exact, consecutive holds that
        drive a device the same way add their drive integrals), and a flux-controlled one
        (dx/dt = V·h(x)) the batch's summed drops Σ V (row sums minus column sums) as one hold;
        with c2c noise every read is a pulse of its own, with its own noise draw."""
        arr = self.inner.array
        t = self.cfg.t_read if t_read is None else t_read
        res = self._residual
        lines = [line_voltages(circuit, s) for s in solutions]

        def reads():   # in time order: sample by sample, its phases in turn; one drop vector (V) each
            for b in range(solutions[0].batch):
                for phase in lines:
                    yield self._flat([rows[b][:, None] - cols[b][None, :] for rows, cols in phase])

        def flux():   # flux-controlled (dx/dt = V·h(x)): the batch acts through its Σ V·t alone
            yield np.sum([self._flat([rows.sum(axis=0)[:, None] - cols.sum(axis=0)[None, :] for rows, cols in phase])
                          for phase in lines], axis=0)

        model, x = arr.model, arr.x
        x_p = None if res is None else res.x_p
        c2c = model.params.c2c
        held = None
        volts = flux if model.flux_controlled else reads
        if c2c is None or not np.any(np.asarray(c2c) > 0):
            held = model.apply_holds(x, volts(), t)
        if held is not None:
            x = held
            if x_p is not None:
                x_p = model.apply_holds(x_p, volts(), t)
        else:
            for v in reads():
                x = model.apply_pulse(x, v, np.full(x.size, t), rng=arr.rng, energy=False).x
                if x_p is not None:
                    x_p = model.apply_pulse(x_p, v, np.full(x_p.size, t), rng=arr.rng, energy=False).x
        arr.x = x
        if res is not None:
            res.x_p = x_p
        self._pin_states()
        return self.conductances()

    def state_dict(self) -> dict[str, np.ndarray]:
        d = dict(self.inner.state_dict())
        if self.age is not None:
            d["ni_age"] = self.age.copy()
        if self.age_p is not None:
            d["ni_age_p"] = self.age_p.copy()
        return d

    def load_state_dict(self, state: dict[str, np.ndarray], conductances=None) -> None:
        self.inner.load_state_dict(state, conductances)
        if self.age is not None and "ni_age" in state:
            self.age = np.asarray(state["ni_age"], dtype=float)
        if "ni_age_p" in state:
            self.age_p = np.asarray(state["ni_age_p"], dtype=float)
        self._pin_states()


def line_voltages(circuit, sol) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per crossbar: its row voltages (B, rows) and column voltages (B, cols) (V) in solution ``sol``."""
    xv = sol.wordlines(circuit)
    return [(circuit.row_voltages(spec, xv, sol.layers), sol.layers[spec.dst]) for spec in circuit.topology.crossbars]


def device_drops(circuit, sol) -> list[np.ndarray]:
    """Voltage (V) across every crossbar device, row minus column, (B, rows, cols) per crossbar."""
    return [rows[:, :, None] - cols[:, None, :] for rows, cols in line_voltages(circuit, sol)]


def with_faults(updater, cfg: NonIdealConfig, g_min: float, g_max: float, seed: int, masks=None):
    """``updater`` wrapped in a :class:`FaultyUpdate` when a stuck or drift effect is on, else itself
    (``masks``: where an ideal run's crossbars have devices, :class:`FaultyUpdate`)."""
    if not cfg.faulty:
        return updater
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS["stuck"],)))
    return FaultyUpdate(updater, cfg, g_min, g_max, rng, masks)
