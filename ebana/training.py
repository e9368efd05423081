"""Training loop: EqProp phases on a backend, updates, metrics, atomic checkpoints, resume.

A :class:`Trainer` owns one run directory::

    config.toml        the resolved configuration
    run.json           seed, versions, timings, final metrics
    metrics.csv        one row per epoch
    checkpoint.npz     conductances, optimiser state, RNG state, position (atomic writes)
    conductances.npz   final conductances (S), one array per crossbar

Interrupting (Ctrl-C) writes a checkpoint at the last completed batch; ``resume=True``
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import ebana
from ebana import datasets
from ebana.backends import create as create_backend
from ebana.circuit import Circuit
from ebana.config import TrainConfig, config_diff, dump_toml, from_dict, load_toml, to_dict
from ebana.encoding import Encoder
from ebana import interrupts
from ebana.errors import CheckpointError, ConfigError, ConvergenceError, EbanaError, SimulationError
from ebana.losses import create_loss
from ebana.phases import PhaseController
from ebana.rundir import RunDir
from ebana.topology import Topology
from ebana.updates import DeviceUpdate, IdealUpdate, pair_index
from ebana.updates.algorithms import create_algorithm

__all__ = ["Trainer", "build_circuit", "Progress", "load_checkpoint_circuit", "checkpoint_config",
           "estimate_memory"]

logger = logging.getLogger(__name__)

METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds",
                 "mean_sweeps", "verify_max_dv", "e_write", "pulses", "saturated", "dg_ratio", "dg_error"]
"""Per-epoch metrics. Device runs add: write energy of the epoch (J), pulses sent, fraction of
devices at a state bound at the end of the epoch, sum|achieved ΔG| / sum|requested ΔG| and
sum|achieved - requested| / sum|requested| over the epoch; empty for ideal runs."""


@dataclass
class Progress:
    """What the loop reports after every batch (for progress bars)."""

    epoch: int
    batch: int
    n_batches: int
    loss: float
    acc: float
    metrics: dict | None = None   # set at the end of an epoch


BYTES_PER_DEVICE = 64
"""Memory per crossbar device of a training run (B): G, its gradient, optimiser moments and
update temporaries (float64); device runs keep states and pulse arrays too (x2.5)."""


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo (B), None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_memory(cfg: TrainConfig, topology: Topology) -> int:
    """Bytes a run of ``cfg`` on ``topology`` needs beyond its dataset (an upper estimate)."""
    n_dev = sum(c.shape[0] * c.shape[1] for c in topology.crossbars)
    per_device = BYTES_PER_DEVICE * (2.5 if cfg.device.model is not None else 1.0)
    n_nodes = sum(topology.layer_size(q) for q in range(topology.n_layers))
    batch = max(cfg.batch_size, 1000)   # evaluation runs in chunks of 1000 samples
    return int(n_dev * per_device + 3 * batch * n_nodes * 8 * 4)


def build_circuit(cfg: TrainConfig, n_inputs: int, n_classes: int, rng: np.random.Generator) -> Circuit:
    """Topology + circuit with conductances ~ U(init_low, init_high) (default [g_min, g_max]).

    Refuses (ConfigError, with the estimate) a network that would not fit in this machine's
    available memory, before allocating it.
    """
    p = cfg.circuit
    topo = Topology(n_inputs, cfg.hidden, n_classes, skips=cfg.skips,
                    n_bias_input=len(p.bias_input), n_bias_hidden=len(p.bias_hidden))
    need, have = estimate_memory(cfg, topo), _available_memory()
    if have is not None and need > have:
        n_dev = sum(c.shape[0] * c.shape[1] for c in topo.crossbars)
        raise ConfigError(f"network {topo.describe()} ({n_dev:.3g} devices, hidden = {list(cfg.hidden)}) needs about "
                          f"{need / 2**30:.1f} GiB of memory, this machine has {have / 2**30:.1f} GiB available; "
                          f"use fewer or smaller hidden layers")
    return Circuit.random(topo, p, rng, low=cfg.init_low, high=cfg.init_high)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ebana .npz file, or CheckpointError (never numpy's pickle hints)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("not an .npz archive")
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a directory without checkpoint.npz or conductances.npz") from None
    except Exception as err:  # noqa: BLE001 - zipfile, EOF, pickle and format errors of a foreign file
        why = "empty file" if path.exists() and path.stat().st_size == 0 else type(err).__name__
        raise CheckpointError(f"{path} is not an ebana checkpoint ({why})") from None


def _checkpoint_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.npz" if (p / "checkpoint.npz").exists() else p / "conductances.npz"
    return p


def _config_of(z: dict[str, np.ndarray], p: Path) -> TrainConfig:
    try:
        return from_dict(json.loads(str(z["config_json"])))
    except KeyError:
        raise CheckpointError(f"{p} is not an ebana checkpoint (no config_json)") from None
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{p}: stored configuration is not valid JSON ({err})") from None
    except EbanaError as err:
        raise CheckpointError(f"{p}: stored configuration is invalid: {err}") from None


def checkpoint_config(path: str | os.PathLike) -> TrainConfig:
    """The configuration stored in a checkpoint / conductances file or run directory."""
    p = _checkpoint_file(path)
    return _config_of(_read_npz(p), p)


def load_checkpoint_circuit(path: str | os.PathLike) -> tuple[TrainConfig, Circuit]:
    """Config and circuit (current conductances) from a checkpoint or conductances file / run dir."""
    p = _checkpoint_file(path)
    z = _read_npz(p)
    cfg = _config_of(z, p)
    try:
        n_in, n_cls = int(z["n_inputs"]), int(z["n_classes"])
        gs = [z[f"g{k}"] for k in range(int(z["n_crossbars"]))]
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{p} is not a complete ebana checkpoint (missing {err})") from None
    circuit = build_circuit(cfg, n_in, n_cls, np.random.default_rng(0))
    try:
        circuit.set_conductances(gs)
    except ConfigError as err:
        raise CheckpointError(f"{p}: {err}") from None
    return cfg, circuit


class Trainer:
    """One EqProp training run in ``out_dir``.

    ``resume``: continue from the checkpoint there (``cfg`` None: its own configuration; a
    ``cfg`` replaces it, the CLI's ``--override``). Otherwise the directory must hold no run,
    unless ``overwrite`` (its run's files are removed). The directory is locked from here to
    the end of :meth:`run`: a second process gets a clear error.
    """

    def __init__(self, cfg: TrainConfig | None, out_dir: str | os.PathLike, *, resume: bool = False,
                 overwrite: bool = False) -> None:
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
        self.cfg = cfg
        self.data = datasets.load(cfg.dataset, seed=cfg.seed, test_fraction=cfg.test_fraction,
                                  data_dir=cfg.data_dir, label_column=cfg.label_column,
                                  limit_train=cfg.limit_train, limit_test=cfg.limit_test)
        self.encoder = Encoder.fit(cfg.encoding, self.data.x_train)
        self.x_train, self.x_test = self.encoder(self.data.x_train), self.encoder(self.data.x_test)
        self.rng = np.random.default_rng(cfg.seed)
        self.circuit = build_circuit(cfg, self.data.n_features, self.data.n_classes, self.rng)
        self.loss = create_loss(cfg.loss, tau=cfg.tau, target_scale=cfg.target_scale)
        if cfg.device.model is None:
            self.updater = IdealUpdate(cfg.optimizer, [g.shape for g in self.circuit.conductances],
                                       cfg.circuit.g_min, cfg.circuit.g_max)
        else:
            self.updater = create_algorithm(cfg.device, cfg.algorithm, cfg.optimizer, self.circuit.conductances,
                                            cfg.circuit.g_min, cfg.circuit.g_max, lr_ref=cfg.lr,
                                            pairs=pair_index(self.circuit.topology),
                                            rng=np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(1)[0]))
            self.circuit.set_conductances(self.updater.conductances())
        self.e_write_total, self.pulses_total = 0.0, 0
        self._epoch_dev = self._zero_dev()
        self.epoch, self.batch, self.perm = 0, 0, None
        self._sweeps: list[int] = []      # free-phase sweeps of the batches of this epoch so far
        self.history: list[dict] = []
        self.elapsed = 0.0
        self._verify_max = 0.0
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
            opts = {"dtype": cfg.dtype, "max_sweeps": cfg.max_sweeps} if cfg.backend in ("auto", "numpy") else {
                "norton": cfg.norton, "failure_dir": self.out / "failures"}
            self.backend = create_backend(cfg.backend, self.circuit, **opts)
        except BaseException:
            self.dir.unlock()
            raise
        self.phases = PhaseController(self.backend, self.loss, cfg.beta, cfg.centered)
        self._verifier = None

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
            raise CheckpointError(f"{path} differs from the checkpoint's configuration ({k} = {new!r} there, "
                                  f"{old!r} in the checkpoint{f' and {len(diff) - 1} more' if len(diff) > 1 else ''}); "
                                  f"resume does not read config.toml: restore it, or pass the change as "
                                  f"--set {k}=... with --override")

    # ------------------------------------------------------------------ schedule
    @property
    def n_batches(self) -> int:
        return math.ceil(len(self.x_train) / self.cfg.batch_size)

    def lr_at(self, epoch: int, batch: int) -> float:
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
        cfg = self.cfg
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
        logger.info("run %s finished: %d epochs", self.out, cfg.epochs)
        return self.history

    def _run(self, progress: Callable[[Progress], None] | None) -> None:
        cfg = self.cfg
        self.dir.write_text("config.toml", dump_toml(to_dict(cfg)))
        self._write_run_json(status="running")
        while self.epoch < cfg.epochs:
            t0 = time.perf_counter()
            if self.perm is None:
                self.perm = self.rng.permutation(len(self.x_train))
            run_loss = run_acc = 0.0
            seen = 0
            while self.batch < self.n_batches:
                interrupts.check()   # the only place a batch may stop: before it starts
                idx = self.perm[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
                res = self._phases(idx)
                if cfg.verify_every and self.batch % cfg.verify_every == 0:
                    self.verify(self.x_train[idx], self.data.y_train[idx], res, idx)
                grads = self.phases.gradients(res)
                new_g = self.updater.step(self.circuit.conductances, grads, self.lr_at(self.epoch, self.batch))
                self.backend.set_conductances(new_g, validate=False)  # clipped to [g_min, g_max]
                self._account(getattr(self.updater, "report", None))
                self.batch += 1
                self._sweeps.append(int(res.free.sweeps))
                seen += len(idx)
                run_loss += float(res.loss.sum())
                run_acc += float(np.sum(res.pred.argmax(1) == self.data.y_train[idx]))
                if not math.isfinite(run_loss):
                    raise SimulationError(f"non-finite training loss in batch {self.batch} of epoch {self.epoch + 1}: "
                                          f"the circuit's node voltages are not finite")
                if progress:
                    progress(Progress(self.epoch, self.batch, self.n_batches, run_loss / seen, run_acc / seen))
            self.elapsed += time.perf_counter() - t0
            row = self.evaluate()
            row.update(epoch=self.epoch + 1, lr=self.lr_at(self.epoch, self.n_batches - 1),
                       seconds=round(time.perf_counter() - t0, 4),
                       mean_sweeps=float(np.mean(self._sweeps)) if self._sweeps else 0.0,
                       verify_max_dv=self._verify_max if cfg.verify_every else None)
            row.update(self._device_metrics())
            self._verify_max = 0.0
            self._sweeps = []
            self.history.append(row)
            self.epoch, self.batch, self.perm = self.epoch + 1, 0, None
            self._append_metrics(row)
            self.save_checkpoint()
            if progress:
                progress(Progress(self.epoch - 1, self.n_batches, self.n_batches, row["train_loss"],
                                  row["train_acc"], metrics=row))
        self._finish()

    def _phases(self, idx: np.ndarray):
        """EqProp phases of one batch; a numpy-backend ConvergenceError leaves the failing netlist."""
        x, y = self.x_train[idx], self.data.y_train[idx]
        try:
            return self.phases.run(x, y, ids=idx.tolist())
        except ConvergenceError as err:
            if self.cfg.backend == "ngspice":
                raise        # the ngspice backend wrote its own failing netlist
            from ebana.netlist import render
            path = self.out / "failures" / f"failed-free-sample{int(idx[0])}.cir"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(self.circuit, x[0], None, title=f"ebana: numpy solve failed (batch "
                                   f"{self.batch} of epoch {self.epoch + 1}), free phase of sample {int(idx[0])}"))
            raise ConvergenceError(f"{err} (free-phase netlist of sample {int(idx[0])} written to {path})") from None

    # ------------------------------------------------------------------ device accounting
    @staticmethod
    def _zero_dev() -> dict:
        return {"e_write": 0.0, "pulses": 0, "req": 0.0, "ach": 0.0, "err": 0.0, "sat": None}

    def _account(self, rep) -> None:
        if rep is None:
            return
        d = self._epoch_dev
        d["e_write"] += rep.e_write
        d["pulses"] += rep.n_pulses
        d["req"] += rep.dg_requested
        d["ach"] += rep.dg_achieved
        d["err"] += rep.dg_error
        d["sat"] = rep.n_saturated / max(rep.n_devices, 1)
        self.e_write_total += rep.e_write
        self.pulses_total += rep.n_pulses

    def _device_metrics(self) -> dict:
        """Per-epoch device metrics (see METRIC_FIELDS); resets the epoch accumulators."""
        d, self._epoch_dev = self._epoch_dev, self._zero_dev()
        if self.cfg.device.model is None:
            return {}
        req = d["req"] if d["req"] > 0 else float("nan")
        return {"e_write": d["e_write"], "pulses": d["pulses"], "saturated": d["sat"],
                "dg_ratio": d["ach"] / req, "dg_error": d["err"] / req}

    def verify(self, x: np.ndarray, y: np.ndarray, res, idx: np.ndarray) -> float:
        """Re-solve the first samples of a batch with ngspice (Norton netlist); compare every node.

        Logs the largest difference (V) to ``verify.csv``; beyond ``verify_tol`` the run stops
        with a :class:`~ebana.errors.SimulationError`.
        """
        cfg = self.cfg
        k = min(cfg.verify_samples, len(x))
        tol = cfg.verify_tol if cfg.verify_tol is not None else (1e-9 if cfg.dtype == "float64" else 1e-5)
        if self._verifier is None:
            self._verifier = create_backend("ngspice", self.circuit.copy(), norton=True,
                                            failure_dir=self.out / "failures")
        self._verifier.set_conductances([g.copy() for g in self.circuit.conductances])
        i_plus = self.circuit.nudge_currents(self.loss.grad(res.pred[:k], y[:k]), cfg.beta)
        t0 = time.perf_counter()
        ids = idx[:k].tolist()
        worst = 0.0
        for name, inj, ours in (("free", None, res.free), ("nudged", i_plus, res.a)):
            ref = self._verifier.solve(x[:k], inj, phase=f"verify-{name}", sample_ids=ids)
            d = max(float(np.max(np.abs(ref.layers[q] - ours.layers[q][:k])))
                    for q in range(1, self.circuit.topology.n_layers))
            worst = max(worst, d)
        self._verify_max = max(self._verify_max, worst)
        path = self.out / "verify.csv"
        new = not path.exists()
        with open(path, "a") as fh:
            if new:
                fh.write("epoch,batch,samples,max_dv,seconds\n")
            fh.write(f"{self.epoch + 1},{self.batch},{k},{worst:.3e},{time.perf_counter() - t0:.3f}\n")
        logger.info("verify epoch %d batch %d: max |dV| %.2e V", self.epoch + 1, self.batch, worst)
        if worst > tol:
            raise SimulationError(f"verification failed at epoch {self.epoch + 1}, batch {self.batch}: numpy and "
                                  f"ngspice differ by {worst:.2e} V > verify_tol {tol:.1e} V (samples {ids})")
        return worst

    def evaluate(self) -> dict:
        """Free-phase loss and accuracy on the training and test sets."""
        out = {}
        for name, x, y in (("train", self.x_train, self.data.y_train), ("test", self.x_test, self.data.y_test)):
            losses, correct = [], 0
            for k in range(0, len(x), 1000):
                interrupts.check()
                sol = self.phases.free(x[k:k + 1000], ids=list(range(k, min(k + 1000, len(x)))))
                pred = self.circuit.prediction(sol.output)
                losses.append(self.loss.value(pred, y[k:k + 1000]))
                correct += int(np.sum(pred.argmax(1) == y[k:k + 1000]))
            out[f"{name}_loss"] = float(np.concatenate(losses).mean())
            if not math.isfinite(out[f"{name}_loss"]):
                raise SimulationError(f"the {name} loss is {out[f'{name}_loss']} after epoch {self.epoch + 1}: "
                                      f"the circuit's node voltages are not finite (check the circuit parameters)")
            out[f"{name}_acc"] = correct / len(x)
        return out

    # ------------------------------------------------------------------ files
    def _network_arrays(self) -> dict[str, np.ndarray]:
        """What load_checkpoint_circuit needs: conductances, sizes and the resolved config."""
        arrays = {f"g{k}": g for k, g in enumerate(self.circuit.conductances)}
        arrays.update(n_crossbars=np.array(len(arrays)), config_json=np.array(json.dumps(to_dict(self.cfg))),
                      n_inputs=np.array(self.data.n_features), n_classes=np.array(self.data.n_classes))
        return arrays

    def save_checkpoint(self) -> None:
        """Write checkpoint.npz atomically: the state after the last finished batch."""
        arrays = self._network_arrays()
        arrays.update({f"opt_{k}": v for k, v in self.updater.state_dict().items()})
        arrays.update(
            epoch=np.array(self.epoch),
            batch=np.array(self.batch), perm=np.array([] if self.perm is None else self.perm, dtype=np.int64),
            has_perm=np.array(self.perm is not None), elapsed=np.array(self.elapsed),
            rng=np.array(json.dumps(self.rng.bit_generator.state)),
            history=np.array(json.dumps(self.history)),
            epoch_acc=np.array(json.dumps({"sweeps": self._sweeps, "verify_max": self._verify_max})),
            device_acc=np.array(json.dumps({"epoch": self._epoch_dev, "e_write_total": self.e_write_total,
                                             "pulses_total": self.pulses_total})))
        self.dir.save_npz("checkpoint.npz", arrays)

    def _load_checkpoint(self) -> None:
        z = _read_npz(self.ckpt_path)
        try:
            n = int(z["n_crossbars"])
            gs = [z[f"g{k}"] for k in range(n)]
            if [g.shape for g in gs] != [g.shape for g in self.circuit.conductances]:
                raise CheckpointError(f"cannot resume from {self.ckpt_path}: its crossbars have shapes "
                                      f"{[g.shape for g in gs]}, the configuration needs "
                                      f"{[g.shape for g in self.circuit.conductances]}")
            self.circuit.set_conductances(gs)
            self.updater.load_state_dict({k[4:]: z[k] for k in z if k.startswith("opt_")})
            if isinstance(self.updater, DeviceUpdate):   # conductances follow the device states
                self.circuit.set_conductances(self.updater.conductances())
            self.epoch, self.batch = int(z["epoch"]), int(z["batch"])
            self.perm = z["perm"].copy() if bool(z["has_perm"]) else None
            self.elapsed = float(z["elapsed"])
            self.rng.bit_generator.state = json.loads(str(z["rng"]))
            self.history = json.loads(str(z["history"]))
            if "epoch_acc" in z:
                acc = json.loads(str(z["epoch_acc"]))
                self._sweeps, self._verify_max = list(acc["sweeps"]), float(acc["verify_max"])
            if "device_acc" in z:
                acc = json.loads(str(z["device_acc"]))
                self._epoch_dev = acc["epoch"]
                self.e_write_total, self.pulses_total = acc["e_write_total"], acc["pulses_total"]
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"cannot resume from {self.ckpt_path}: incomplete checkpoint ({err})") from None
        except EbanaError as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"cannot resume from {self.ckpt_path}: {err}") from None
        logger.info("resumed at epoch %d, batch %d", self.epoch, self.batch)

    def _append_metrics(self, row: dict) -> None:
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
        w.writeheader()
        for r in self.history:
            w.writerow({k: r.get(k) for k in METRIC_FIELDS})
        self.dir.write_text("metrics.csv", buf.getvalue())

    def versions(self) -> dict:
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
        if error is not None:
            info["error"] = error
        if isinstance(self.updater, DeviceUpdate):
            info["device"] = {**self.updater.describe(), "e_write_total": self.e_write_total,
                              "pulses_total": self.pulses_total}
        self.dir.write_text("run.json", json.dumps(info, indent=2) + "\n")

    def _finish(self) -> None:
        """Final conductances and curves, then run.json ``done`` (last: done means complete)."""
        self.dir.save_npz("conductances.npz", self._network_arrays())
        from ebana.plots import training_curves
        fig = training_curves(self.history, title=f"{self.cfg.dataset} {self.circuit.topology.describe()}"
                                                   f" ({self.cfg.backend}, seed {self.cfg.seed})")
        self.dir.save_figure("curves.png", fig, dpi=120)
        self._write_run_json(status="done")
