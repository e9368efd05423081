"""The training loop: EqProp phases on a backend, updates, metrics, checkpoints, resume.

A :class:`Trainer` trains one run in one run directory (:mod:`ebana.rundir`: lock, atomic
files, status). Its parts come from :func:`ebana.builder.build`; checkpoint files are
:mod:`ebana.checkpoint`; the ngspice self-check is :class:`ebana.verify.NgspiceVerifier`;
per-epoch outputs go to callbacks (metrics.csv is the first of them).

Interrupting (Ctrl-C, SIGTERM) writes a checkpoint at the last completed batch; ``resume=True``
continues from it and reaches exactly the result of an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import numpy as np

import ebana
from ebana import interrupts
from ebana.augment import image_side, shift_images
from ebana.builder import build, make_backend
from ebana.checkpoint import checkpoint_config, network_arrays, read_npz, trained_params
from ebana.circuit import Circuit
from ebana.cparams import ParamUpdate, check_trainable, param_metrics, parameter_gradients, with_bias_currents
from ebana.energy import ENERGY_FIELDS, EnergyTally
from ebana.config import TrainConfig, config_diff, dump_toml, from_dict, load_toml, to_dict
from ebana.errors import CheckpointError, ConfigError, ConvergenceError, EbanaError, SimulationError
from ebana.losses import label_correct
from ebana.recording import Recorder, parse_record
from ebana.phases import PhaseController, PhaseResult, check_nudging
from ebana.provenance import changed_inputs, input_files, input_sha256
from ebana.rundir import RunDir
from ebana.updates import DeviceTally, DeviceUpdate
from ebana.verify import NgspiceVerifier

__all__ = ["Trainer", "Progress", "EpochCallback", "MetricsCSV", "METRIC_FIELDS", "MULTI_LABEL_FIELDS", "metric_fields"]

logger = logging.getLogger(__name__)

METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds",
                 "mean_sweeps", "verify_max_dv", "e_write", "pulses", "saturated", "dg_ratio", "dg_error",
                 "t_write", "t_update", "disturb", "dg_cos"]
"""Per-epoch metrics (graph networks add ``{head}_train_loss``, ``{head}_train_acc``,
``{head}_test_loss``, ``{head}_test_acc`` per head, after the energy columns). Device runs add: write
energy of the epoch (J), pulses sent, fraction of
devices at a state bound at the end of the epoch, sum|achieved ΔG| / sum|requested ΔG| and
sum|achieved - requested| / sum|requested| over the epoch, the epoch's write time ``t_write`` (s)
and its mean per update ``t_update`` (s) under ``device.array_scheme``, ``disturb`` (mean |Δx| per
device and update while not selected, –; 0 with selectors) and ``dg_cos`` (mean per-update cosine
of requested and achieved ΔG, –); empty for ideal runs. Then the energy columns
:data:`~ebana.energy.ENERGY_FIELDS` and ``e_read_l{q}`` per layer (J, training solves only; empty
with ``energy.enabled = false``)."""


def metric_fields(history: list[dict]) -> list[str]:
    """The columns of metrics.csv: :data:`METRIC_FIELDS`, the energy fields, the per-layer energies,
    the trained circuit parameters ``param_*`` (``train.trainable``), for multi-label runs
    :data:`MULTI_LABEL_FIELDS` and ``{train,test}_label_acc{k}`` per label, and for
    graph networks every head's ``{head}_{train|test}_{loss|acc}``."""
    keys = {k for r in history for k in r}
    layers = sorted((k for k in keys if k.startswith("e_read_l")), key=lambda k: int(k[8:]))
    multi = []
    if "test_hamming" in keys:
        multi = MULTI_LABEL_FIELDS + [f"{part}_label_acc{k}" for part in ("train", "test")
                                      for k in range(sum(1 for n in keys if n.startswith(f"{part}_label_acc")))]
    params = sorted(k for k in keys if k.startswith("param_"))   # train.trainable values
    known = set(METRIC_FIELDS + ENERGY_FIELDS + layers + multi + params)
    ends = ("_train_loss", "_train_acc", "_test_loss", "_test_acc")     # graph heads: {head}_{train|test}_{loss|acc}
    heads = [k for k in (history[0] if history else {}) if k not in known and k.endswith(ends)]
    return METRIC_FIELDS + ENERGY_FIELDS + layers + params + multi + heads


