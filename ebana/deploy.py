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

__all__ = ["SPLITS", "EVALUATE_KEYS", "check_changes", "evaluate_checkpoint"]

SPLITS = ("train", "test")

EVALUATE_KEYS = ("dataset", "data_dir", "label_column", "label_columns", "test_fraction", "limit_train", "limit_test",
                 "encoding", "seed", "hidden", "skips", "residual", "conv", "graph.*", "loss", "tau", "target_scale",
                 "backend", "norton", "dtype", "max_sweeps", "circuit.*", "nonideal.dac_bits")
"""Config keys a read-out depends on (``section.*``: every key of it): the data and its split (seed), the
network (it must keep the crossbar shapes), the loss, the solver, the circuit and the input DAC. Every
other key (training recipe, device, algorithm, energy, read noise and ADC of the training reads, device
faults and drift) has no effect on the free phase of stored conductances."""


def _evaluated(key: str) -> bool:
    return any(key == k or (k.endswith(".*") and key.startswith(k[:-1])) for k in EVALUATE_KEYS)


def check_changes(changes: dict[str, Any], cfg) -> None:
    """ConfigError for a change that has no effect on a read-out of stored conductances (``cfg``: the
    changed configuration): a key outside :data:`EVALUATE_KEYS`, or circuit.g_min / g_max, which set
    the range of new conductances and, in a read-out, only the row_drive reference G_ref."""
    for key, value in changes.items():
        if not _evaluated(key):
            raise ConfigError(f"{key} = {value!r} has no effect on evaluate (a free-phase read-out of the stored "
                              f"conductances); evaluate can change only {', '.join(EVALUATE_KEYS)}")
        c = cfg.circuit
        if key in ("circuit.g_min", "circuit.g_max") and not (c.line_compensation == "row_drive" and c.lines.on):
            raise ConfigError(f"{key} = {value!r} has no effect on evaluate: the stored conductances stay as "
                              f"trained; g_min/g_max only set the row_drive reference G_ref (with "
                              f"circuit.line_compensation = 'row_drive' and line resistance)")


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
    check_changes(changes or {}, cfg)
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
