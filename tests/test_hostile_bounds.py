"""Absurd magnitudes are refused at config time (hostile-input audit).

Every refusal is one line naming the key and the value, exit code 1, no traceback and no
RuntimeWarning; valid values at the edges of each range still load, and so does every
committed experiment TOML. A netlist never receives a NaN or inf.
"""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import builder
from ebana.circuit import CircuitParams
from ebana.cli import cli
from ebana.config import TrainConfig, apply_overrides, from_dict, load_toml, preset
from ebana.errors import ConfigError, NetlistError
from ebana.measurement import layer_spans
from ebana.netlist import render
from ebana.topology import Topology
from tests.conftest import make_circuit

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["train", "iris", "--epochs", "1", "--set", "limit_train=4", "--set", "limit_test=4"]


def _invoke(args: list[str]):
    """Run the CLI in-process; (result, RuntimeWarnings raised meanwhile)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, args)
    return res, [w for w in caught if issubclass(w.category, RuntimeWarning)]


def _one_line_error(res, runtime_warnings, *needles: str) -> str:
    """The single ``Error: ...`` line of a refused run; it contains every needle."""
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    assert not runtime_warnings, [str(w.message) for w in runtime_warnings]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


CASES = [
    # 1. amplifier gains
    ("gain-huge", ["--set", "circuit.gain=1e300"], ["circuit.gain", "1e+300"]),
    ("gain-tiny", ["--set", "circuit.gain=1e-300"], ["circuit.gain", "1e-300"]),
    ("cccs-huge", ["--set", "circuit.cccs_gain=1e300"], ["circuit.cccs_gain", "1e+300"]),
    ("cccs-tiny", ["--set", "circuit.cccs_gain=1e-300"], ["circuit.cccs_gain", "1e-300"]),
    # 2. initial conductance range
    ("init-low-above-gmax", ["--set", "init_low=1e-3"], ["init_low", "0.001"]),
    ("init-high-below-gmin", ["--set", "init_high=1e-8"], ["init_high", "1e-08"]),
    ("init-inverted", ["--set", "init_low=5e-6", "--set", "init_high=2e-6"], ["init_low", "5e-06", "init_high", "2e-06"]),
    ("init-low-tiny", ["--set", "init_low=1e-300", "--set", "init_high=1e-9"], ["init_low", "1e-300"]),
    ("init-log-uniform-tiny", ["--set", "init=log_uniform", "--set", "init_low=1e-300"], ["init_low", "1e-300"]),
    ("init-high-1S", ["--set", "init_high=1"], ["init_high", "= 1 S"]),
    # 3. loss voltages, conductance range, line resistance, non-idealities
    ("tau-tiny", ["--set", "tau=1e-300"], ["tau", "1e-300"]),
    ("target-scale-huge", ["--loss", "mse", "--set", "target_scale=1e300"], ["target_scale", "1e+300"]),
    ("g-max-huge", ["--set", "circuit.g_max=1e300"], ["circuit.g_max", "1e+300"]),
    ("g-min-tiny", ["--set", "circuit.g_min=1e-300"], ["circuit.g_min", "1e-300"]),
    ("r-wordline-huge", ["--set", "circuit.r_wordline=1e300"], ["circuit.r_wordline", "1e+300"]),
    ("r-sense-huge", ["--set", "circuit.r_sense=1e300"], ["circuit.r_sense", "1e+300"]),
    ("read-noise-huge", ["--set", "nonideal.read_noise=1e300"], ["nonideal.read_noise", "1e+300"]),
    ("drift-nu-huge", ["--set", "nonideal.drift_nu=1e300"], ["nonideal.drift_nu", "1e+300"]),
    ("adc-v-min-huge", ["--set", "nonideal.adc_v_min=-1e300"], ["nonideal.adc_v_min", "-1e+300"]),
    ("device-d2d-huge", ["--device", "vteam", "--set", "device.d2d=1e300"], ["device.d2d", "1e+300"]),
    # 4. inputs without signal
    ("v-scale-zero", ["--set", "circuit.v_scale=0"], ["circuit.v_scale", "= 0 V", "no signal"]),
    ("v-scale-tiny", ["--set", "circuit.v_scale=1e-300"], ["circuit.v_scale", "1e-300", "no signal"]),
]


@pytest.mark.parametrize("extra, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_absurd_value_is_one_line_config_error(tmp_path, extra, needles):
    _one_line_error(*_invoke([*SMALL, *extra, "--out", str(tmp_path / "r")]), *needles)
    assert not (tmp_path / "r" / "failures").exists()


@pytest.mark.ngspice
def test_huge_gain_refused_before_ngspice_writes_a_netlist(tmp_path):
    args = [*SMALL, "--backend", "ngspice", "--set", "circuit.gain=1e300", "--out", str(tmp_path / "r")]
    _one_line_error(*_invoke(args), "circuit.gain", "1e+300")
    assert not list(tmp_path.rglob("*.cir"))


def test_evaluate_refuses_huge_gain(tmp_path):
    run = tmp_path / "run"
    res, _ = _invoke([*SMALL, "--quiet", "--out", str(run)])
    assert res.exit_code == 0, res.output
    _one_line_error(*_invoke(["evaluate", str(run), "--set", "circuit.gain=1e300"]), "circuit.gain", "1e+300")


def test_adc_range_error_shows_plain_numbers(tmp_path):
    """5. the span of the unclamped output layer is numpy arithmetic; the message shows plain numbers."""
    args = [*SMALL, "--device", "vteam", "--set", "nonideal.adc_bits=8", "--set", "nonideal.adc_v_min=1",
            "--out", str(tmp_path / "r")]
    line = _one_line_error(*_invoke(args), "nonideal.adc_v_min", "[1, 0.75] V")
    assert "np." not in line and "float64" not in line


def test_layer_spans_are_python_floats(rng):
    spans = layer_spans(make_circuit(rng))
    assert spans and all(type(v) is float for span in spans for v in span)


def test_memory_refusal_abbreviates_long_hidden_lists(tmp_path, monkeypatch):
    """6. a 1000-layer network's refusal is a short line, not 15 KB."""
    monkeypatch.setattr(builder, "_available_memory", lambda: 2**30)
    res = _invoke(["train", "iris", "--epochs", "1", "--hidden", "100000x1000", "--out", str(tmp_path / "r")])
    line = _one_line_error(*res, "(1000 layers)", "(1000 hidden layers)", "GiB")
    assert len(line) < 400, len(line)


