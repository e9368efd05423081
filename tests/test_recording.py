"""--record: every phase of chosen training samples in record.npz, equal to a fresh solve."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import TrainConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.training import Trainer
from tests.conftest import interrupted_and_resumed

OVER = {"epochs": 2, "batch_size": 8, "limit_train": 40, "limit_test": 10, "record": "3,17,39"}


def load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("centered", [True, False])
def test_recorded_phases_equal_a_fresh_solve(tmp_path, centered):
    cfg = apply_overrides(preset("iris"), {**OVER, "centered": centered})
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    rec = load(tmp_path / "run" / "record.npz")
    assert sorted(rec["sample_id"].tolist()) == [3, 3, 17, 17, 39, 39]
    assert not [k for k in rec if re.fullmatch(r"(free|a|b)_i\d+", k)]   # no device currents unless asked
    assert rec["epoch"].tolist() == sorted(rec["epoch"].tolist()) and set(rec["epoch"]) == {0, 1}
    assert rec["beta_a"] == cfg.beta and rec["beta_b"] == (-cfg.beta if centered else 0.0)
    # a fresh trainer holds the initial conductances: re-solve the epoch-0 rows of batch 0 .. k
    # with the conductances they were trained with by replaying the batches up to theirs
    fresh = Trainer(cfg, tmp_path / "fresh")
    fresh.perm = fresh.rng.permutation(len(fresh.x_train))
    first = rec["epoch"] == 0
    last, checked = int(rec["batch"][first].max()), 0
    for b in range(last + 1):
        idx = fresh.perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        rows = np.flatnonzero(first & (rec["batch"] == b))
        if len(rows):
            x = fresh.x_train[rec["sample_id"][rows]]
            res = fresh.phases.run(x, fresh.data.y_train[rec["sample_id"][rows]])
            np.testing.assert_allclose(rec["wordlines"][rows], fresh.circuit.input_voltages(x), rtol=0, atol=0)
            for q in range(1, fresh.circuit.topology.n_layers):
                np.testing.assert_allclose(rec[f"free_l{q}"][rows], res.free.layers[q], rtol=0, atol=1e-9)
                np.testing.assert_allclose(rec[f"a_l{q}"][rows], res.a.layers[q], rtol=0, atol=1e-9)
                np.testing.assert_allclose(rec[f"b_l{q}"][rows], res.b.layers[q], rtol=0, atol=1e-9)
            assert np.all(np.isin(rec["sample_id"][rows], idx))
            checked += len(rows)
        fresh._train_batch(idx)
    assert checked == 3 and last > 0   # every epoch-0 row, some after an update


def test_record_survives_resume(tmp_path):
    cfg = apply_overrides(preset("iris"), OVER)
    interrupted_and_resumed(cfg, tmp_path, (1, 2))
    a, b = load(tmp_path / "ref" / "record.npz"), load(tmp_path / "run" / "record.npz")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_cli_record_and_errors(tmp_path):
    r = CliRunner().invoke(cli, ["train", "iris", "--epochs", "1", "--record", "0,1", "--set", "limit_train=20",
                                 "--set", "limit_test=10", "--out", str(tmp_path / "r"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert sorted(load(tmp_path / "r" / "record.npz")["sample_id"].tolist()) == [0, 1]
    with pytest.raises(ConfigError, match="expected training sample ids"):
        TrainConfig(record="a,b")
    with pytest.raises(ConfigError, match=r"sample id 20 is not in \[0, 20\)"):
        Trainer(apply_overrides(preset("iris"), {"limit_train": 20, "record": "20"}), tmp_path / "bad")


def test_recorded_device_currents(tmp_path):
    """record_currents: G (row - column) per device with the conductances of the row's batch
    (replayed from the initial ones), for every phase and crossbar; absent unless asked for."""
    cfg = apply_overrides(preset("iris"), {**OVER, "epochs": 1, "record_currents": True})
    Trainer(cfg, tmp_path / "run").run()
    rec = load(tmp_path / "run" / "record.npz")
    fresh = Trainer(cfg, tmp_path / "fresh")
    fresh.perm = fresh.rng.permutation(len(fresh.x_train))
    for b in range(int(rec["batch"].max()) + 1):
        model = fresh.backend.model   # the conductances batch b was solved with
        for r in np.flatnonzero(rec["batch"] == b):
            for name in ("free", "a", "b"):
                layers = [None] + [rec[f"{name}_l{q}"][r:r + 1] for q in range(1, fresh.circuit.topology.n_layers)]
                for spec in fresh.circuit.topology.crossbars:
                    rv = fresh.circuit.row_voltages(spec, rec["wordlines"][r:r + 1], layers)
                    want = model.conductances[spec.index] * (rv[0][:, None] - layers[spec.dst][0][None, :])
                    got = rec[f"{name}_i{spec.index}"][r]
                    assert got.shape == spec.shape
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-18)
        fresh._train_batch(fresh.perm[b * cfg.batch_size:(b + 1) * cfg.batch_size])
