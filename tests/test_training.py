"""Training loop: learning on IRIS, checkpoints, interrupt + resume reproduces the uninterrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ebana.config import apply_overrides, preset
from ebana.training import Trainer


def _cfg(**over):
    return apply_overrides(preset("iris"), {"epochs": 4, **over})


def test_iris_learns_and_writes_outputs(tmp_path):
    tr = Trainer(_cfg(epochs=10), tmp_path)
    hist = tr.run()
    assert hist[-1]["test_acc"] >= 0.85 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    for name in ("config.toml", "run.json", "metrics.csv", "checkpoint.npz", "conductances.npz", "curves.png"):
        assert (tmp_path / name).exists(), name
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "done" and info["seed"] == 0 and "numpy" in info["versions"]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 11
    g = [np.asarray(v) for v in tr.circuit.conductances]
    assert all(((x >= 1e-7 - 1e-20) & (x <= 1e-5 + 1e-20)).all() for x in g)


@pytest.mark.parametrize("stop_at", [(0, 3), (2, 11)])
def test_interrupt_and_resume_equals_uninterrupted(tmp_path, stop_at):
    ref = Trainer(_cfg(), tmp_path / "ref")
    ref.run()

    run = Trainer(_cfg(), tmp_path / "run")

    def interrupt(p):
        if p.metrics is None and (p.epoch, p.batch) == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run(progress=interrupt)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"
    resumed = Trainer(None, tmp_path / "run", resume=True)
    assert (resumed.epoch, resumed.batch) == stop_at
    resumed.run()
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):   # the trained ones
        assert np.array_equal(a, b)
    for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
        assert np.array_equal(a, b)
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]


def test_resume_without_checkpoint_is_an_error(tmp_path):
    from ebana.errors import CheckpointError
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer(None, tmp_path / "nothing", resume=True)


@pytest.mark.ngspice
def test_ngspice_and_numpy_training_agree(tmp_path):
    """Two epochs through ngspice and through numpy end at the same conductances (to solver rounding)."""
    a = Trainer(_cfg(epochs=2, backend="ngspice"), tmp_path / "ng")
    a.run()
    b = Trainer(_cfg(epochs=2, backend="numpy"), tmp_path / "np")
    b.run()
    for ga, gb in zip(a.circuit.conductances, b.circuit.conductances):
        assert np.max(np.abs(ga - gb)) < 1e-6 * 1e-5


@pytest.mark.ngspice
def test_verify_every_logs_and_stops_beyond_tolerance(tmp_path):
    tr = Trainer(_cfg(epochs=1, verify_every=4), tmp_path / "ok")
    tr.run()
    rows = (tmp_path / "ok" / "verify.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 and all(float(r.split(",")[3]) < 1e-9 for r in rows[1:])
    assert tr.history[-1]["verify_max_dv"] < 1e-9
    from ebana.errors import SimulationError
    with pytest.raises(SimulationError, match="numpy and ngspice differ"):
        Trainer(_cfg(epochs=1, verify_every=4, verify_tol=1e-30), tmp_path / "bad").run()


def test_a_config_that_toml_cannot_hold_is_refused(tmp_path):
    """None where the dataset preset has a value would read back as the preset's value on resume
    (the digits preset's v_cm = 0.0 for an iris circuit's None): refused before anything is written."""
    from ebana.config import TrainConfig
    from ebana.errors import ConfigError
    from ebana.training import Trainer
    with pytest.raises(ConfigError, match=r"circuit.v_cm = None cannot be stored .* read back as 0.0"):
        Trainer(TrainConfig(dataset="digits", hidden=(8,), limit_train=32), tmp_path / "run")
    assert not (tmp_path / "run" / "config.toml").exists()