MULTI_LABEL_FIELDS = ["train_hamming", "test_hamming"]
"""Multi-label runs (``label_columns``): mean hamming loss, the fraction of wrong label decisions
(pred_k > 0 V vs the 0/1 label) over samples and labels. ``train_acc``/``test_acc`` are then the
exact-match accuracy (every label right), and ``{train,test}_label_acc{k}`` the accuracy of label k
(k in ``label_columns`` order)."""

EVAL_CHUNK = 1000
"""Samples per free-phase solve in evaluation."""


def split_metrics(name: str, x: np.ndarray, y: np.ndarray, phases: PhaseController, circuit, loss,
                  chunk: int = EVAL_CHUNK, after=None) -> dict[str, float]:
    """Free-phase metrics of one split, solved ``chunk`` samples at a time: ``{name}_loss`` and
    ``{name}_acc`` (the loss's own correctness: exact match for multi-label targets, every head for
    a graph), for multi-label targets ``{name}_hamming`` and ``{name}_label_acc{k}``, for graph heads
    ``{head}_{name}_loss`` / ``_acc``. ``after(solution)`` runs after each chunk's solve, before the
    next (read disturb at inference). The caller checks that the loss is finite."""
    heads = getattr(loss, "per_head", None)   # graph networks: every head's loss and accuracy too
    losses, correct = [], 0
    per_label = np.zeros(y.shape[1]) if y.ndim == 2 else None   # multi-label: right decisions per label
    per_head: dict[str, list] = {}
    for k in range(0, len(x), chunk):
        interrupts.check()
        sl = slice(k, k + chunk)
        sol = phases.free(x[sl], ids=list(range(k, min(k + chunk, len(x)))))
        if after is not None:
            after(sol)
        pred = circuit.prediction(sol.output)
        losses.append(loss.value(pred, y[sl]))
        correct += int(np.sum(loss.correct(pred, y[sl])))
        if per_label is not None:
            per_label += label_correct(pred, y[sl]).sum(axis=0)
        if heads is not None:
            for h, (lv, ok) in heads(pred, y[sl]).items():
                per_head.setdefault(h, []).append((lv, ok))
    out: dict[str, float] = {}
    if per_label is not None:
        out[f"{name}_hamming"] = 1.0 - float(per_label.sum()) / y.size
        out.update({f"{name}_label_acc{k}": float(c) / len(x) for k, c in enumerate(per_label)})
    for h, parts in per_head.items():
        out[f"{h}_{name}_loss"] = float(np.concatenate([lv for lv, _ in parts]).mean())
        out[f"{h}_{name}_acc"] = float(np.concatenate([ok for _, ok in parts]).mean())
    out[f"{name}_loss"] = float(np.concatenate(losses).mean())
    out[f"{name}_acc"] = correct / len(x)
    return out


@dataclass
class Progress:
    """What the loop reports after every batch (for progress bars)."""

    epoch: int
    batch: int
    n_batches: int
    loss: float
    acc: float
    metrics: dict | None = None   # set at the end of an epoch


class EpochCallback(Protocol):
    """Called with the trainer and the epoch's metrics row after every epoch (before the checkpoint)."""

    def __call__(self, trainer: "Trainer", row: dict) -> None: ...


class MetricsCSV:
    """Writes metrics.csv (every epoch so far, :data:`METRIC_FIELDS`) atomically after each epoch."""

    def __call__(self, trainer: "Trainer", row: dict) -> None:
        buf = io.StringIO(newline="")
        fields = metric_fields(trainer.history)
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in trainer.history:
            w.writerow({k: r.get(k) for k in fields})
        trainer.dir.write_text("metrics.csv", buf.getvalue())


