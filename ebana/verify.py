"""Re-solving samples of the training batches in ngspice: the run checks its own fast path.

:class:`NgspiceVerifier` is called after the phases of every ``verify_every``-th batch: it
solves the first ``verify_samples`` samples free and nudged (+beta) with the Norton-reduced
netlist, appends the largest node difference (V) to ``verify.csv`` and stops the run with a
:class:`~ebana.errors.SimulationError` beyond ``verify_tol``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ebana.backends import create as create_backend
from ebana.circuit import Circuit, CompiledCircuit
from ebana.config import TrainConfig
from ebana.errors import SimulationError
from ebana.losses import Loss
from ebana.phases import PhaseResult

__all__ = ["NgspiceVerifier", "default_tolerance"]

logger = logging.getLogger(__name__)


def default_tolerance(cfg: TrainConfig) -> float:
    """``verify_tol``, else 1e-9 V (float64) / 1e-5 V (float32)."""
    if cfg.verify_tol is not None:
        return cfg.verify_tol
    return 1e-9 if cfg.dtype == "float64" else 1e-5


class NgspiceVerifier:
    """Compare a batch's numpy solutions with ngspice on its first samples (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, circuit: Circuit, loss: Loss, out: Path) -> None:
        self.cfg, self.circuit, self.loss, self.out = cfg, circuit, loss, Path(out)
        self.tol = default_tolerance(cfg)
        self.max_dv = 0.0            # largest difference (V) since the last reset (per epoch)
        self._backend = None

    def __call__(self, model: CompiledCircuit, x: np.ndarray, y: np.ndarray, res: PhaseResult,
                 idx: np.ndarray, epoch: int, batch: int) -> float:
        """Largest |V_numpy - V_ngspice| (V) over the nodes of the first samples of the batch,
        solved by the numpy backend as ``res`` with the compiled circuit ``model``."""
        cfg = self.cfg
        k = min(cfg.verify_samples, len(x))
        if self._backend is None:
            self._backend = create_backend("ngspice", self.circuit, conductances=model.conductances, norton=True,
                                           failure_dir=self.out / "failures")
        else:
            self._backend.load(model.conductances, validate=False)
        i_plus = res.i_nudge[:k]          # the nudge of state a, as the training solve used it
        t0 = time.perf_counter()
        ids = idx[:k].tolist()
        worst = 0.0
        for name, inj, ours in (("free", None, res.free), ("nudged", i_plus, res.a)):
            ref = self._backend.solve(x[:k], inj, phase=f"verify-{name}", sample_ids=ids)
            d = max(float(np.max(np.abs(ref.layers[q] - ours.layers[q][:k])))
                    for q in range(1, self.circuit.topology.n_layers))
            worst = max(worst, d)
        self.max_dv = max(self.max_dv, worst)
        path = self.out / "verify.csv"
        new = not path.exists()
        with open(path, "a") as fh:
            if new:
                fh.write("epoch,batch,samples,max_dv,seconds\n")
            fh.write(f"{epoch + 1},{batch},{k},{worst:.3e},{time.perf_counter() - t0:.3f}\n")
        logger.info("verify epoch %d batch %d: max |dV| %.2e V", epoch + 1, batch, worst)
        if worst > self.tol:
            raise SimulationError(f"verification failed at epoch {epoch + 1}, batch {batch}: numpy and "
                                  f"ngspice differ by {worst:.2e} V > verify_tol {self.tol:.1e} V (samples {ids})")
        return worst
