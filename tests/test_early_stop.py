"""Early stopping (early_stop_patience, early_stop_metric): the rule, run.json, resume bit-exact, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ebana.config import TrainConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.training import Trainer, early_stop
from tests.conftest import interrupted_and_resumed


def rows(metric, vals):
    return [{metric: v} for v in vals]


def test_rule():
    h = rows("test_loss", [1.0, 0.9, 0.95, 0.9, 0.91])
    assert early_stop(h[:3], "test_loss", 2) is None
    assert early_stop(h[:4], "test_loss", 2) == early_stop(h[:4], "test_loss", 2)   # 0.9 again: no strict gain
    s = early_stop(h[:4], "test_loss", 2)
    assert s["epoch"] == 4 and s["best_epoch"] == 2 and s["best"] == 0.9
    assert early_stop(h, "test_loss", 0) is None
    acc = rows("test_acc", [0.5, 0.7, 0.6, 0.65])
    assert early_stop(acc, "test_acc", 2)["best_epoch"] == 2   # higher is better
    assert early_stop(acc, "test_acc", 3) is None
    assert early_stop(rows("test_acc", [0.5, 0.4, 0.3]), "test_acc", 2)["best_epoch"] == 1


SMALL = {"epochs": 6, "batch_size": 8, "limit_train": 40, "limit_test": 20}


def test_stops_and_records(tmp_path):
    """lr so small that no conductance moves: test_loss is flat, so patience 2 stops after epoch 3."""
    cfg = apply_overrides(preset("iris"), {**SMALL, "lr": 1e-30, "early_stop_patience": 2})
    tr = Trainer(cfg, tmp_path / "run")
    hist = tr.run()
    assert len(hist) == 3 and tr.epoch == 3
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "done" and info["epochs_done"] == 3
    assert info["early_stop"]["epoch"] == 3 and info["early_stop"]["best_epoch"] == 1
    assert "test_loss has not improved for 2 epochs" in info["early_stop"]["reason"]
    assert (tmp_path / "run" / "conductances.npz").exists()
    off = Trainer(apply_overrides(cfg, {"early_stop_patience": 0, "epochs": 4}), tmp_path / "off")
    assert len(off.run()) == 4 and "early_stop" not in json.loads((tmp_path / "off" / "run.json").read_text())


@pytest.mark.parametrize("over", [{"lr": 1e-30, "early_stop_patience": 2},
                                  {"early_stop_patience": 1, "early_stop_metric": "train_acc"}])
def test_resume_bit_exact(tmp_path, over):
    cfg = apply_overrides(preset("iris"), {**SMALL, **over})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 2))
    def timeless(h):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    assert timeless(ref.history) == timeless(resumed.history)
    for a, b in zip(ref.backend.model.conductances, resumed.backend.model.conductances):
        assert np.array_equal(a, b)
    assert ref.stopped == resumed.stopped
    if over.get("lr") == 1e-30:
        assert ref.stopped is not None and ref.stopped["epoch"] == 3


@pytest.mark.parametrize("kw,pattern", [({"early_stop_patience": -1}, "early_stop_patience must be an integer in"),
                                        ({"early_stop_patience": 1.5}, "early_stop_patience"),
                                        ({"early_stop_metric": "test_los"}, "unknown early_stop_metric 'test_los'")])
def test_bad_values(kw, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        TrainConfig(**kw)
    assert "\n" not in str(e.value)