def check_storable(cfg: TrainConfig) -> None:
    """Refuse a configuration that config.toml and the checkpoint cannot hold exactly.

    Both store :func:`~ebana.config.to_dict`, which leaves out None ("automatic") values, and read
    it back over the dataset's preset; a None where the preset has a value (possible from Python,
    e.g. ``TrainConfig(dataset="digits")`` keeps the iris circuit's ``v_cm = None``, the digits
    preset has 0.0) would come back as the preset's value, and a resumed run would differ."""
    diff = config_diff(cfg, from_dict(to_dict(cfg)))
    if diff:
        k, mine, back = diff[0]
        raise ConfigError(f"{k} = {mine!r} cannot be stored in config.toml for dataset {cfg.dataset!r}: it would "
                          f"read back as {back!r} (the preset's value; TOML has no null), so a resumed run would "
                          f"differ; give {k} a value")


def early_stop(history: list[dict], metric: str, patience: int) -> dict | None:
    """The early stop the epoch rows ``history`` call for, or None: ``metric`` (a loss: lower is
    better, an accuracy: higher; only a strict improvement counts) has not improved on its best for
    ``patience`` epochs (0: never). A pure function of the history, so a resumed run stops alike."""
    if patience <= 0 or not history:
        return None
    sign = -1.0 if metric.endswith("_acc") else 1.0
    vals = [sign * r[metric] for r in history]
    best = min(range(len(vals)), key=lambda k: (vals[k], k))   # first epoch reaching the best
    if len(vals) - 1 - best < patience:
        return None
    return {"reason": f"{metric} has not improved for {patience} epochs (best {history[best][metric]:.6g} "
                      f"at epoch {best + 1})", "epoch": len(history), "best_epoch": best + 1,
            "metric": metric, "best": history[best][metric]}


class EarlyStopping:
    """Sets ``trainer.stopped`` (:func:`early_stop`) when ``cfg.early_stop_metric`` has not improved
    for ``cfg.early_stop_patience`` epochs; training then ends after this epoch's checkpoint."""

    def __call__(self, trainer: "Trainer", row: dict) -> None:
        cfg = trainer.cfg
        trainer.stopped = early_stop(trainer.history, cfg.early_stop_metric, cfg.early_stop_patience)


