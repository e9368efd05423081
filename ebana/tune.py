"""Hyperparameter search over config keys with optuna (optional extra: ``pip install ebana[tune]``).

:func:`parse_param` reads one search dimension, ``KEY=LOW:HIGH`` (uniform float),
``KEY=log:LOW:HIGH`` (log-uniform float) or ``KEY=int:LOW:HIGH`` (integer), KEY any dotted config
key (``lr``, ``beta``, ``circuit.gain``). :func:`tune` runs trials until the study holds ``trials``
completed ones: each trial is a normal training run in ``STUDY/trial-NNNN`` with the sampled
values applied to the base config, scored by the last epoch's ``metric`` (accuracies maximised,
losses minimised). The study lives in ``STUDY/study.db`` (optuna SQLite storage), so rerunning the
same command continues it; continuing with another base config, --param set or ranges, or metric
is refused (the study's trials would not be comparable). After every trial ``STUDY/trials.csv``
and ``STUDY/trials.png`` are rewritten (one row per trial: number, state, value, parameters, run
directory).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ebana.config import EARLY_STOP_METRICS, TrainConfig, apply_overrides, dump_toml, from_dict, \
    load_toml, to_dict
from ebana.errors import ConfigError, EbanaError, SimulationError

__all__ = ["SearchParam", "parse_param", "tune", "MAXIMIZE", "STUDY_NAME"]

logger = logging.getLogger(__name__)

MAXIMIZE = ("test_acc", "train_acc")
"""Metrics a study maximises (the others, losses, are minimised)."""
STUDY_NAME = "ebana"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search dimension: config ``key`` in [low, high], log-uniform when ``log``, integer when ``integer``."""

    key: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


