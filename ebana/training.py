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
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import ebana
from ebana import datasets
from ebana.backends import create as create_backend
from ebana.circuit import Circuit
from ebana.config import TrainConfig, dump_toml, from_dict, to_dict
from ebana.encoding import Encoder
from ebana.errors import CheckpointError
from ebana.losses import create_loss
from ebana.phases import PhaseController
from ebana.topology import Topology
from ebana.updates import DeviceUpdate, IdealUpdate, pair_index
from ebana.updates.algorithms import create_algorithm

__all__ = ["Trainer", "build_circuit", "Progress", "load_checkpoint_circuit"]

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


def build_circuit(cfg: TrainConfig, n_inputs: int, n_classes: int, rng: np.random.Generator) -> Circuit:
    """Topology + circuit with conductances ~ U(init_low, init_high) (default [g_min, g_max])."""
    p = cfg.circuit
    topo = Topology(n_inputs, cfg.hidden, n_classes, skips=cfg.skips,
                    n_bias_input=len(p.bias_input), n_bias_hidden=len(p.bias_hidden))
    return Circuit.random(topo, p, rng, low=cfg.init_low, high=cfg.init_high)


def _atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint_circuit(path: str | os.PathLike) -> tuple[TrainConfig, Circuit]:
    """Config and circuit (current conductances) from a checkpoint or conductances file / run dir."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.npz" if (p / "checkpoint.npz").exists() else p / "conductances.npz"
    try:
        with np.load(p, allow_pickle=False) as z:
            cfg = from_dict(json.loads(str(z["config_json"])))
            n_in, n_cls = int(z["n_inputs"]), int(z["n_classes"])
            gs = [z[f"g{k}"] for k in range(int(z["n_crossbars"]))]
    except (OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"cannot read checkpoint {p}: {err}") from None
    circuit = build_circuit(cfg, n_in, n_cls, np.random.default_rng(0))
    circuit.set_conductances(gs)
    return cfg, circuit


class Trainer:
    """One EqProp training run in ``out_dir``."""

    def __init__(self, cfg: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False) -> None:
        self.out = Path(out_dir)
        self.ckpt_path = self.out / "checkpoint.npz"
        if resume:
            if not self.ckpt_path.exists():
                raise CheckpointError(f"--resume: no checkpoint in {self.out}")
            with np.load(self.ckpt_path, allow_pickle=False) as z:
                cfg = from_dict(json.loads(str(z["config_json"])))
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
        self.history: list[dict] = []
        self.elapsed = 0.0
        if resume:
            self._load_checkpoint()
        opts = {"dtype": cfg.dtype, "max_sweeps": cfg.max_sweeps} if cfg.backend in ("auto", "numpy") else {
            "norton": cfg.norton, "failure_dir": self.out / "failures"}
        self.backend = create_backend(cfg.backend, self.circuit, **opts)
        self.phases = PhaseController(self.backend, self.loss, cfg.beta, cfg.centered)
        self._verifier = None
        self._verify_max = 0.0

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
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.out / "config.toml", dump_toml(to_dict(cfg)))
        if self.epoch == 0 and self.batch == 0:
            self._write_run_json(status="running")
        try:
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                if self.perm is None:
                    self.perm = self.rng.permutation(len(self.x_train))
                run_loss = run_acc = 0.0
                seen = 0
                sweeps = []
                while self.batch < self.n_batches:
                    idx = self.perm[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
                    res = self.phases.run(self.x_train[idx], self.data.y_train[idx], ids=idx.tolist())
                    if cfg.verify_every and self.batch % cfg.verify_every == 0:
                        self.verify(self.x_train[idx], self.data.y_train[idx], res, idx)
                    grads = self.phases.gradients(res)
                    new_g = self.updater.step(self.circuit.conductances, grads,
                                              self.lr_at(self.epoch, self.batch))
                    self.backend.set_conductances(new_g, validate=False)  # clipped to [g_min, g_max]
                    self._account(getattr(self.updater, "report", None))
                    self.batch += 1
                    sweeps.append(res.free.sweeps)
                    seen += len(idx)
                    run_loss += float(res.loss.sum())
                    run_acc += float(np.sum(res.pred.argmax(1) == self.data.y_train[idx]))
                    if progress:
                        progress(Progress(self.epoch, self.batch, self.n_batches, run_loss / seen,
                                          run_acc / seen))
                self.elapsed += time.perf_counter() - t0
                row = self.evaluate()
                row.update(epoch=self.epoch + 1, lr=self.lr_at(self.epoch, self.n_batches - 1),
                           seconds=round(time.perf_counter() - t0, 4),
                           mean_sweeps=float(np.mean(sweeps)) if sweeps else 0.0,
                           verify_max_dv=self._verify_max if cfg.verify_every else None)
                row.update(self._device_metrics())
                self._verify_max = 0.0
                self.history.append(row)
                self.epoch, self.batch, self.perm = self.epoch + 1, 0, None
                self._append_metrics(row)
                self.save_checkpoint()
                if progress:
                    progress(Progress(self.epoch - 1, self.n_batches, self.n_batches, row["train_loss"],
                                      row["train_acc"], metrics=row))
        except KeyboardInterrupt:
            self.save_checkpoint()
            self._write_run_json(status="interrupted")
            raise
        self._finish()
        return self.history

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
        from ebana.errors import SimulationError
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
                sol = self.phases.free(x[k:k + 1000], ids=list(range(k, min(k + 1000, len(x)))))
                pred = self.circuit.prediction(sol.output)
                losses.append(self.loss.value(pred, y[k:k + 1000]))
                correct += int(np.sum(pred.argmax(1) == y[k:k + 1000]))
            out[f"{name}_loss"] = float(np.concatenate(losses).mean())
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
        arrays = self._network_arrays()
        arrays.update({f"opt_{k}": v for k, v in self.updater.state_dict().items()})
        arrays.update(
            epoch=np.array(self.epoch),
            batch=np.array(self.batch), perm=np.array([] if self.perm is None else self.perm, dtype=np.int64),
            has_perm=np.array(self.perm is not None), elapsed=np.array(self.elapsed),
            rng=np.array(json.dumps(self.rng.bit_generator.state)),
            history=np.array(json.dumps(self.history)),
            device_acc=np.array(json.dumps({"epoch": self._epoch_dev, "e_write_total": self.e_write_total,
                                             "pulses_total": self.pulses_total})))
        _atomic_save_npz(self.ckpt_path, arrays)

    def _load_checkpoint(self) -> None:
        try:
            with np.load(self.ckpt_path, allow_pickle=False) as z:
                n = int(z["n_crossbars"])
                self.circuit.set_conductances([z[f"g{k}"] for k in range(n)])
                self.updater.load_state_dict({k[4:]: z[k] for k in z.files if k.startswith("opt_")})
                if isinstance(self.updater, DeviceUpdate):   # conductances follow the device states
                    self.circuit.set_conductances(self.updater.conductances())
                self.epoch, self.batch = int(z["epoch"]), int(z["batch"])
                self.perm = z["perm"].copy() if bool(z["has_perm"]) else None
                self.elapsed = float(z["elapsed"])
                self.rng.bit_generator.state = json.loads(str(z["rng"]))
                self.history = json.loads(str(z["history"]))
                if "device_acc" in z.files:
                    acc = json.loads(str(z["device_acc"]))
                    self._epoch_dev = acc["epoch"]
                    self.e_write_total, self.pulses_total = acc["e_write_total"], acc["pulses_total"]
        except (OSError, KeyError, ValueError) as err:
            raise CheckpointError(f"cannot resume from {self.ckpt_path}: {err}") from None
        logger.info("resumed at epoch %d, batch %d", self.epoch, self.batch)

    def _append_metrics(self, row: dict) -> None:
        path = self.out / "metrics.csv"
        rows = self.history
        tmp = path.with_name(".tmp-metrics.csv")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRIC_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k) for k in METRIC_FIELDS})
        os.replace(tmp, path)

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

    def _write_run_json(self, status: str) -> None:
        info = {"status": status, "seed": self.cfg.seed, "dataset": self.cfg.dataset,
                "topology": self.circuit.topology.describe(), "n_train": len(self.x_train),
                "n_test": len(self.x_test), "train_seconds": round(self.elapsed, 3),
                "epochs_done": self.epoch, "versions": self.versions(),
                "final": self.history[-1] if self.history else None}
        if isinstance(self.updater, DeviceUpdate):
            info["device"] = {**self.updater.describe(), "e_write_total": self.e_write_total,
                              "pulses_total": self.pulses_total}
        _atomic_write(self.out / "run.json", json.dumps(info, indent=2) + "\n")

    def _finish(self) -> None:
        _atomic_save_npz(self.out / "conductances.npz", self._network_arrays())
        self._write_run_json(status="done")
        from ebana.plots import training_curves
        fig = training_curves(self.history, title=f"{self.cfg.dataset} {self.circuit.topology.describe()}"
                                                   f" ({self.cfg.backend}, seed {self.cfg.seed})")
        fig.savefig(self.out / "curves.png", dpi=120)
        import matplotlib.pyplot as plt
        plt.close(fig)
