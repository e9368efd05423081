"""Hostile inputs to `ebana sweep` and `ebana tune`: stale sweep directories, failed runs and the
exit code, dry-run option checks, run-name collisions, and studies continued with other options."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.errors import ConfigError
from ebana.experiments import experiment_from_dict, plan
from ebana import sweep
from ebana.sweep import run_sweep

SWEEP_TOML = """name = "tiny"
seeds = [0]
[base]
dataset = "iris"
epochs = 1
[base.device]
model = "ideal"
energy = false
[grid]
"device.r_ratio" = [10, 100]
"""


def _sweep(tmp_path, text: str = SWEEP_TOML, *extra: str):
    f = tmp_path / "tiny.toml"
    f.write_text(text)
    return CliRunner().invoke(cli, ["sweep", str(f), "--workers", "1", "--out", str(tmp_path / "sw"), *extra])


def _lines(output: str) -> list[str]:
    return [ln for ln in output.strip().splitlines() if ln.strip()]


# ---------------------------------------------------------------------- 1. stale sweep directories
def test_sweep_refuses_a_directory_of_runs_made_with_another_config(tmp_path):
    r = _sweep(tmp_path)
    assert r.exit_code == 0, r.output
    before = (tmp_path / "sw" / "results.csv").read_text()
    source = (tmp_path / "sw" / "experiment.toml").read_text()
    r = _sweep(tmp_path, SWEEP_TOML.replace("epochs = 1", "epochs = 2"))
    assert r.exit_code == 1, r.output
    assert len(_lines(r.output)) == 1, r.output
    line = r.output.strip()
    assert line.startswith("Error: sweep directory") and str(tmp_path / "sw") in line
    assert "epochs 1 -> 2" in line and "--out" in line
    # nothing was touched: results and the experiment copy are those of the runs
    assert (tmp_path / "sw" / "results.csv").read_text() == before
    assert (tmp_path / "sw" / "experiment.toml").read_text() == source
    # the dry run says the same
    r = _sweep(tmp_path, SWEEP_TOML.replace("epochs = 1", "epochs = 2"), "--dry-run")
    assert r.exit_code == 1 and "epochs 1 -> 2" in r.output


def test_sweep_rerun_with_only_comments_changed_skips_finished_runs(tmp_path):
    assert _sweep(tmp_path).exit_code == 0
    info = (tmp_path / "sw" / "runs" / "device.r_ratio=10__seed=0" / "run.json").read_text()
    r = _sweep(tmp_path, "# the same experiment, reformatted\n" + SWEEP_TOML.replace("epochs = 1", "epochs = 1  # one"))
    assert r.exit_code == 0, r.output
    assert "done: 2/2 runs finished" in r.output and "] done:" not in r.output   # no run trained again
    assert (tmp_path / "sw" / "runs" / "device.r_ratio=10__seed=0" / "run.json").read_text() == info


def test_sweep_api_refuses_stale_runs_and_allows_new_grid_points(tmp_path):
    data = {"name": "tiny", "seeds": [0],
            "base": {"dataset": "iris", "epochs": 1, "device": {"model": "ideal", "energy": False}},
            "grid": {"device.r_ratio": [10]}}
    run_sweep(experiment_from_dict(data), tmp_path, workers=1)
    grown = {**data, "grid": {"device.r_ratio": [10, 100]}}        # a new grid point: the old run is valid
    sweep.check_existing_runs(plan(experiment_from_dict(grown)), tmp_path)
    moved = {**data, "base": {**data["base"], "data_dir": str(tmp_path)}}   # where data is, not what it is
    sweep.check_existing_runs(plan(experiment_from_dict(moved)), tmp_path)
    changed = {**data, "base": {**data["base"], "lr": 1e-7}}
    with pytest.raises(ConfigError, match=r"run device.r_ratio=10__seed=0: lr .* -> 1e-07"):
        run_sweep(experiment_from_dict(changed), tmp_path, workers=1)


# ---------------------------------------------------------------------- 2. failed runs -> exit 1
def test_sweep_with_a_failed_run_exits_nonzero(tmp_path, monkeypatch):
    from tests.test_sweep_reliability import inject_evaluate_fault
    restore = inject_evaluate_fault(monkeypatch)
    r = _sweep(tmp_path)
    assert r.exit_code == 1, r.output
    last = _lines(r.output)[-1]
    assert last.startswith("Error: 1 of 2 runs did not finish (first: device.r_ratio=100__seed=0, failed)")
    assert "error.txt" in last and "results.csv" in last
    rows = list(csv.DictReader(open(tmp_path / "sw" / "results.csv")))
    assert [row["status"] for row in rows] == ["done", "failed"]     # the tables are still written
    restore()
    r = _sweep(tmp_path)                                               # a rerun retries it: exit 0
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------------- 3. dry-run checks options
@pytest.mark.parametrize("args,msg", [
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--workers", "-1"], "--workers must be >= 1, got -1"),
    (["--scheduler", "foo"], "--scheduler must be a Dask scheduler address"),
])
def test_dry_run_validates_workers_and_scheduler(tmp_path, args, msg):
    r = _sweep(tmp_path, SWEEP_TOML, "--dry-run", *args)
    assert r.exit_code == 1 and msg in r.output, r.output
    assert len(_lines(r.output)) == 1, r.output
    assert not (tmp_path / "sw").exists()


# ---------------------------------------------------------------------- 4. run-name collisions
def test_two_values_with_one_run_name_get_an_accurate_message():
    exp = experiment_from_dict({"name": "names", "base": {"epochs": 1},
                                "grid": {"dataset": ["cfg/gates.csv", "cfg-gates.csv"]}})
    with pytest.raises(ConfigError) as err:
        plan(exp)
    msg = str(err.value)
    assert "listed twice" not in msg
    assert "dataset = 'cfg/gates.csv' and dataset = 'cfg-gates.csv' map to the same run name" in msg


def test_overlapping_grid_and_cases_still_say_listed_twice():
    exp = experiment_from_dict({"name": "dup", "base": {"dataset": "iris"}, "grid": {"device.r_ratio": [10]},
                                "cases": [{"device.r_ratio": 10}, {"device.r_ratio": 10}]})
    with pytest.raises(ConfigError, match="listed twice"):
        plan(exp)


def test_run_names_are_unchanged():
    exp = experiment_from_dict({"name": "n", "base": {"dataset": "iris"},
                                "grid": {"device.r_ratio": [10, 1e3], "hidden": [[4, 3]]}})
    assert [s.name for s in plan(exp)] == ["device.r_ratio=10__hidden=-4--3-__seed=0",
                                           "device.r_ratio=1000__hidden=-4--3-__seed=0"]


# ---------------------------------------------------------------------- 5./6. tune studies
@pytest.fixture
def study(tmp_path):
    """A study of one completed trial (lr=1e-8:1e-6, epochs 1); returns a runner of `ebana tune`."""
    pytest.importorskip("optuna")
    base = tmp_path / "base.toml"
    base.write_text('dataset = "iris"\nepochs = 1\nhidden = [4]\n')

    def tune(*args: str, trials: int = 2):
        return CliRunner().invoke(cli, ["tune", str(base), "--trials", str(trials), "--study",
                                        str(tmp_path / "st"), *args])

    r = tune("--param", "lr=1e-8:1e-6", trials=1)
    assert r.exit_code == 0, r.output
    return tune


@pytest.mark.parametrize("args,msg", [
    (["--param", "lr=1e-8:1e-6", "--set", "epochs=2"], "another base config (epochs 1 -> 2)"),
    (["--param", "lr=1e-7:1e-5"], "searched lr=1e-08:1e-06, now --param lr=1e-07:1e-05"),
    (["--param", "lr=log:1e-8:1e-6"], "now --param lr=log:1e-08:1e-06"),
    (["--param", "beta=1e-9:1e-8"], "searched lr=1e-08:1e-06, which no --param gives now"),
    (["--param", "lr=1e-8:1e-6", "--param", "beta=1e-9:1e-8"], "did not search beta"),
    (["--param", "lr=1e-8:1e-6", "--metric", "train_acc"], "scores trials by 'test_acc', not 'train_acc'"),
])
def test_tune_refuses_to_continue_a_study_with_other_options(study, tmp_path, args, msg):
    before = (tmp_path / "st" / "trials.csv").read_text()
    r = study(*args)
    assert r.exit_code == 1, r.output
    assert len(_lines(r.output)) == 1 and msg in r.output and str(tmp_path / "st") in r.output, r.output
    assert "internal error" not in r.output
    assert (tmp_path / "st" / "trials.csv").read_text() == before
    assert 'epochs = 1' in (tmp_path / "st" / "base.toml").read_text()


def test_tune_continues_a_study_with_the_same_options(study, tmp_path):
    (tmp_path / "base.toml").write_text('# a comment\ndataset = "iris"\nhidden = [4]\nepochs = 1\n')
    r = study("--param", "lr=1e-8:1e-6")
    assert r.exit_code == 0, r.output
    assert "trial 1: COMPLETE" in r.output and "best: trial" in r.output
    rows = list(csv.DictReader(open(tmp_path / "st" / "trials.csv")))
    assert [row["trial"] for row in rows] == ["0", "1"]