def parse_param(text: str) -> SearchParam:
    """``KEY=[log:|int:]LOW:HIGH`` -> SearchParam; ConfigError naming the text when malformed."""
    key, sep, spec = text.partition("=")
    parts = spec.split(":")
    kind = parts[0] if parts and parts[0] in ("log", "int") else ""
    bounds = parts[1:] if kind else parts
    if not sep or not key.strip() or len(bounds) != 2:
        raise ConfigError(f"--param {text!r}: expected KEY=LOW:HIGH, KEY=log:LOW:HIGH or KEY=int:LOW:HIGH")
    try:
        low, high = (int(b) if kind == "int" else float(b) for b in bounds)
    except ValueError:
        raise ConfigError(f"--param {text!r}: bounds must be {'integers' if kind == 'int' else 'numbers'}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high) or (kind == "log" and low <= 0):
        raise ConfigError(f"--param {text!r}: need finite LOW < HIGH{' and LOW > 0 (log)' if kind == 'log' else ''}")
    return SearchParam(key.strip(), low, high, log=kind == "log", integer=kind == "int")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("ebana tune needs optuna: pip install 'ebana[tune]' (or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _check(base: TrainConfig, params: list[SearchParam], metric: str) -> None:
    """Every key known and both bounds valid for it; a known metric; no key twice."""
    if metric not in EARLY_STOP_METRICS:
        raise ConfigError(f"unknown tune metric {metric!r}; known: {', '.join(EARLY_STOP_METRICS)}")
    keys = [p.key for p in params]
    if not params:
        raise ConfigError("ebana tune needs at least one --param KEY=LOW:HIGH")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--param lists a key twice: {keys}")
    for p in params:
        for v in (p.low, p.high):
            apply_overrides(base, {p.key: v})       # unknown key / bad value -> ConfigError naming it


def _distribution(p: SearchParam):
    """The optuna distribution ``p`` samples from (what a trial records for its key)."""
    from optuna.distributions import FloatDistribution, IntDistribution
    if p.integer:
        return IntDistribution(int(p.low), int(p.high), log=p.log)
    return FloatDistribution(p.low, p.high, log=p.log)


def _spec(key: str, dist: Any) -> str:
    """A recorded distribution as the --param text that gives it (``lr=log:1e-08:1e-06``)."""
    if not hasattr(dist, "low"):     # not one ebana samples from (a study made by other means)
        return f"{key} ({dist!r})"
    kind = "int:" if type(dist).__name__ == "IntDistribution" else "log:" if dist.log else ""
    return f"{key}={kind}{dist.low:g}:{dist.high:g}"


def _check_same_study(study, study_dir: Path, base: TrainConfig, params: list[SearchParam], metric: str) -> None:
    """ConfigError if the trials ``study`` already holds were made with another base config
    (``study_dir/base.toml``), another --param set or ranges, or another metric."""
    if not study.trials:
        return
    fix = "rerun with the study's options, or start a new study (--study DIR) for the new ones"
    old_metric = study.user_attrs.get("metric")
    if old_metric is not None and old_metric != metric:
        raise ConfigError(f"study {study_dir} scores trials by {old_metric!r}, not {metric!r}; {fix}")
    _check_same_base(study_dir, base, fix)
    new = {p.key: _distribution(p) for p in params}
    old: dict[str, Any] = {}
    for t in study.trials:
        for k, dist in t.distributions.items():
            old.setdefault(k, dist)
    for k in [*old, *new]:
        if k not in new:
            raise ConfigError(f"study {study_dir} searched {_spec(k, old[k])}, which no --param gives now; {fix}")
        if k not in old:
            raise ConfigError(f"study {study_dir} did not search {k} (--param {_spec(k, new[k])} is new); {fix}")
        if old[k] != new[k]:
            raise ConfigError(f"study {study_dir} searched {_spec(k, old[k])}, now --param {_spec(k, new[k])}; {fix}")


def _check_same_base(study_dir: Path, base: TrainConfig, fix: str) -> None:
    """ConfigError if ``study_dir/base.toml`` (the study's base config) differs from ``base``."""
    path = study_dir / "base.toml"
    if not path.exists():
        return
    try:
        old = from_dict(load_toml(path))
    except EbanaError as err:
        raise ConfigError(f"study {study_dir}: its base config {path} cannot be read ({err})") from None
    from ebana.sweep import config_change
    change = config_change(old, base)
    if change:
        raise ConfigError(f"study {study_dir} was run with another base config ({change}); {fix}")


def _rows(study, study_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for t in study.trials:
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name, "value": t.value}
        row.update(t.params)
        row["run"] = t.user_attrs.get("run", "")
        rows.append(row)
    return rows


def _write_table(study, study_dir: Path, metric: str) -> list[dict[str, Any]]:
    from ebana.sweep import write_csv
    rows = _rows(study, study_dir)
    write_csv(study_dir / "trials.csv", rows)
    _figure(rows, metric, study.direction.name == "MAXIMIZE").savefig(study_dir / "trials.png", dpi=120)
    return rows


def _figure(rows: list[dict[str, Any]], metric: str, maximize: bool):
    """Trial values and the best so far against the trial number."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    done = [(r["trial"], r["value"]) for r in rows if r["state"] == "COMPLETE"]
    if done:
        n, v = zip(*done)
        best, acc = [], None
        for x in v:
            acc = x if acc is None else (max(acc, x) if maximize else min(acc, x))
            best.append(acc)
        ax.plot(n, v, "o", label="trial")
        ax.step(n, best, where="post", label="best so far")
        ax.legend()
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"ebana tune: {len(done)} completed trials")
    fig.tight_layout()
    return fig


def tune(base: TrainConfig, params: list[SearchParam], *, trials: int, metric: str, study_dir: str | Path,
         on_trial: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run (or continue) the study in ``study_dir`` until it has ``trials`` completed trials.

    Returns the trial rows (also in ``trials.csv``). A trial whose solve fails
    (:class:`~ebana.errors.SimulationError`) is recorded as FAIL and the search goes on."""
    from ebana.training import Trainer
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    _check(base, params, metric)
    optuna = _optuna()
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(study_dir / 'study.db').resolve()}"
    direction = "maximize" if metric in MAXIMIZE else "minimize"
    probe = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction=direction, load_if_exists=True)
    if probe.direction.name.lower() != direction:
        raise ConfigError(f"study {study_dir} {probe.direction.name.lower()}s; metric {metric!r} would {direction}")
    _check_same_study(probe, study_dir, base, params, metric)   # never mix trials of two searches
    probe.set_user_attr("metric", metric)
    (study_dir / "base.toml").write_text(dump_toml(to_dict(base)), encoding="utf-8")
    sampler = optuna.samplers.TPESampler(seed=base.seed + len(probe.trials))
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=sampler)

    def objective(trial) -> float:
        values = {}
        for p in params:
            if p.integer:
                values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log)
            else:
                values[p.key] = trial.suggest_float(p.key, p.low, p.high, log=p.log)
        cfg = apply_overrides(base, values)
        run = study_dir / f"trial-{trial.number:04d}"
        trial.set_user_attr("run", run.name)
        history = Trainer(cfg, run, overwrite=True).run()
        value = float(history[-1][metric])
        logger.info("trial %d: %s -> %s = %.6g", trial.number, values, metric, value)
        return value

    def after(study, trial) -> None:
        rows = _write_table(study, study_dir, metric)
        if on_trial is not None:
            on_trial(rows[-1])

    complete = sum(t.state.name == "COMPLETE" for t in study.trials)
    if trials > complete:
        study.optimize(objective, n_trials=trials - complete, catch=(SimulationError,), callbacks=[after])
    return _write_table(study, study_dir, metric)
