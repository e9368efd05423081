"""Experiments as data: a TOML file -> a grid of :class:`~ebana.config.TrainConfig` runs.

Public API: :class:`Experiment`, :class:`RunSpec`, :func:`load_experiment`,
:func:`experiment_from_dict`, :func:`plan`, :func:`run_one`, :func:`run_safely`.

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
``--set`` uses), so a sweep key that does not exist, a ratio <= 1, a fractional batch size or an
unknown scheme fails in :func:`plan`, before any run starts. The file's own structure is checked
when it is read (:func:`experiment_from_dict`): ``cases`` and ``figures`` are lists of tables,
``base`` and ``grid`` tables, seeds integers >= 0, the name file-name-safe; a figure needs ``x``,
knows only x/y/hue/where/file/title/logx/logy/xlabel and its ``file`` is a plain .png/.svg/.pdf
name inside the sweep directory. The run seed is ``cfg.seed`` (one per listed seed).

:func:`run_safely` is the sweep's worker entry point: :func:`run_one` with every exception
recorded in the run directory (run.json ``failed``, error.txt) instead of raised.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebana.config import TrainConfig, apply_overrides, config_diff, from_dict, load_toml
from ebana.errors import CheckpointError, ConfigError, did_you_mean
from ebana.rundir import RunDir
from ebana.rundir import run_status as rundir_status
from ebana.updates import check_device_config

__all__ = ["Experiment", "RunSpec", "load_experiment", "experiment_from_dict", "plan", "run_one", "run_name",
           "run_safely", "record_failure", "settle_stopped", "check_figure_file", "FIGURE_SUFFIXES"]

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


_FIGURE_KEYS = {"x", "y", "hue", "where", "file", "title", "logx", "logy", "xlabel"}
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
"""Image formats a sweep figure may be written as."""
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def _check_name(value: Any, what: str) -> str:
    """``value`` if it is a string usable as a file name (letters, digits, ``._+-``), else ConfigError."""
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise ConfigError(f"{what} must be a file-name-safe string (letters, digits, '._+-', at most 100 "
                          f"characters, not starting with '.' or '-'), got {value!r}")
    return value


def _check_table(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a table, got {value!r}")
    return value


def _check_seeds(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                   for s in value)
    if not ok:
        raise ConfigError(f"experiment seeds must be a non-empty list of integers >= 0, got {value!r}")
    return tuple(value)


def _check_grid(value: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"experiment [grid] must be a table of dotted keys -> lists of values, got {value!r}")
    items = []
    for k, v in value.items():
        if k == "seed":
            raise ConfigError(f"experiment grid key seed = {v!r}: list the seeds in seeds = [...] instead")
        vals = tuple(v) if isinstance(v, list) else (v,)
        if not vals:
            raise ConfigError(f"experiment grid key {k} has no values")
        items.append((k, vals))
    return tuple(items)


def _check_cases(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise ConfigError(f"experiment cases must be a list of tables ([[cases]]), got {value!r}")
    for i, case in enumerate(value):
        if "seed" in case:
            raise ConfigError(f"experiment cases[{i}] sets seed = {case['seed']!r}: list the seeds in seeds = [...]")
    return tuple(value) or ({},)


def check_figure_file(value: Any, what: str = "figure file") -> str:
    """``value`` if it is a plain file name (no directory part) with an image suffix, else ConfigError.

    Figures are written inside the sweep directory; an absolute path, ``..`` or a path separator
    could write elsewhere.
    """
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or Path(value).name != value:
        raise ConfigError(f"{what} must be a plain file name inside the sweep directory (letters, digits, "
                          f"'._+-'; no directory, no '..'), got {value!r}")
    if Path(value).suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(f"{what} = {value!r} must end in one of {', '.join(FIGURE_SUFFIXES)}")
    return value


def _check_figure(i: int, spec: Any) -> dict[str, Any]:
    """One [[figures]] table: known keys, a string ``x``, well-typed options, a safe ``file``."""
    where = f"experiment figures[{i}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a table, got {spec!r}")
    for key in spec:
        if key not in _FIGURE_KEYS:
            raise ConfigError(f"unknown key {key} in {where}{did_you_mean(key, _FIGURE_KEYS, quote=False)}; "
                              f"known: {', '.join(sorted(_FIGURE_KEYS))}")
    if not isinstance(spec.get("x"), str) or not spec["x"]:
        raise ConfigError(f"{where} needs x = \"<results column>\" (a string), got x = {spec.get('x')!r}")
    y = spec.get("y", "test_acc")
    if not (isinstance(y, str) or (isinstance(y, list) and y and all(isinstance(v, str) for v in y))):
        raise ConfigError(f"{where}.y must be a column name or a non-empty list of them, got {y!r}")
    for key, typ, name in (("hue", str, "a string"), ("title", str, "a string"), ("xlabel", str, "a string"),
                           ("logx", bool, "true or false"), ("logy", bool, "true or false"),
                           ("where", dict, "a table of column -> value")):
        if key in spec and not isinstance(spec[key], typ):
            raise ConfigError(f"{where}.{key} must be {name}, got {spec[key]!r}")
    check_figure_file(spec.get("file", "figure.png"), f"{where}.file")
    return spec


def _check_figures(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"experiment figures must be a list of tables ([[figures]]), got {value!r}")
    figs = tuple(_check_figure(i, spec) for i, spec in enumerate(value))
    files = [f.get("file", "figure.png") for f in figs]
    for name in files:
        if files.count(name) > 1:
            raise ConfigError(f"experiment figures: file {name!r} is used by {files.count(name)} figures")
    return figs


def experiment_from_dict(data: dict[str, Any], default_name: str = "experiment") -> Experiment:
    """Dict (parsed TOML) -> :class:`Experiment`; unknown top-level keys and mistyped values are
    :class:`~ebana.errors.ConfigError` naming the key and the value."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"unknown experiment key {key}{did_you_mean(key, _TOP_KEYS, quote=False)}")
    name = _check_name(data["name"], "experiment name") if "name" in data else default_name
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"experiment description must be a string, got {description!r}")
    base = _check_table(data.get("base", {}), "experiment [base]")
    return Experiment(name=name, description=description, base=from_dict(base),
                      grid=_check_grid(data.get("grid", {})), cases=_check_cases(data.get("cases", [{}])),
                      seeds=_check_seeds(data.get("seeds", [0])), figures=_check_figures(data.get("figures", [])))


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
    specs, seen = [], {}
    for case in exp.cases:
        for combo in itertools.product(*(vals for _, vals in exp.grid)):
            for seed in exp.seeds:
                over = {**case, **dict(zip(keys, combo)), "seed": seed}
                cfg = apply_overrides(exp.base, over)
                check_device_config(cfg.device)
                name = run_name(over)
                if name in seen:
                    _refuse_same_name(exp.name, name, seen[name], over)
                seen[name] = over
                specs.append(RunSpec(name, over, cfg))
    return specs