def test_short_hidden_lists_are_shown_whole():
    assert builder._short_list((10, 20, 30)) == "[10, 20, 30]"
    assert builder._short_list((7,) * 9) == "[7, 7, 7, 7, ...] (9 layers)"
    topo = Topology(4, (5, 6), 3)
    assert builder._short_network(topo) == topo.describe()


# ---------------------------------------------------------------------- netlists refuse NaN / inf


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_netlist_refuses_non_finite_gain(rng, bad):
    """A value that went non-finite past validation (here the amplifier gain) never reaches a netlist."""
    c = make_circuit(rng)
    object.__setattr__(c.params, "gain", bad)
    with pytest.raises(NetlistError, match="non-finite value") as err:
        render(c, np.zeros(c.topology.n_inputs))
    assert "\n" not in str(err.value)


def test_netlist_refuses_non_finite_input(rng):
    c = make_circuit(rng)
    x = np.zeros(c.topology.n_inputs)
    x[0] = np.nan
    with pytest.raises(NetlistError, match="non-finite value nan"):
        render(c, x)


# ---------------------------------------------------------------------- valid values still load


@pytest.mark.parametrize("key, value", [("gain", 1e-6), ("gain", 1e6), ("cccs_gain", 1e-6), ("cccs_gain", 1e6),
                                        ("g_max", 1.0), ("v_scale", -0.6), ("v_scale", 1e-6),
                                        ("r_wordline", 1e6), ("r_driver", 15000.0)])
def test_edges_of_circuit_ranges_are_valid(key, value):
    assert getattr(CircuitParams(**{key: value}), key) == value


@pytest.mark.parametrize("over", [{"init_low": 1e-7, "init_high": 1e-5}, {"init_low": 2e-6}, {"init_high": 5e-6},
                                  {"tau": 1e-6}, {"tau": 1e3}, {"target_scale": 1e-6}, {"target_scale": 1e3},
                                  {"nonideal.read_noise": 1.0}, {"nonideal.drift_nu": 1.0},
                                  {"nonideal.adc_v_min": -1e3}, {"device.r_ratio": 1e9}])
def test_edges_of_train_ranges_are_valid(over):
    cfg = apply_overrides(preset("iris"), over)
    assert isinstance(cfg, TrainConfig)


def test_init_range_follows_r_ratio():
    """init_low is checked against the g_min that device.r_ratio sets (g_max / ratio)."""
    with pytest.raises(ConfigError, match=r"init_low = 5e-07 S: must be in \[circuit.g_min, circuit.g_max\] = "
                                          r"\[1e-06, 1e-05\] S"):
        apply_overrides(preset("iris"), {"device.r_ratio": 10.0, "init_low": 5e-7})


def test_every_committed_experiment_toml_still_loads():
    """Experiment files through plan() (what ``ebana sweep --dry-run`` does), run configs through load_toml."""
    from ebana.experiments import load_experiment, plan
    paths = sorted((ROOT / "experiments").rglob("*.toml"))
    assert paths
    for p in paths:
        data = tomllib.loads(p.read_text())
        if any(k in data for k in ("cases", "grid", "seeds", "base")):
            assert plan(load_experiment(p)), p
        else:
            assert isinstance(from_dict(load_toml(p)), TrainConfig), p