class Trainer:
    """One EqProp training run in ``out_dir``.

    ``resume``: continue from the checkpoint there (``cfg`` None: its own configuration; a
    ``cfg`` replaces it, the CLI's ``--override``). Otherwise the directory must hold no run,
    unless ``overwrite`` (its run's files are removed). The directory is locked from here to
    the end of :meth:`run`: a second process gets a clear error. ``callbacks`` run after every
    epoch, after :class:`MetricsCSV`.
    """

    def __init__(self, cfg: TrainConfig | None, out_dir: str | os.PathLike, *, resume: bool = False,
                 overwrite: bool = False, callbacks: tuple[EpochCallback, ...] = ()) -> None:
        self.dir = RunDir(out_dir)
        self.out = self.dir.path
        self.ckpt_path = self.out / "checkpoint.npz"
        saved = None
        if resume:
            if not self.ckpt_path.exists():
                raise CheckpointError(f"--resume: no checkpoint in {self.out}")
            saved = checkpoint_config(self.ckpt_path)
            cfg = saved if cfg is None else cfg
        if cfg is None:
            raise CheckpointError("a new run needs a configuration")
        check_storable(cfg)
        self.cfg = cfg
        parts = build(cfg)
        check_nudging(parts.circuit, parts.loss, cfg.beta, cfg.centered)   # before anything is written
        self.data, self.encoder, self.circuit, self.loss = parts.data, parts.encoder, parts.circuit, parts.loss
        self.x_train, self.x_test, self.updater, self.rng = parts.x_train, parts.x_test, parts.updater, parts.rng
        self.side = image_side(self.data.n_features, cfg.encoding, cfg.augment_shift) if cfg.augment_shift else 0
        self.callbacks: list[EpochCallback] = [MetricsCSV(), EarlyStopping(), *callbacks]
        self.recorder = Recorder(parse_record(cfg.record, len(self.x_train))) if cfg.record else None
        self.stopped: dict | None = None      # the early stop (run.json "early_stop"), once called for
        self.e_write_total, self.pulses_total = 0.0, 0
        self.tally = DeviceTally()            # device reports of the current epoch
        self.energy = EnergyTally()           # phase energy of the current epoch's training solves
        self.epoch, self.batch, self.perm = 0, 0, None
        self._sweeps: list[int] = []          # free-phase sweeps of the batches of this epoch so far
        self.history: list[dict] = []
        self.elapsed = 0.0
        self.inputs_sha256 = input_sha256(cfg)   # every file the run reads (model, diode card, CSV data)
        self.fitted_sha256 = self.inputs_sha256.get("device.model")   # issue 20 (older checkpoints hold only this)
        self.verifier = NgspiceVerifier(cfg, self.circuit, self.loss, self.out) if cfg.verify_every else None
        if cfg.train.trainable:
            check_trainable(self.circuit, cfg.train.trainable)
            params = with_bias_currents(self.circuit, cfg.train.trainable)   # bias currents: sources at 0 A
            if params is not self.circuit.params:
                self._set_params(params)
        self.cparams = ParamUpdate(cfg.train, cfg.optimizer, self.circuit.params) if cfg.train.active else None
        """Optimiser of the trained circuit parameters (train.trainable less train.freeze), or None."""
        self.dir.lock()
        try:
            if resume:
                if cfg is saved:
                    self._check_config_file(saved)
                self._load_checkpoint()
            elif self.dir.has_run():
                if not overwrite:
                    raise CheckpointError(f"{self.out} already holds a run (status {self.dir.status() or 'unknown'}); "
                                          f"continue it with --resume, or replace it with --overwrite")
                self.dir.clear()
            self.dir.mark_owner()
            self.backend = make_backend(cfg, self.circuit, self.out / "failures", self.updater.conductances())
        except BaseException:
            self.dir.unlock()
            raise
        self.phases = PhaseController(self.backend, self.loss, cfg.beta, cfg.centered, readout=parts.readout)

    def _check_config_file(self, saved: TrainConfig) -> None:
        """Refuse to resume over a hand-edited config.toml (resume would silently ignore the edit)."""
        path = self.out / "config.toml"
        if not path.exists():
            return
        try:
            on_disk = from_dict(load_toml(path))
        except EbanaError as err:
            raise CheckpointError(f"{path} was edited and is no longer valid ({err}); restore it, or pass "
                                  f"changes as options with --override") from None
        diff = config_diff(saved, on_disk)
        if diff:
            k, old, new = diff[0]
            more = f" and {len(diff) - 1} more" if len(diff) > 1 else ""
            raise CheckpointError(f"{path} differs from the checkpoint's configuration ({k} = {new!r} there, "
                                  f"{old!r} in the checkpoint{more}); resume does not read config.toml: restore "
                                  f"it, or pass the change as --set {k}=... with --override")

    # ------------------------------------------------------------------ schedule
    @property
    def n_batches(self) -> int:
        return math.ceil(len(self.x_train) / self.cfg.batch_size)

    def lr_at(self, epoch: int, batch: int) -> float:
        """Learning rate of a batch: constant, or cosine decay from lr to 0 over the run."""
        cfg = self.cfg
        if cfg.lr_schedule == "constant":
            return cfg.lr
        frac = (epoch * self.n_batches + batch) / (cfg.epochs * self.n_batches)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * frac))

    # ------------------------------------------------------------------ run
    def run(self, progress: Callable[[Progress], None] | None = None) -> list[dict]:
        """Train to ``cfg.epochs``; returns the per-epoch metrics.

        SIGINT/SIGTERM are deferred to batch boundaries (and ngspice samples): the checkpoint
        written on :class:`~ebana.interrupts.Interrupted` holds exactly the finished batches. Any
        other error marks run.json ``failed`` with its message.
        """
        self.dir.lock()
        try:
            with interrupts.deferred():
                self._run(progress)
        except KeyboardInterrupt:
            self.save_checkpoint()
            self._write_run_json(status="interrupted")
            raise
        except BaseException as err:
            self._write_run_json(status="failed", error=f"{type(err).__name__}: {err}")
            raise
        finally:
            self.dir.unlock()
        logger.info("run %s finished: %d epochs%s", self.out, self.epoch,
                    f" (early stop: {self.stopped['reason']})" if self.stopped else "")
        return self.history

    def _run(self, progress: Callable[[Progress], None] | None) -> None:
        cfg = self.cfg
        self.dir.write_text("config.toml", dump_toml(to_dict(cfg)))
        self._write_run_json(status="running")
        self.stopped = early_stop(self.history, cfg.early_stop_metric, cfg.early_stop_patience)   # resume
        while self.epoch < cfg.epochs and self.stopped is None:
            t0 = time.perf_counter()
            if self.perm is None:
                self.perm = self.rng.permutation(len(self.x_train))
            run_loss = run_acc = 0.0
            seen = 0
            while self.batch < self.n_batches:
                interrupts.check()   # the only place a batch may stop: before it starts
                idx = self.perm[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
                res = self._train_batch(idx)
                seen += len(idx)
                run_loss += float(res.loss.sum())
                run_acc += float(np.sum(self.loss.correct(res.pred, self.data.y_train[idx])))
                if not math.isfinite(run_loss):
                    raise SimulationError(f"non-finite training loss in batch {self.batch} of epoch {self.epoch + 1}: "
                                          f"the circuit's node voltages are not finite")
                if progress:
                    progress(Progress(self.epoch, self.batch, self.n_batches, run_loss / seen, run_acc / seen))
            self.elapsed += time.perf_counter() - t0
            row = self._end_epoch(t0)
            if progress:
                progress(Progress(self.epoch - 1, self.n_batches, self.n_batches, row["train_loss"],
                                  row["train_acc"], metrics=row))
        self._finish()

    def _train_batch(self, idx: np.ndarray) -> PhaseResult:
        """Phases, (verification), gradient, update of one batch; afterwards the batch counts as done."""
        x, y = self.x_train[idx], self.data.y_train[idx]
        if self.side:   # seeded by (seed, epoch, batch): a resumed run sees the same images
            x = shift_images(x, self.side, self.cfg.augment_shift, (self.cfg.seed, self.epoch, self.batch))
        res = self._phases(x, y, idx)
        if self.recorder is not None:
            self.recorder.add(self.epoch, self.batch, idx, self.circuit.input_voltages(x), res,
                              self.backend.model if self.cfg.record_currents else None)
        if self.cfg.energy.enabled:   # the operating points of the conductances just solved with
            sols = [("free", res.free, None), ("nudged", res.a, res.i_nudge)]
            if self.cfg.centered:
                sols.append(("nudged", res.b, -res.i_nudge))
            cached = getattr(self.backend, "cached_input_currents", None)   # numpy: its Norton GEMM
            self.energy.add(self.backend.model, self.cfg.energy, x, sols, cached(x) if cached else None)
        if self.verifier is not None and self.batch % self.cfg.verify_every == 0:
            self.verifier(self.backend.model, x, y, res, idx, self.epoch, self.batch)
        grads = self.phases.gradients(res)
        p_grads = None
        if self.cparams is not None:   # the circuit parameters' gradient, from the states just solved
            a, b = (res.a, res.b) if res.measured is None else res.measured
            p_grads = parameter_gradients(self.backend.model, a, b, res.beta_a, res.beta_b, self.cparams.names)
        if self.cfg.nonideal.t_read > 0:   # read disturb: the phases moved the device states
            self.backend.load(self.updater.read_disturb(self.circuit, self._phase_order(res)), validate=False)
        self.backend.load(self.updater.step(grads, self.lr_at(self.epoch, self.batch)),
                          validate=False)   # the updater clips to [g_min, g_max]
        if p_grads is not None:
            self.cparams.step(p_grads, self.lr_at(self.epoch, self.batch) / self.cfg.lr)
            self._set_params(self.cparams.apply(self.circuit.params))
        self._account(getattr(self.updater, "report", None))
        self.batch += 1
        self._sweeps.append(int(res.free.sweeps))
        return res

    def _set_params(self, params) -> None:
        """Rebuild the circuit (and its backend) with new circuit parameters, the present conductances."""
        self.circuit = Circuit(self.circuit.topology, params, self.updater.conductances())
        if hasattr(self, "backend"):
            self.backend.close()
            self.backend = make_backend(self.cfg, self.circuit, self.out / "failures", self.updater.conductances())
            self.phases.backend = self.backend
        if self.verifier is not None:
            self.verifier.circuit, self.verifier._backend = self.circuit, None

    def _phase_order(self, res: PhaseResult) -> list:
        """The batch's exact operating points in the order each sample holds them: free, +beta(, -beta)."""
        return [res.free, res.a, res.b] if self.cfg.centered else [res.free, res.a]

    def _end_epoch(self, t0: float) -> dict:
        """Evaluate, record the epoch's metrics, run the callbacks, checkpoint."""
        cfg = self.cfg
        row = self.evaluate()
        row.update(epoch=self.epoch + 1, lr=self.lr_at(self.epoch, self.n_batches - 1),
                   seconds=round(time.perf_counter() - t0, 4),
                   mean_sweeps=float(np.mean(self._sweeps)) if self._sweeps else 0.0,
                   verify_max_dv=self.verifier.max_dv if self.verifier is not None else None)
        if cfg.device.model is not None:
            row.update(self.tally.metrics())
        if cfg.train.trainable:
            row.update(param_metrics(self.circuit.params, cfg.train.trainable))
        if cfg.energy.enabled:
            row.update(self.energy.metrics(self.backend.model, cfg.energy, row.get("e_write"), cfg.batch_size,
                                           row.get("t_write")))
        self.tally = DeviceTally()
        self.energy = EnergyTally()
        if self.verifier is not None:
            self.verifier.max_dv = 0.0
        self._sweeps = []
        self.history.append(row)
        self.epoch, self.batch, self.perm = self.epoch + 1, 0, None
        for callback in self.callbacks:
            callback(self, row)
        self.save_checkpoint()
        return row

    def _phases(self, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> PhaseResult:
        """EqProp phases of one batch; a numpy-backend ConvergenceError leaves the failing netlist."""
        try:
            return self.phases.run(x, y, ids=idx.tolist(), key=(self.epoch, self.batch))
        except ConvergenceError as err:
            if self.cfg.backend == "ngspice":
                raise        # the ngspice backend wrote its own failing netlist
            from ebana.netlist import render
            path = self.out / "failures" / f"failed-free-sample{int(idx[0])}.cir"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(self.backend.model, x[0], None, title=f"ebana: numpy solve failed (batch "
                                   f"{self.batch} of epoch {self.epoch + 1}), free phase of sample {int(idx[0])}"))
            raise ConvergenceError(f"{err} (free-phase netlist of sample {int(idx[0])} written to {path})") from None

    def _account(self, rep) -> None:
        """Add a device update report to the epoch's tally and the run's totals."""
        if rep is None:
            return
        self.tally.add(rep)
        self.e_write_total += rep.e_write
        self.pulses_total += rep.n_pulses

    def evaluate(self) -> dict:
        """Free-phase loss and accuracy on the training and test sets.

        With ``nonideal.t_read_eval`` the samples are read in chunks of ``batch_size`` (as in
        training) and each chunk's free phase disturbs the devices before the next chunk is read
        (:meth:`~ebana.updates.faults.FaultyUpdate.read_disturb`); the training set first, then the
        test set, so the test accuracy is that of a chip the training-set reads already disturbed."""
        t_eval = self.cfg.nonideal.t_read_eval

        def disturb(sol) -> None:   # inference read disturb: the chunk moved the states (the next chunk sees it)
            self.backend.load(self.updater.read_disturb(self.circuit, [sol], t_eval), validate=False)

        out = {}
        for name, x, y in (("train", self.x_train, self.data.y_train), ("test", self.x_test, self.data.y_test)):
            out.update(split_metrics(name, x, y, self.phases, self.circuit, self.loss,
                                     self.cfg.batch_size if t_eval > 0 else EVAL_CHUNK,
                                     disturb if t_eval > 0 else None))
            if not math.isfinite(out[f"{name}_loss"]):
                raise SimulationError(f"the {name} loss is {out[f'{name}_loss']} after epoch {self.epoch + 1}: "
                                      f"the circuit's node voltages are not finite (check the circuit parameters)")
        return out

    # ------------------------------------------------------------------ files
    def _network_arrays(self) -> dict[str, np.ndarray]:
        return network_arrays(self.cfg, self.backend.model.conductances, self.data.n_features,
                              self.data.n_classes, self.circuit.params)

    def save_checkpoint(self) -> None:
        """Write checkpoint.npz atomically: the state after the last finished batch."""
        arrays = self._network_arrays()
        arrays.update({f"opt_{k}": v for k, v in self.updater.state_dict().items()})
        if self.cparams is not None:
            arrays.update({f"cpopt_{k}": v for k, v in self.cparams.state_dict().items()})
        arrays.update(
            epoch=np.array(self.epoch),
            batch=np.array(self.batch), perm=np.array([] if self.perm is None else self.perm, dtype=np.int64),
            has_perm=np.array(self.perm is not None), elapsed=np.array(self.elapsed),
            rng=np.array(json.dumps(self.rng.bit_generator.state)),
            history=np.array(json.dumps(self.history)),
            epoch_acc=np.array(json.dumps({"sweeps": self._sweeps,
                                           "verify_max": self.verifier.max_dv if self.verifier else 0.0})),
            device_acc=np.array(json.dumps({"tally": asdict(self.tally), "e_write_total": self.e_write_total,
                                            "pulses_total": self.pulses_total})),
            energy_acc=np.array(json.dumps(asdict(self.energy))))
        if self.fitted_sha256 is not None:
            arrays["fitted_sha256"] = np.array(self.fitted_sha256)
        if self.inputs_sha256:
            arrays["inputs_sha256"] = np.array(json.dumps(self.inputs_sha256))
        if self.recorder is not None:   # first: a checkpoint never runs ahead of the recording
            self.dir.save_npz("record.npz", self.recorder.arrays())
        self.dir.save_npz("checkpoint.npz", arrays)

    def _load_checkpoint(self) -> None:
        z = read_npz(self.ckpt_path)
        try:
            n = int(z["n_crossbars"])
            gs = [z[f"g{k}"] for k in range(n)]
            if [g.shape for g in gs] != [g.shape for g in self.circuit.conductances]:
                raise CheckpointError(f"cannot resume from {self.ckpt_path}: its crossbars have shapes "
                                      f"{[g.shape for g in gs]}, the configuration needs "
                                      f"{[g.shape for g in self.circuit.conductances]}")
            self.updater.load_state_dict({k[4:]: z[k] for k in z if k.startswith("opt_")}, gs)
            params = trained_params(z, self.circuit.params)
            if params != self.circuit.params:
                self._set_params(params)
            if self.cparams is not None:
                if "cpopt_values" in z:
                    self.cparams.load_state_dict({k[6:]: z[k] for k in z if k.startswith("cpopt_")})
                else:   # the checkpoint's run did not update them (frozen): start from its values
                    self.cparams = ParamUpdate(self.cfg.train, self.cfg.optimizer, self.circuit.params)
            self.epoch, self.batch = int(z["epoch"]), int(z["batch"])
            self.perm = z["perm"].copy() if bool(z["has_perm"]) else None
            self.elapsed = float(z["elapsed"])
            self.rng.bit_generator.state = json.loads(str(z["rng"]))
            self.history = json.loads(str(z["history"]))
            if "epoch_acc" in z:
                acc = json.loads(str(z["epoch_acc"]))
                self._sweeps = list(acc["sweeps"])
                if self.verifier is not None:
                    self.verifier.max_dv = float(acc["verify_max"])
            if "device_acc" in z:
                acc = json.loads(str(z["device_acc"]))
                self.tally = DeviceTally(**acc["tally"])
                self.e_write_total, self.pulses_total = acc["e_write_total"], acc["pulses_total"]
            if "energy_acc" in z:
                self.energy = EnergyTally(**json.loads(str(z["energy_acc"])))
            if "fitted_sha256" in z and str(z["fitted_sha256"]) != self.fitted_sha256:
                raise CheckpointError(f"cannot resume from {self.ckpt_path}: the fitted model file of device.model = "
                                      f"{self.cfg.device.model!r} changed since the run started (sha256 "
                                      f"{self.fitted_sha256} now, {str(z['fitted_sha256'])} in the checkpoint)")
            if "inputs_sha256" in z:
                then = json.loads(str(z["inputs_sha256"]))
                changed = changed_inputs(then, self.inputs_sha256)
                if changed:
                    k = changed[0]
                    raise CheckpointError(f"cannot resume from {self.ckpt_path}: the file of {k} = "
                                          f"{input_files(self.cfg)[k]!r} changed since the run started (sha256 "
                                          f"{self.inputs_sha256[k][:16]}... now, {then[k][:16]}... in the checkpoint)")
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"cannot resume from {self.ckpt_path}: incomplete checkpoint ({err})") from None
        except EbanaError as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"cannot resume from {self.ckpt_path}: {err}") from None
        if self.recorder is not None:
            self.recorder.load(self.out / "record.npz", self.epoch, self.batch)
        logger.info("resumed at epoch %d, batch %d", self.epoch, self.batch)

    def versions(self) -> dict:
        """Versions of ebana, Python, numpy, scipy (and PySpice/ngspice on the ngspice backend)."""
        v = {"ebana": ebana.__version__, "python": sys.version.split()[0], "numpy": np.__version__,
             "platform": platform.platform()}
        try:
            import scipy
            v["scipy"] = scipy.__version__
        except ImportError:  # pragma: no cover
            pass
        if self.cfg.backend == "ngspice":
            try:
                import PySpice
                v["PySpice"] = PySpice.__version__
                v["ngspice"] = str(getattr(self.backend.ng, "ngspice_version", "unknown"))
            except (ImportError, AttributeError):  # pragma: no cover
                pass
        return v

    def _write_run_json(self, status: str, error: str | None = None) -> None:
        info = {"status": status, "seed": self.cfg.seed, "dataset": self.cfg.dataset,
                "topology": self.circuit.topology.describe(), "n_train": len(self.x_train),
                "n_test": len(self.x_test), "train_seconds": round(self.elapsed, 3),
                "epochs_done": self.epoch, "versions": self.versions(),
                "final": self.history[-1] if self.history else None}
        if self.fitted_sha256 is not None:
            info["fitted_model"] = {"path": self.cfg.device.model[len("fitted:"):], "sha256": self.fitted_sha256}
        if self.inputs_sha256:
            files = input_files(self.cfg)
            info["input_files"] = {k: {"path": files[k], "sha256": v} for k, v in self.inputs_sha256.items()}
        if error is not None:
            info["error"] = error
        if self.stopped is not None:
            info["early_stop"] = self.stopped
        if isinstance(getattr(self.updater, "inner", self.updater), DeviceUpdate):
            info["device"] = {**self.updater.describe(), "e_write_total": self.e_write_total,
                              "pulses_total": self.pulses_total}
        self.dir.write_text("run.json", json.dumps(info, indent=2) + "\n")

    def _finish(self) -> None:
        """Final conductances and curves, then run.json ``done`` (last: done means complete).

        An interrupt before ``done`` is written stops here like one during training (resume
        then only finishes)."""
        interrupts.check()
        self.dir.save_npz("conductances.npz", self._network_arrays())
        from ebana.plots import training_curves
        fig = training_curves(self.history, title=f"{self.cfg.dataset} {self.circuit.topology.describe()}"
                                                   f" ({self.cfg.backend}, seed {self.cfg.seed})")
        self.dir.save_figure("curves.png", fig, dpi=120)
        interrupts.check()
        self._write_run_json(status="done")
