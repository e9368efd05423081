"""Experiments as data: a TOML file -> a grid of :class:`~ebana.config.TrainConfig` runs.

Public API: :class:`Experiment`, :class:`RunSpec`, :func:`load_experiment`,
:func:`experiment_from_dict`, :func:`plan`, :func:`run_one`.

An experiment file::

    name = "iris_ratio"
    description = "R_OFF/R_ON sweep for every device model (seed study, PWM)"
    seeds = [0, 1, 2]

    [base]                     # a TrainConfig, exactly as `ebana train --config` reads it
    dataset = "iris"
    [base.device]
    scheme = "pwm"

    [grid]                     # dotted keys -> values; runs = product(grid) x cases x seeds
    "device.model" = ["ideal", "vteam"]
    "device.r_ratio" = [2, 10, 100]

    [[cases]]                  # optional: explicit override sets, each crossed with the grid
    "device.scheme" = "pam"

    [[figures]]                # optional: drawn by the sweep (ebana.sweep.figure)
    file = "ratio.png"
    x = "device.r_ratio"
    y = ["test_acc", "test_loss"]
    hue = "device.model"
    logx = true

Every run config is resolved with :func:`~ebana.config.apply_overrides` (the function the CLI's
``--set`` uses), so a sweep key that does not exist, a ratio <= 1 or an unknown scheme fails in
:func:`plan`, before any run starts. The run seed is ``cfg.seed`` (one per listed seed).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebana.config import TrainConfig, apply_overrides, from_dict, load_toml, to_dict
from ebana.errors import CheckpointError, ConfigError, did_you_mean
from ebana.updates import check_device_config

__all__ = ["Experiment", "RunSpec", "load_experiment", "experiment_from_dict", "plan", "run_one", "run_name"]

logger = logging.getLogger(__name__)

_TOP_KEYS = {"name", "description", "seeds", "base", "grid", "cases", "figures", "command"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """A named grid of training runs."""

    name: str
    description: str = ""
    base: TrainConfig = field(default_factory=TrainConfig)
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    cases: tuple[dict[str, Any], ...] = ({},)
    seeds: tuple[int, ...] = (0,)
    figures: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One run of an experiment: its directory name, overrides (incl. seed) and config."""

    name: str
    overrides: dict[str, Any]
    config: TrainConfig


def experiment_from_dict(data: dict[str, Any], default_name: str = "experiment") -> Experiment:
    """Dict (parsed TOML) -> :class:`Experiment`; unknown top-level keys are errors."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"unknown experiment key {key}{did_you_mean(key, _TOP_KEYS, quote=False)}")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError("experiment [grid] must be a table of dotted keys -> lists of values")
    items = []
    for k, v in grid.items():
        vals = tuple(v) if isinstance(v, list) else (v,)
        if not vals:
            raise ConfigError(f"experiment grid key {k} has no values")
        items.append((k, vals))
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"experiment seeds must be a non-empty list of integers, got {seeds!r}")
    cases = tuple(data.get("cases", [{}])) or ({},)
    return Experiment(name=str(data.get("name", default_name)), description=str(data.get("description", "")),
                      base=from_dict(data.get("base", {})), grid=tuple(items), cases=cases,
                      seeds=tuple(seeds), figures=tuple(data.get("figures", [])))


def load_experiment(path: str | os.PathLike) -> Experiment:
    """Read an experiment TOML file (name defaults to the file's stem)."""
    return experiment_from_dict(load_toml(path), default_name=Path(path).stem)


def _fmt(v: Any) -> str:
    s = f"{v:g}" if isinstance(v, float) else str(v)
    return "".join(c if c.isalnum() or c in "._-+" else "-" for c in s)


def run_name(overrides: dict[str, Any]) -> str:
    """Directory name of a run: ``key=value`` pairs joined by ``__`` (filesystem-safe)."""
    return "__".join(f"{k}={_fmt(v)}" for k, v in overrides.items()) or "run"


def plan(exp: Experiment) -> list[RunSpec]:
    """Resolve and validate every run config of ``exp`` (raises before anything runs)."""
    keys = [k for k, _ in exp.grid]
    specs, seen = [], set()
    for case in exp.cases:
        for combo in itertools.product(*(vals for _, vals in exp.grid)):
            for seed in exp.seeds:
                over = {**case, **dict(zip(keys, combo)), "seed": seed}
                cfg = apply_overrides(exp.base, over)
                check_device_config(cfg.device)
                name = run_name(over)
                if name in seen:
                    raise ConfigError(f"experiment {exp.name}: run {name} is listed twice (grid and cases overlap)")
                seen.add(name)
                specs.append(RunSpec(name, over, cfg))
    return specs


def run_status(run_dir: Path) -> str | None:
    """``done`` / ``running`` / ``interrupted`` / ``failed`` from run.json, None if absent."""
    try:
        return json.loads((run_dir / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def run_one(config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run (or resume, or skip when done) one training run in ``run_dir``; a worker entry point.

    Takes the config as a plain dict so it pickles to process-pool and Dask workers. Returns
    ``{"run_dir", "status", "error"}``; training errors are caught and recorded, not raised.
    """
    try:  # one BLAS thread per worker (no-op if threadpoolctl is absent)
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    from ebana.errors import EbanaError
    from ebana.training import Trainer
    out = Path(run_dir)
    cfg = from_dict(config)
    status = run_status(out)
    if status == "done":
        return {"run_dir": run_dir, "status": "skipped", "error": ""}
    try:
        resume = (out / "checkpoint.npz").exists()
        if resume:
            import numpy as np
            with np.load(out / "checkpoint.npz", allow_pickle=False) as z:
                old = json.loads(str(z["config_json"]))
            if old != json.loads(json.dumps(to_dict(cfg))):
                raise CheckpointError(f"{out} holds a run with a different config; delete it to rerun")
            trainer = Trainer(None, out, resume=True)
        else:
            trainer = Trainer(cfg, out)
        trainer.run()
    except EbanaError as err:
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
        info = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        return {"run_dir": run_dir, "status": "failed", "error": info["error"]}
    return {"run_dir": run_dir, "status": "done", "error": ""}
