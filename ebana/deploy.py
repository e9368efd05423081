"""Deployment: a trained network's conductances evaluated on a changed circuit, without training.

The conductances (S) of a checkpoint are loaded into the circuit its stored configuration describes
with ``changes`` applied (dotted config keys, e.g. ``circuit.r_wordline = 500`` ohm per cell segment,
``circuit.line_compensation = "row_drive"``), and the free phase alone gives the loss and accuracy of
every requested split: weights trained on ideal wires read out on a resistive array, for example.
No nudged phase and no update; the data are loaded and encoded exactly as training does.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

from ebana.builder import build, make_backend
from ebana.checkpoint import load_checkpoint_circuit
from ebana.circuit import Circuit
from ebana.config import apply_overrides
from ebana.errors import CheckpointError, ConfigError, SimulationError
from ebana.phases import PhaseController
from ebana.training import split_metrics

__all__ = ["SPLITS", "evaluate_checkpoint"]

SPLITS = ("train", "test")


def evaluate_checkpoint(path: str | os.PathLike, changes: dict[str, Any] | None = None,
                        splits: Sequence[str] = ("test",)) -> dict[str, float]:
    """Free-phase loss and accuracy (``{split}_loss``, ``{split}_acc``) of a checkpoint's conductances
    in the circuit of its configuration with ``changes`` applied (ConfigError: unknown key, bad value,
    or a change that alters the crossbar shapes)."""
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ConfigError(f"evaluate split must be one of {', '.join(SPLITS)}, got {bad[0] if bad else 'none'!r}")
    saved, trained = load_checkpoint_circuit(path)
    cfg = apply_overrides(saved, changes) if changes else saved
    parts = build(cfg)
    shapes = [g.shape for g in trained.conductances]
    need = [c.shape for c in parts.circuit.topology.crossbars]
    if shapes != need:
        raise CheckpointError(f"{path}: its crossbars have shapes {shapes}, the changed configuration needs {need}")
    circuit = Circuit(parts.circuit.topology, parts.circuit.params, trained.conductances)
    backend = make_backend(cfg, circuit, os.path.join(os.fspath(path), "failures") if os.path.isdir(path)
                           else "ebana-failures")
    phases = PhaseController(backend, parts.loss, cfg.beta, cfg.centered, readout=parts.readout)
    data = {"train": (parts.x_train, parts.data.y_train), "test": (parts.x_test, parts.data.y_test)}
    out: dict[str, float] = {}
    for name in splits:
        out.update(split_metrics(name, *data[name], phases, circuit, parts.loss))
        if not math.isfinite(out[f"{name}_loss"]):
            raise SimulationError(f"the {name} loss of {path} is {out[f'{name}_loss']}: the node voltages are "
                                  f"not finite (check the changed circuit parameters)")
    return out