def _refuse_same_name(exp_name: str, name: str, first: dict[str, Any], second: dict[str, Any]) -> None:
    """ConfigError for two runs named ``name``: the same overrides listed twice, or two distinct
    values that :func:`run_name` maps to the same directory name."""
    differ = [k for k in {**first, **second} if (k in first) != (k in second) or first.get(k) != second.get(k)]
    if not differ:
        raise ConfigError(f"experiment {exp_name}: run {name} is listed twice (grid and cases overlap)")
    k = differ[0]
    raise ConfigError(f"experiment {exp_name}: {k} = {first.get(k)!r} and {k} = {second.get(k)!r} map to the same "
                      f"run name {name} (run names keep letters, digits and ._+-, other characters become '-', "
                      f"floats 6 significant digits); change one of the values")


def run_status(run_dir: Path) -> str | None:
    """``done`` / ``running`` / ``interrupted`` / ``failed`` of a run directory, None if absent
    (see :func:`ebana.rundir.run_status`: a killed run's ``running`` reads as ``interrupted``)."""
    return rundir_status(run_dir)


def run_one(config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """Run (or resume, or skip when done) one training run in ``run_dir``; a worker entry point.

    Takes the config as a plain dict so it pickles to process-pool and Dask workers. Returns
    ``{"run_dir", "status", "error"}``; training errors are caught and recorded, not raised.
    A run with a checkpoint resumes (if its config is this one); a failed run without one
    starts again; a directory another process trains in is reported, not touched.
    """
    from ebana.errors import EbanaError
    from ebana.checkpoint import checkpoint_config
    from ebana.training import Trainer
    out = Path(run_dir)
    cfg = from_dict(config)
    status = run_status(out)
    if status == "done":
        return {"run_dir": run_dir, "status": "skipped", "error": ""}
    try:
        with _blas_threads(1):
            if (out / "checkpoint.npz").exists():
                if config_diff(checkpoint_config(out / "checkpoint.npz"), cfg):
                    raise CheckpointError(f"{out} holds a run with a different config; delete it to rerun")
                trainer = Trainer(None, out, resume=True)
            else:
                trainer = Trainer(cfg, out, overwrite=True)
            trainer.run()
    except EbanaError as err:
        return record_failure(run_dir, f"{type(err).__name__}: {err}")
    return {"run_dir": run_dir, "status": "done", "error": ""}


@contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """BLAS limited to ``n`` threads inside the block, restored after (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(n):
        yield


def _update_run_json(run: RunDir, **fields: Any) -> None:
    """Set ``fields`` in run.json (kept: what the run wrote there before), atomically."""
    try:
        info = json.loads((run.path / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    info = {**(info if isinstance(info, dict) else {}), **fields}
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"cannot create run directory {run.path}: {err.strerror or err}") from None
    run.write_text("run.json", json.dumps(info, indent=2, default=str) + "\n")


def record_failure(run_dir: str | os.PathLike, error: str, detail: str = "") -> dict[str, Any]:
    """Mark the run in ``run_dir`` failed: run.json status ``failed`` with ``error`` (one line),
    error.txt with ``error`` and ``detail`` (e.g. a traceback). Returns the run_one-style result.

    Nothing is written while another process holds the directory's lock (it is that
    process's run); nor if writing fails (the returned error says so).
    """
    run = RunDir(run_dir)
    error = error.strip().splitlines()[0] if error.strip() else "unknown error"
    result = {"run_dir": str(run_dir), "status": "failed", "error": error}
    if run.held_by_other():
        return {**result, "error": f"{error} (not recorded: {run.path} is in use by another process)"}
    try:
        _update_run_json(run, status="failed", error=error)
        run.write_text("error.txt", error + "\n" + (f"\n{detail.rstrip()}\n" if detail else ""))
    except CheckpointError as err:
        return {**result, "error": f"{error} (not recorded: {err})"}
    return result


def settle_stopped(run_dir: str | os.PathLike) -> str:
    """After the process of a run stopped without finishing it: a run.json that still says
    ``running`` (and whose directory nobody holds) becomes ``interrupted``, so that a rerun
    resumes it. Returns the run's status (``interrupted`` if it has none)."""
    run = RunDir(run_dir)
    try:
        status = json.loads((run.path / "run.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return "interrupted"
    if status == "running" and not run.held_by_other():
        try:
            _update_run_json(run, status="interrupted")
        except CheckpointError as err:
            logger.warning("run %s: %s", run.path, err)
        return "interrupted"
    return status if isinstance(status, str) else "interrupted"


def run_safely(config: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """:func:`run_one`, with any exception (a bug, a broken file system...) recorded as a failed run
    (run.json, error.txt with the traceback) instead of raised; KeyboardInterrupt still propagates.

    The sweep's worker entry point: one run cannot take the others down.
    """
    try:
        return run_one(config, run_dir)
    except Exception as err:  # noqa: BLE001 - the point: record every failure, keep the sweep going
        logger.debug("run %s raised", run_dir, exc_info=True)
        msg = f"{type(err).__name__}: {err}"
        return record_failure(run_dir, msg, traceback.format_exc())
