"""Experiments and sweeps: validation before any run, tables, restart skips done runs, Dask."""

from __future__ import annotations

import csv
import importlib.util

import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.errors import ConfigError
from ebana.experiments import experiment_from_dict, plan
from ebana.sweep import run_sweep

TINY = {"name": "tiny", "seeds": [0],
        "base": {"dataset": "iris", "epochs": 1, "device": {"model": "ideal", "energy": False}},
        "grid": {"device.r_ratio": [10, 100]},
        "figures": [{"file": "ratio.png", "x": "device.r_ratio", "y": ["test_acc"], "hue": "device.model"}]}


def _exp(**changes):
    data = {**TINY, **changes}
    return experiment_from_dict(data)


@pytest.mark.parametrize("grid,msg", [
    ({"device.r_ratoi": [2]}, "did you mean device.r_ratio"),
    ({"device.r_ratio": [10, 1]}, r"must be in \(1, 1e9\]"),
    ({"device.scheme": ["pwm", "pan"]}, "did you mean 'pam'"),
    ({"device.model": ["vteam", "vtem"]}, "did you mean 'vteam'"),
    ({"lrr": [1e-7]}, "did you mean lr"),
])
def test_bad_sweeps_fail_before_any_run(tmp_path, grid, msg):
    with pytest.raises(ConfigError, match=msg):
        run_sweep(_exp(grid=grid), tmp_path / "s", workers=1)
    assert not (tmp_path / "s").exists()


def test_cli_sweep_bad_key_is_one_line(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('name = "bad"\n[grid]\n"device.r_ratoi" = [2, 3]\n')
    r = CliRunner().invoke(cli, ["sweep", str(f)])
    assert r.exit_code == 1 and "did you mean device.r_ratio" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_plan_crosses_cases_grid_and_seeds():
    exp = _exp(seeds=[0, 1], cases=[{"device.scheme": "pwm"}, {"device.scheme": "pam", "device.pam_pulses": 3}])
    specs = plan(exp)
    assert len(specs) == 2 * 2 * 2
    assert specs[-1].config.device.pam_pulses == 3 and specs[-1].config.seed == 1
    assert specs[0].name == "device.scheme=pwm__device.r_ratio=10__seed=0"


def test_sweep_writes_tables_and_restart_skips_done_runs(tmp_path):
    events = []
    rows = run_sweep(_exp(), tmp_path, workers=2, progress=events.append)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert sorted(e.status for e in events if e.name) == ["done", "done"]
    for name in ("results.csv", "curves.csv", "summary.csv", "summary.md", "ratio.png"):
        assert (tmp_path / name).exists(), name
    with open(tmp_path / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {r["device.r_ratio"] for r in table} == {"10", "100"} and all(r["seed"] == "0" for r in table)
    # issue 18: energy columns (e_energy is NaN here: device.energy = false leaves the write energy unknown)
    assert all(r["e_energy"] == "nan" and float(r["t_sample"]) > 0 for r in table)
    with open(tmp_path / "summary.csv") as fh:
        assert all(float(r["t_sample_mean"]) > 0 for r in csv.DictReader(fh))
    run_dir = tmp_path / "runs" / "device.r_ratio=10__seed=0"
    for name in ("config.toml", "run.json", "metrics.csv"):
        assert (run_dir / name).exists()
    # restart: nothing to do
    events.clear()
    run_sweep(_exp(), tmp_path, workers=1, progress=events.append)
    assert [e.status for e in events] == ["skipped"]
    # an interrupted sweep (one run missing) reruns only that run
    import shutil
    shutil.rmtree(tmp_path / "runs" / "device.r_ratio=100__seed=0")
    events.clear()
    run_sweep(_exp(), tmp_path, workers=1, progress=events.append)
    assert [e.name for e in events if e.name] == ["device.r_ratio=100__seed=0"]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask.distributed not installed")
def test_sweep_on_a_local_dask_cluster(tmp_path):
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        rows = run_sweep(_exp(), tmp_path, scheduler=cluster.scheduler_address)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert (tmp_path / "results.csv").exists()


def test_summary_table_has_chip_energy_and_time_columns():
    """issue 18: every sweep table carries the final epoch's chip energy (J/epoch) and chip time per sample."""
    from ebana.sweep import markdown_table, summarize
    rows = [{"device.model": "vteam", "seed": s, "status": "done", "test_acc": 0.9, "test_loss": 0.1,
             "e_write_total": 1e-9, "pulses_total": 10, "e_energy": e, "t_sample": t}
            for s, e, t in ((0, 2e-8, 4e-7), (1, 4e-8, 6e-7))]
    table = markdown_table(summarize(rows, ["device.model"]), ["device.model"]).splitlines()
    head = [c.strip() for c in table[0].strip("|").split("|")]
    cells = dict(zip(head, (c.strip() for c in table[2].strip("|").split("|"))))
    assert cells["chip energy, last epoch (J)"] == "3e-08" and cells["chip time / sample (s)"] == "5e-07"
    assert cells["write energy, run (J)"] == "1e-09"
