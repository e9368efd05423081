"""One-output graph heads (``graph.heads.*.outputs = 1``, ebana.losses.SingleOutput): the loss and
its gradient, config checks, layout, the EqProp gradient against finite differences, stock-ngspice
parity of the netlist and the OR/AND/XOR truth table learnt to 100 %."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.circuit import Circuit
from ebana.cli import cli
from ebana.config import DeviceConfig, TrainConfig, dump_toml, from_dict, load_toml, to_dict
from ebana.errors import ConfigError
from ebana.graphnet import GraphConfig
from ebana.losses import MultiHead, SingleOutput, create_loss
from ebana.netlist import node_names
from tests.test_graphnet import RICH, eqprop_vs_fd, rich_circuit
from tests.test_netlist import assert_ngspice_matches, needs_ngspice_binary, run_ngspice_batch

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "experiments" / "logic_gates" / "gates_single.toml"

# RICH with a one-output BCE head p (2 classes) and a 3-class MSE head q: scores 1 + 3
ONE = dict(RICH, heads={"p": {"column": "p", "loss": "bce", "outputs": 1}, "q": {"column": "q", "loss": "mse"}})


def one_circuit(rng, diode: str = "ideal") -> tuple[Circuit, object]:
    return rich_circuit(rng, diode, ONE)


def one_loss() -> MultiHead:
    return MultiHead([("p", 2, SingleOutput(create_loss("bce", tau=0.02))), ("q", 3, create_loss("mse"))])


# ----------------------------------------------------------------------------- the loss
@pytest.mark.parametrize("name", ["bce", "mse"])
def test_single_output_loss_closed_form_gradient_and_decision(rng, name):
    base = create_loss(name, tau=0.03, target_scale=0.2)
    loss = SingleOutput(base)
    s = rng.normal(0, 0.1, (9, 1))
    y = rng.integers(0, 2, 9)
    if name == "bce":
        p = 1 / (1 + np.exp(-s[:, 0] / 0.03))
        want = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        decision = p > 0.5
    else:
        want = 0.5 * (s[:, 0] - 0.2 * y) ** 2
        decision = s[:, 0] / 0.2 > 0.5
    assert np.allclose(loss.value(s, y), want, rtol=1e-9, atol=0)   # the naive log form loses digits
    h = 1e-7
    fd = (loss.value(s + h, y) - loss.value(s - h, y)) / (2 * h)
    assert np.allclose(loss.grad(s, y)[:, 0], fd, rtol=1e-6, atol=1e-9)
    assert np.array_equal(loss.correct(s, y), decision == (y == 1))
    assert loss.outputs(2) == 1 and base.outputs(2) == 2 and loss.grad_scale == base.grad_scale
    # the decision boundary: just above / below v_decision
    edge = np.array([[loss.v_decision + 1e-12], [loss.v_decision - 1e-12]])
    assert loss.correct(edge, np.array([1, 0])).all()


@pytest.mark.parametrize("name", ["ce", "sparsemax"])
def test_single_output_refuses_softmax_losses(name):
    with pytest.raises(ConfigError, match=rf"graph.heads.x.loss = '{name}'.*'bce' or 'mse'"):
        SingleOutput(create_loss(name), "graph.heads.x.loss")


def test_multihead_with_a_one_output_head_slices_and_splits(rng):
    mh = one_loss()
    per = [rng.integers(0, 2, 8), rng.integers(0, 3, 8)]
    y = mh.join(per)
    assert mh.n_joint == 6 and list(mh.offsets) == [0, 1, 4]
    pred = rng.normal(0, 0.1, (8, 4))
    want = mh.heads[0][2].value(pred[:, :1], per[0]) + mh.heads[1][2].value(pred[:, 1:], per[1])
    assert np.allclose(mh.value(pred, y), want, rtol=1e-14)
    ok = ((pred[:, 0] > 0) == (per[0] == 1)) & (pred[:, 1:].argmax(1) == per[1])
    assert np.array_equal(mh.correct(pred, y), ok)
    with pytest.raises(ConfigError, match="5 scores, the heads have 4 outputs"):
        mh.value(rng.normal(0, 0.1, (8, 5)), y)


# ----------------------------------------------------------------------------- config and layout
BAD = [
    ({"column": "p", "outputs": 2}, ["graph.heads.p.outputs = 2", "expected 1"]),
    ({"column": "p", "outputs": True}, ["graph.heads.p.outputs = True"]),
    ({"column": "p", "outputs": 1, "classes": ["a", "b", "c"]}, ["graph.heads.p.outputs = 1", "binary", "has 3"]),
]


@pytest.mark.parametrize("head, words", BAD)
def test_bad_outputs_names_key_and_value(head, words):
    with pytest.raises(ConfigError) as err:
        GraphConfig(**dict(RICH, heads={**RICH["heads"], "p": head}))
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_one_output_head_needs_bce_or_mse_and_two_classes():
    g = GraphConfig(**dict(RICH, heads={**RICH["heads"], "p": {"column": "p", "outputs": 1}}))
    with pytest.raises(ConfigError, match=r"graph.heads.p.outputs = 1 needs loss 'bce' or 'mse'.*got loss = 'ce'"):
        TrainConfig(dataset="x.csv", graph=g)                        # the run's default loss, ce
    g2 = GraphConfig(**dict(RICH, heads={**RICH["heads"], "p": {"column": "p", "outputs": 1, "loss": "sparsemax"}}))
    with pytest.raises(ConfigError, match=r"got graph.heads.p.loss = 'sparsemax'"):
        TrainConfig(dataset="x.csv", graph=g2)
    assert TrainConfig(dataset="x.csv", graph=g, loss="bce").graph.head_list[0].outputs == 1
    with pytest.raises(ConfigError, match=r"graph.heads.p.outputs = 1 needs a binary head; its column 'p' has 3"):
        g.layout({"p": 3, "q": 3}, 2, 1)


def test_layout_gives_a_one_output_head_one_pair():
    lay = GraphConfig(**ONE).layout({"p": 2, "q": 3}, 2, 1)
    assert lay.head_slices == (("p", 0, 1), ("q", 1, 3))
    assert lay.topology.n_classes == 4 and lay.slices["p"][1:] == (0, 2) and lay.slices["q"][1:] == (2, 6)
    dense = GraphConfig(**RICH).layout({"p": 2, "q": 3}, 2, 1)
    assert dense.topology.n_classes == 5


def test_config_with_outputs_round_trips(tmp_path):
    cfg = from_dict(load_toml(SINGLE))
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(to_dict(cfg)))
    assert from_dict(load_toml(path)) == cfg
    assert load_toml(path)["graph"]["heads"]["xor"] == {"column": "xor", "loss": "mse", "outputs": 1}


# ----------------------------------------------------------------------------- gradient vs FD
def test_eqprop_gradient_with_a_one_output_head_matches_finite_differences(rng):
    c, _ = one_circuit(rng)
    x = rng.uniform(-1, 1, (6, 3))
    loss = one_loss()
    y = loss.join([rng.integers(0, 2, 6), rng.integers(0, 3, 6)])
    # 3 devices per crossbar; into the output layer, the p head's columns (its V+ and V- node)
    eqprop_vs_fd(c, loss, x, y, rng, per_crossbar=3, out_columns=2)


# ----------------------------------------------------------------------------- ngspice parity
@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_one_output_netlist_matches_numpy_free_and_nudged(tmp_path, rng, diode):
    c, _ = one_circuit(rng, diode)
    t = c.topology
    assert len(node_names(c, t.n_layers - 1)) == 8          # (1 + 3) pairs V+, V-
    backend = create("numpy", c)
    loss = one_loss()
    y = loss.join([np.array([1]), np.array([2])])
    x = rng.uniform(-2, 2, 3)
    free = backend.solve(x[None])
    i_nudge = c.nudge_currents(loss.grad(c.prediction(free.output), y), 2e-7)[0]   # the nudged phase's currents
    assert i_nudge.shape == (8,) and np.all(i_nudge[:2] != 0)
    for phase, inj in (("free", None), ("nudged", i_nudge)):
        assert_ngspice_matches(c, x, inj, backend, tmp_path, phase)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_output_logic_gates_reach_100_percent(tmp_path, monkeypatch, seed):
    """OR, AND (BCE) and XOR (MSE) heads of one V+ - V- pair each, fast path, 40 epochs at most."""
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = replace(from_dict(load_toml(SINGLE)), seed=seed)
    tr = Trainer(cfg, tmp_path / "run")
    hist = tr.run()
    assert len(hist) <= cfg.epochs == 40
    assert tr.circuit.topology.n_classes == 3
    last = hist[-1]
    for h in ("or", "and", "xor"):
        assert last[f"{h}_train_acc"] == 1.0 and last[f"{h}_test_acc"] == 1.0, (h, last)
    truth = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    s = tr.circuit.prediction(tr.phases.free(tr.encoder(truth.astype(float))).output)    # (4, 3) scores
    a, b = truth[:, 0], truth[:, 1]
    assert np.array_equal(s[:, 0] > 0, (a | b) == 1) and np.array_equal(s[:, 1] > 0, (a & b) == 1)
    assert np.array_equal(s[:, 2] > 0.5 * cfg.target_scale, (a ^ b) == 1)


@pytest.mark.ngspice
@needs_ngspice_binary
def test_cli_netlist_of_a_one_output_run_matches_ngspice(tmp_path, monkeypatch):
    """``ebana netlist --checkpoint`` of a trained one-output run, free and nudged, in stock ngspice."""
    from ebana.builder import build
    from ebana.checkpoint import load_checkpoint_circuit
    monkeypatch.chdir(ROOT)
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "--config", str(SINGLE), "--epochs", "3", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    cfg, c = load_checkpoint_circuit(run)
    x = build(cfg).x_test[1:2]
    sol = create("numpy", c).solve(x)
    out = tmp_path / "g.cir"
    res = CliRunner().invoke(cli, ["netlist", "--checkpoint", str(run), "--sample", "1", "--phase", "free",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    spice = run_ngspice_batch(out, tmp_path)
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9
    res = CliRunner().invoke(cli, ["netlist", "--checkpoint", str(run), "--sample", "1", "--phase", "nudged",
                                   "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output
    run_ngspice_batch(out, tmp_path)


def test_one_output_heads_train_through_vteam_devices(tmp_path, monkeypatch):
    """The one-output gates programmed through VTEAM devices (PWM): every head at 100 %."""
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = replace(from_dict(load_toml(SINGLE)), device=DeviceConfig(model="vteam"))
    hist = Trainer(cfg, tmp_path / "run").run()
    last = hist[-1]
    assert last["e_write"] > 0 and all(last[f"{h}_test_acc"] == 1.0 for h in ("or", "and", "xor")), last
