"""ebana.deploy / ``ebana evaluate``: a checkpoint's conductances read out on a changed circuit."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.builder import build
from ebana.checkpoint import load_checkpoint_circuit
from ebana.circuit import Circuit
from ebana.cli import cli
from ebana.config import TrainConfig, apply_overrides
from ebana.deploy import evaluate_checkpoint
from ebana.errors import CheckpointError, ConfigError
from ebana.losses import accuracy
from ebana.training import Trainer

LINES = {"circuit.r_wordline": 5000.0, "circuit.r_bitline": 5000.0, "circuit.r_driver": 5000.0,
         "circuit.r_sense": 5000.0}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An IRIS run trained 3 epochs on ideal wires."""
    out = tmp_path_factory.mktemp("deploy") / "iris"
    tr = Trainer(TrainConfig(dataset="iris", epochs=3, seed=1), out)
    tr.run()
    return out, tr.history[-1]


def test_unchanged_circuit_reproduces_the_training_metrics(run):
    out, last = run
    m = evaluate_checkpoint(out, {}, ("train", "test"))
    for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert m[k] == pytest.approx(last[k], rel=1e-12, abs=1e-15), k


def test_line_resistance_changes_the_readout_as_a_direct_solve_does(run):
    out, last = run
    m = evaluate_checkpoint(out, LINES)
    assert abs(m["test_loss"] - last["test_loss"]) > 1e-4     # the change reached the circuit
    cfg, trained = load_checkpoint_circuit(out)
    parts = build(apply_overrides(cfg, LINES))
    circuit = Circuit(parts.circuit.topology, parts.circuit.params, trained.conductances)
    assert circuit.params.lines.on
    pred = circuit.prediction(create("numpy", circuit).solve(parts.x_test).output)
    assert m["test_loss"] == pytest.approx(float(parts.loss.value(pred, parts.data.y_test).mean()), rel=1e-9)
    assert m["test_acc"] == float(np.mean(accuracy(pred, parts.data.y_test)))


@pytest.mark.ngspice
@pytest.mark.parametrize("comp", ["none", "row_drive"])
def test_deployed_line_resistance_agrees_with_ngspice(run, comp):
    out, _ = run
    changes = {**LINES, "circuit.line_compensation": comp, "limit_test": 6}
    a = evaluate_checkpoint(out, changes)
    b = evaluate_checkpoint(out, {**changes, "backend": "ngspice"})
    assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-7)
    assert b["test_acc"] == a["test_acc"]


def test_row_drive_changes_the_deployed_readout(run):
    out, _ = run
    a = evaluate_checkpoint(out, {**LINES, "circuit.line_compensation": "none"})
    b = evaluate_checkpoint(out, {**LINES, "circuit.line_compensation": "row_drive"})
    assert abs(a["test_loss"] - b["test_loss"]) > 1e-6


def test_bad_changes_are_one_line_errors(run):
    out, _ = run
    with pytest.raises(ConfigError, match="circuit.r_wordlin"):
        evaluate_checkpoint(out, {"circuit.r_wordlin": 1.0})
    with pytest.raises(ConfigError, match="r_wordline"):
        evaluate_checkpoint(out, {"circuit.r_wordline": -1.0})
    with pytest.raises(CheckpointError, match="shapes"):
        evaluate_checkpoint(out, {"hidden": [4]})
    with pytest.raises(ConfigError, match="split"):
        evaluate_checkpoint(out, {}, ("validation",))


def test_cli_evaluate_prints_one_line(run):
    out, last = run
    res = CliRunner().invoke(cli, ["evaluate", str(out), "--split", "both"])
    assert res.exit_code == 0, res.output
    assert f"test accuracy {100 * last['test_acc']:.2f}%" in res.output
    assert "train accuracy" in res.output and "(the trained circuit)" in res.output
    res = CliRunner().invoke(cli, ["evaluate", str(out), "--set", "circuit.r_sense=-5"])
    assert res.exit_code != 0 and "r_sense" in res.output and len(res.output.strip().splitlines()) == 1
