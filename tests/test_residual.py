"""Deep residual crossbar networks (issue 14 item 2): ``--hidden 256x6 --residual``.

Sizes and skips, the reciprocal-amplifier rule, the energy weights (no per-layer gradient
factor), numpy vs ngspice and the EqProp gradient vs finite differences on small residual nets,
and the `ebana netlist --residual` netlist in stock ngspice.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.cli import cli
from ebana.config import apply_overrides, from_dict, parse_hidden, preset, to_dict
from ebana.errors import ConfigError, TopologyError
from ebana.topology import residual_skips
from tests.conftest import make_circuit
from tests.test_netlist import needs_ngspice_binary, run_ngspice_batch


@pytest.mark.parametrize("text, sizes", [
    ("10", (10,)), ("100,50", (100, 50)), ("256x6", (256,) * 6), ("256X2, 128", (256, 256, 128)),
    ("6*4", (6,) * 4), ("none", ()), ("", ()),
])
def test_parse_hidden(text, sizes):
    assert parse_hidden(text) == sizes


@pytest.mark.parametrize("text, needle", [
    ("256x0", "layer count 0"), ("0x3", "layer size 0"), ("256x", "'256x'"), ("x6", "'x6'"),
    ("256x6x2", "'256x6x2'"), ("256x100000", "layer count 100000"), ("1.5", "'1.5'"),
])
def test_parse_hidden_refuses(text, needle):
    with pytest.raises(ConfigError, match="hidden") as err:
        parse_hidden(text)
    assert needle in str(err.value) and repr(text) in str(err.value)


@pytest.mark.parametrize("n, skips", [(3, ((1, 3),)), (4, ((2, 4),)), (5, ((1, 3), (3, 5))),
                                      (6, ((2, 4), (4, 6))), (7, ((1, 3), (3, 5), (5, 7)))])
def test_residual_skips_are_resnet_blocks_ending_at_the_last_hidden_layer(n, skips):
    assert residual_skips(n) == skips
    assert all(q <= n for _, q in skips)          # never into the output layer n + 1
    assert all(p >= 1 for p, _ in skips)          # never from the inputs


def test_residual_skips_need_three_hidden_layers():
    with pytest.raises(TopologyError, match="at least 3 hidden layers"):
        residual_skips(2)


def test_config_residual_resolves_skips_and_reciprocal_amplifiers():
    cfg = apply_overrides(preset("mnist"), {"hidden": "256x6", "residual": True})
    assert cfg.hidden == (256,) * 6
    assert cfg.all_skips == ((2, 4), (4, 6))
    assert cfg.circuit.cccs_gain is None                      # the stored config is the user's ...
    assert cfg.circuit_params.cccs_gain == cfg.circuit.gain   # ... the built circuit is reciprocal
    again = from_dict(to_dict(cfg))                           # round trip through TOML data
    assert again == cfg and again.all_skips == cfg.all_skips
    # gain changed later: cccs_gain follows (nothing stale was stored)
    assert apply_overrides(cfg, {"circuit.gain": 3.0}).circuit_params.cccs_gain == 3.0
    plain = apply_overrides(cfg, {"residual": False})
    assert plain.all_skips == () and plain.circuit_params == plain.circuit
    both = apply_overrides(cfg, {"skips": [[0, 2]]})
    assert both.all_skips == ((0, 2), (2, 4), (4, 6))


@pytest.mark.parametrize("over, needle", [
    ({"hidden": [256, 256], "residual": True}, "residual = true needs at least 3 hidden layers"),
    ({"hidden": [], "residual": True}, "hidden = []"),
    ({"hidden": "6x4", "residual": True, "circuit.cccs_gain": 0.25}, "circuit.cccs_gain = 0.25 with circuit.gain"),
    ({"hidden": "6x4", "residual": True, "skips": [[2, 4]]}, "skips lists 2->4, which residual = true already adds"),
    ({"hidden": "256x0"}, "hidden '256x0'"),
])
def test_config_residual_refuses(over, needle):
    with pytest.raises(ConfigError) as err:
        apply_overrides(preset("iris"), over)
    assert needle in str(err.value)


@pytest.mark.parametrize("args, needle", [
    (["--hidden", "256x0"], "hidden '256x0': layer count 0"),
    (["--hidden", "0x3"], "hidden '0x3': layer size 0"),
    (["--hidden", "256x"], "hidden '256x'"),
    (["--hidden", "8,8", "--residual"], "residual = true needs at least 3 hidden layers"),
    (["--hidden", "4x3", "--residual", "--set", "circuit.cccs_gain=0.25"], "circuit.cccs_gain = 0.25"),
])
def test_cli_one_line_errors(tmp_path, args, needle):
    res = CliRunner().invoke(cli, ["train", "iris", "--epochs", "1", "--quiet", *args, "--out", str(tmp_path / "r")])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output
    assert not (tmp_path / "r").exists()


def test_cli_trains_a_residual_net(tmp_path):
    res = CliRunner().invoke(cli, ["train", "iris", "--epochs", "2", "--quiet", "--hidden", "6x4", "--residual",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r" / "config.toml").read_text()
    assert "residual = true" in text and "hidden = [6, 6, 6, 6]" in text


def _residual_circuit(rng, hidden=(6, 6, 6, 6), gain=4.0, **kw):
    return make_circuit(rng, n_in=4, hidden=hidden, n_cls=3, skips=residual_skips(len(hidden)),
                        gain=gain, cccs_gain=gain, **kw)


def test_reciprocal_amplifiers_give_every_layer_energy_weight_one(rng):
    """With cccs_gain = gain no per-layer factor enters the gradient (w_q / w_L = 1): the raw
    estimate [dV^2(+b) - dV^2(-b)] / (4b) is exact for every crossbar, skips included."""
    c = _residual_circuit(rng, hidden=(5, 4, 6, 3, 5))
    assert np.all(c.layer_weights == 1.0)
    # the non-reciprocal EBANA amplifier (cccs_gain = 1/gain) cannot have hidden skips
    with pytest.raises(TopologyError, match="non-reciprocal"):
        make_circuit(rng, n_in=4, hidden=(5, 4, 6), n_cls=3, skips=residual_skips(3), gain=4.0)


@pytest.mark.ngspice
@pytest.mark.parametrize("hidden, gain", [((6, 6, 6, 6), 4.0), ((6, 5, 4, 6, 5), 10.0)], ids=["6x4-g4", "unequal-g10"])
def test_residual_numpy_matches_ngspice(rng, hidden, gain):
    c = _residual_circuit(rng, hidden=hidden, gain=gain, bias_hidden=(0.3, 0.9))
    x = rng.uniform(-8, 8, (5, 4))
    i_nudge = rng.normal(0, 3e-7, (5, 6))
    nb, ng = create("numpy", c), create("ngspice", c.copy())
    for inj in (None, i_nudge):
        a, b = nb.solve(x, inj), ng.solve(x, inj)
        for q in range(1, c.topology.n_layers):
            assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9, (q, inj is None)


@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_residual_eqprop_matches_finite_differences(rng, loss_name):
    from tests.test_gradients import _rel_err, _setup
    from ebana.phases import PhaseController
    case = dict(n_in=3, hidden=(4, 3, 4, 3), n_cls=3, skips=residual_skips(4), gain=3.0, cccs_gain=3.0)
    c, backend, loss, x, y, entries, fd = _setup(rng, loss_name, **case)
    assert any(c.topology.crossbars[k].src > 0 and c.topology.crossbars[k].dst - c.topology.crossbars[k].src == 2
               for k, _, _ in entries)                     # a skip crossbar is among the checked entries
    one = _rel_err(PhaseController(backend, loss, 1e-10), x, y, entries, fd)
    cen = _rel_err(PhaseController(backend, loss, 1e-10, centered=True), x, y, entries, fd)
    assert one[0] < 0.05
    assert cen[1] < 1e-3
    assert cen[0] < one[0]


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("phase", ["free", "nudged"])
def test_cli_residual_netlist_in_stock_ngspice(tmp_path, phase):
    """`ebana netlist --hidden 6x4 --residual --set circuit.gain=3` runs in ngspice -b and matches
    the numpy solve of the same network to 1e-9 V (free and nudged)."""
    from ebana.builder import build
    from ebana.cli import _resolve_config
    from ebana.netlist import node_names
    out = tmp_path / "res.cir"
    args = ["netlist", "--dataset", "iris", "--hidden", "6x4", "--residual", "--set", "circuit.gain=3.0",
            "--sample", "2", "--phase", phase, "--beta", "1e-7", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "skips 2->4" in res.output
    spice = run_ngspice_batch(out, tmp_path)
    cfg = _resolve_config("iris", None, dict(hidden=(6,) * 4, residual=True, seed=0), ["circuit.gain=3.0"])
    parts = build(cfg)
    c = parts.circuit
    assert c.params.cccs_gain == 3.0 and (2, 4) in c.topology.skips
    backend = create("numpy", c)
    x = parts.x_test[2:3]
    sol = backend.solve(x)
    if phase == "nudged":
        inj = c.nudge_currents(parts.loss.grad(c.prediction(sol.output), parts.data.y_test[2:3]), 1e-7)
        sol = backend.solve(x, inj)
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9, q


def test_ablation_grid_plans_and_uses_the_recipe_circuit():
    """experiments/deep_residual/mnist.toml: 4 variants x 3 seeds on recipe.toml's circuit (the
    EBANA-amplifier plain net differs only in cccs_gain)."""
    from dataclasses import replace
    from pathlib import Path
    from ebana.config import load_toml
    from ebana.experiments import load_experiment, plan
    here = Path(__file__).resolve().parents[1] / "experiments" / "deep_residual"
    specs = plan(load_experiment(here / "mnist.toml"))
    assert len(specs) == 12
    recipe = from_dict(load_toml(here / "recipe.toml"))
    assert recipe.hidden == (256,) * 6 and recipe.centered
    for s in specs:
        want = recipe.circuit
        if "circuit.cccs_gain" in s.overrides:
            want = replace(want, cccs_gain=1.0 / want.gain)
        assert s.config.circuit == want and s.config.centered and s.config.batch_size == recipe.batch_size
        assert s.config.limit_train is None and s.config.limit_test is None      # full MNIST
    tops = {(s.config.hidden, s.config.all_skips, s.config.circuit_params.alpha) for s in specs}
    assert tops == {((256,), (), 10.0), ((256,) * 6, (), 10.0), ((256,) * 6, (), 0.1),
                    ((256,) * 6, ((2, 4), (4, 6)), 10.0)}
