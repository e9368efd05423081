"""The ``realistic_chip`` [nonideal] preset (issue 16): loads, in range, one-line errors, trains IRIS."""

from __future__ import annotations

import csv
import math
from dataclasses import fields
from pathlib import Path

import pytest

from ebana.config import apply_overrides, dump_toml, from_dict, load_toml, preset, to_dict
from ebana.errors import ConfigError
from ebana.experiments import load_experiment, plan
from ebana.nonideal import MAX_BITS, PRESETS, NonIdealConfig
from ebana.training import Trainer

SWEEP = Path(__file__).resolve().parents[1] / "experiments" / "nonideal" / "realistic_chip.toml"


def test_preset_fills_its_values_and_every_value_is_in_range():
    ni = NonIdealConfig(preset="realistic_chip")
    for name, value in PRESETS["realistic_chip"].items():
        assert getattr(ni, name) == value
    assert 0 <= ni.stuck_on + ni.stuck_off <= 1
    for name in ("d2d", "c2c", "read_noise", "drift_nu"):
        assert 0 < getattr(ni, name) < 1, name
    assert ni.d2d <= 3.0
    for name in ("adc_bits", "dac_bits"):
        assert 1 <= getattr(ni, name) <= MAX_BITS
    untouched = set(f.name for f in fields(ni)) - set(PRESETS["realistic_chip"]) - {"preset"}
    for name in untouched:   # read disturb, retention, pulse DAC, ADC range: not part of the preset
        assert getattr(ni, name) == getattr(NonIdealConfig(), name), name
    assert ni.measured and ni.faulty


def test_given_keys_win_and_the_config_round_trips(tmp_path):
    cfg = from_dict({"dataset": "iris", "device": {"model": "vteam"},
                     "nonideal": {"preset": "realistic_chip", "stuck_on": 0.1}})
    assert cfg.nonideal.stuck_on == 0.1 and cfg.nonideal.adc_bits == 9
    path = tmp_path / "config.toml"
    path.write_text(dump_toml(to_dict(cfg)))
    assert from_dict(load_toml(path)) == cfg
    over = apply_overrides(apply_overrides(preset("iris"), {"device.model": "vteam"}),
                           {"nonideal.preset": "realistic_chip"})
    assert over.nonideal == NonIdealConfig(preset="realistic_chip")


@pytest.mark.parametrize("name", ["realistic", "chip", "", "REALISTIC_CHIP"])
def test_bad_preset_name_is_a_one_line_error(name):
    with pytest.raises(ConfigError, match="unknown nonideal.preset") as err:
        NonIdealConfig(preset=name)
    assert "\n" not in str(err.value) and "known: realistic_chip" in str(err.value)


def test_the_sweep_file_plans_with_the_preset():
    specs = plan(load_experiment(SWEEP))
    chip = [s for s in specs if s.config.nonideal.preset == "realistic_chip"]
    assert len(specs) == 21 and len(chip) == 15
    assert all(s.config.nonideal == NonIdealConfig(preset="realistic_chip") for s in chip)


def test_a_short_iris_run_with_the_preset_trains(tmp_path):
    cfg = apply_overrides(preset("iris"), {"epochs": 2, "device.model": "vteam", "device.energy": False,
                                           "nonideal.preset": "realistic_chip"})
    hist = Trainer(cfg, tmp_path / "run").run()
    assert len(hist) == 2 and all(math.isfinite(r["train_loss"]) and math.isfinite(r["test_loss"]) for r in hist)
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and 0 <= float(rows[-1]["test_acc"]) <= 1
    assert from_dict(load_toml(tmp_path / "run" / "config.toml")).nonideal.preset == "realistic_chip"
