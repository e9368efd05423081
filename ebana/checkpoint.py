"""Checkpoint files: the network (conductances, sizes, resolved config) and the trainer state.

``conductances.npz`` holds the network arrays; ``checkpoint.npz`` adds the optimiser /
device state (``opt_*``), the position in the epoch, the RNG state and the history. Reading
never unpickles (``allow_pickle=False``) and a foreign or damaged file is a one-line
:class:`~ebana.errors.CheckpointError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ebana.builder import build_circuit
from ebana.circuit import Circuit, CircuitParams
from ebana.cparams import TRAINABLE, param_arrays, param_keys, param_values, with_values
from ebana.config import TrainConfig, from_dict, to_dict
from ebana.errors import CheckpointError, ConfigError, EbanaError

__all__ = ["network_arrays", "trained_params", "read_npz", "checkpoint_file", "checkpoint_config",
           "load_checkpoint_circuit"]


def network_arrays(cfg: TrainConfig, conductances: Sequence[np.ndarray], n_inputs: int,
                   n_classes: int, params: CircuitParams | None = None) -> dict[str, np.ndarray]:
    """What :func:`load_checkpoint_circuit` needs: conductances g0.. (S), sizes, the resolved config,
    and the trained circuit values ``param_<key>`` (V, V/V; ``param_i_bias``: A per neuron node) of
    ``params`` (those of ``train.trainable`` and any that differ from the config's circuit; none for a
    run that trains none)."""
    arrays = {f"g{k}": np.asarray(g) for k, g in enumerate(conductances)}
    arrays.update(n_crossbars=np.array(len(arrays)), config_json=np.array(json.dumps(to_dict(cfg))),
                  n_inputs=np.array(n_inputs), n_classes=np.array(n_classes))
    if params is not None:   # trained now, or trained before a resume that stopped training them
        base = cfg.circuit_params
        names = [n for n in TRAINABLE if n in cfg.train.trainable
                 or not np.array_equal(param_values(params, [n]), param_values(base, [n]))]
        arrays.update({f"param_{k}": v for k, v in param_arrays(params, names).items()})
    return arrays


def trained_params(z: dict[str, np.ndarray], params: CircuitParams) -> CircuitParams:
    """``params`` with the trained circuit values ``param_<key>`` a checkpoint holds (none: unchanged)."""
    names = [n for n, keys in TRAINABLE.items() if all(f"param_{k}" in z for k in keys)]
    if not names:
        return params
    return with_values(params, names, np.concatenate([np.ravel(np.asarray(z[f"param_{k}"], dtype=np.float64))
                                                      for k in param_keys(names)]))


def read_npz(path: Path) -> dict[str, np.ndarray]:
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


def checkpoint_file(path: str | os.PathLike) -> Path:
    """``path``, or in a run directory its checkpoint.npz (else conductances.npz)."""
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
    p = checkpoint_file(path)
    return _config_of(read_npz(p), p)


def load_checkpoint_circuit(path: str | os.PathLike) -> tuple[TrainConfig, Circuit]:
    """Config and circuit (current conductances) from a checkpoint or conductances file / run dir."""
    p = checkpoint_file(path)
    z = read_npz(p)
    cfg = _config_of(z, p)
    try:
        n_in, n_cls = int(z["n_inputs"]), int(z["n_classes"])
        gs = [z[f"g{k}"] for k in range(int(z["n_crossbars"]))]
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{p} is not a complete ebana checkpoint (missing {err})") from None
    drawn = build_circuit(cfg, n_in, n_cls, np.random.default_rng(0))
    try:
        circuit = Circuit(drawn.topology, trained_params(z, drawn.params), gs)
    except ConfigError as err:
        raise CheckpointError(f"{p}: {err}") from None
    return cfg, circuit
