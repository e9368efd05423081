"""ebana tune: parameter parsing, bad input, and a 3-trial IRIS study that a rerun continues."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import TrainConfig
from ebana.errors import ConfigError
from ebana.tune import SearchParam, parse_param, tune


@pytest.mark.parametrize("text, want", [("lr=log:1e-8:1e-5", SearchParam("lr", 1e-8, 1e-5, log=True)),
                                        ("beta=0.01:0.5", SearchParam("beta", 0.01, 0.5)),
                                        ("epochs=int:1:5", SearchParam("epochs", 1, 5, integer=True))])
def test_parse_param(text, want):
    assert parse_param(text) == want


@pytest.mark.parametrize("text", ["lr", "lr=1", "lr=a:b", "lr=log:0:1", "lr=2:1", "=1:2", "epochs=int:1.5:3",
                                  "lr=1:2:3"])
def test_parse_param_refuses(text):
    with pytest.raises(ConfigError, match="--param"):
        parse_param(text)


def test_unknown_key_and_metric(tmp_path):
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError, match="unknown config key circuit.gian"):
        tune(TrainConfig(), [parse_param("circuit.gian=1:2")], trials=1, metric="test_acc", study_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown tune metric"):
        tune(TrainConfig(), [parse_param("lr=1e-8:1e-7")], trials=1, metric="acc", study_dir=tmp_path)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        tune(TrainConfig(), [parse_param("lr=-1:1")], trials=1, metric="test_acc", study_dir=tmp_path)


def test_missing_optuna_is_one_line(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_optuna(name, *a, **k):
        if name == "optuna":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    with pytest.raises(ConfigError, match=r"pip install 'ebana\[tune\]'"):
        tune(TrainConfig(), [parse_param("lr=1e-8:1e-7")], trials=1, metric="test_acc", study_dir=tmp_path)


def test_tune_three_trials_then_resume(tmp_path):
    pytest.importorskip("optuna")
    base = tmp_path / "base.toml"
    base.write_text('dataset = "iris"\nepochs = 1\nhidden = [4]\n')
    study = tmp_path / "study"
    args = ["tune", str(base), "--param", "lr=log:1e-8:1e-6", "--param", "beta=log:1e-9:1e-7",
            "--metric", "test_acc", "--study", str(study)]
    r = CliRunner().invoke(cli, [*args, "--trials", "3"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(study / "trials.csv")))
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    assert (study / "study.db").exists() and (study / "trials.png").stat().st_size > 0
    for row in rows:       # every trial is a normal run dir with the sampled values in its config
        cfg_text = (study / row["run"] / "config.toml").read_text()
        assert f"lr = {float(row['lr'])!r}" in cfg_text
        assert 1e-8 <= float(row["lr"]) <= 1e-6 and 0 <= float(row["value"]) <= 1
    assert len({row["lr"] for row in rows}) == 3
    r = CliRunner().invoke(cli, [*args, "--trials", "4"])    # continues: one more trial, the first 3 kept
    assert r.exit_code == 0, r.output
    rows2 = list(csv.DictReader(open(study / "trials.csv")))
    assert len(rows2) == 4 and rows2[:3] == rows
    r = CliRunner().invoke(cli, [*args, "--trials", "4"])    # already complete: nothing runs
    assert r.exit_code == 0 and "trial 4" not in r.output
    assert len(list(csv.DictReader(open(study / "trials.csv")))) == 4


def test_cli_bad_param_is_one_line(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('dataset = "iris"\nepochs = 1\n')
    r = CliRunner().invoke(cli, ["tune", str(base), "--param", "lr=oops", "--study", str(tmp_path / "s")])
    assert r.exit_code == 1 and "--param 'lr=oops'" in r.output
