"""The files a run reads besides its configuration, and their sha256.

A run depends on files the config only names: a fitted device model (``device.model =
"fitted:PATH"``), a SPICE diode model file (``circuit.diode.lib``) and a CSV data set
(``dataset = PATH``). The trainer records their sha256 in the checkpoint and ``run.json`` and
refuses to resume when one changed (a resumed run would otherwise mix two data sets or two diodes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ebana.errors import ConfigError

__all__ = ["input_files", "input_sha256", "changed_inputs"]


def input_files(cfg) -> dict[str, str]:
    """Config key -> path of every file the run of ``cfg`` (a TrainConfig) reads."""
    from ebana import datasets
    out: dict[str, str] = {}
    dev = getattr(cfg, "device", None)
    if dev is not None and dev.model and dev.model.startswith("fitted:"):
        out["device.model"] = dev.model[len("fitted:"):]
    if cfg.circuit.diode.lib:
        out["circuit.diode.lib"] = cfg.circuit.diode.lib
    if cfg.dataset not in datasets.names() and Path(cfg.dataset).is_file():
        out["dataset"] = cfg.dataset
    return out


def input_sha256(cfg) -> dict[str, str]:
    """Config key -> sha256 (hex) of the file it names (:func:`input_files`)."""
    from ebana.devices.fitted import model_sha256
    out = {}
    for key, path in input_files(cfg).items():
        if key == "device.model":        # the fitted model's own hash (its read errors name the model)
            out[key] = model_sha256(cfg.device.model)
            continue
        try:
            out[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as err:
            raise ConfigError(f"{key} = {path!r}: cannot read it ({err.strerror})") from None
    return out


def changed_inputs(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """The keys whose file changed: recorded in both with different sha256 (a key recorded in only
    one of them is not compared; the config check covers a changed key)."""
    return [k for k in recorded if k in now and recorded[k] != now[k]]
